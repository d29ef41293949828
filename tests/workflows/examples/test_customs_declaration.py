"""The customs_declaration example: its tools on the shipped data, and its runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.model_client import ModelCall, ModelClient
from agents.runner import decide, execute_run, start_run
from agents.trace import load_trace
from forgeyard.models import RunStatus
from workflows.examples.customs_declaration import tools
from workflows.loader import load_spec
from workflows.tools import ToolContext, ToolError, registry

HERE = Path(__file__).resolve().parents[3] / "workflows" / "examples" / "customs_declaration"
SPEC = HERE / "workflow.yaml"


def _input(name: str) -> dict:
    return json.loads((HERE / "inputs" / f"{name}.json").read_text())


def _valid(name: str) -> dict:
    result = tools.validate_declaration(_input(name)["declaration"])
    assert result["valid"], result["problems"]
    return result["declaration"]


def _ctx(key: str) -> ToolContext:
    run_id, node, _ = key.split(":")
    return ToolContext(run_id=run_id, node=node, idempotency_key=key)


class FakeModel:
    """Stand-in for the model client (docs/tools.md): answers every llm node the same."""

    def __init__(self, answer: dict) -> None:
        self.answer = answer
        self.calls = 0

    def complete(self, messages, *, schema=None, **options):
        self.calls += 1
        return ModelCall(
            model="fake", messages=messages, text=json.dumps(self.answer), parsed=self.answer
        )


# ------------------------------------------------------------------ data and tools


def test_tariff_table_is_complete() -> None:
    table = tools.tariff()
    assert len(table) == 21
    assert all(len(code) == 6 and code.isdigit() for code in table)
    assert {c for c, row in table.items() if row["licence"]} == {"852610", "930200"}
    assert tools.rules()["vat_rate"] == 0.20


def test_candidates_come_from_keywords_else_every_code() -> None:
    assert tools.candidates_for("Children's wooden toy puzzles") == ["950300"]
    assert set(tools.candidates_for("roasted coffee beans")) == {"090111", "090121"}
    assert tools.candidates_for("mystery goods") == sorted(tools.tariff())


def test_validate_normalises_a_good_declaration() -> None:
    result = tools.validate_declaration(_input("structured")["declaration"])
    assert result["valid"] and result["problems"] == [] and result["questions"] == []
    lines = result["declaration"]["line_items"]
    assert [ln["hs_code"] for ln in lines] == ["610910", "640399", None]  # 6403.99 normalised
    assert result["unclassified_lines"] == [3]
    assert result["declaration"]["freight_cost"] == 400.0


def test_validate_turns_missing_fields_into_questions() -> None:
    result = tools.validate_declaration(_input("structured_missing")["declaration"])
    assert not result["valid"] and result["declaration"] is None
    assert result["problems"] == [
        "country_of_origin: `CHINA` is not a known ISO 3166 alpha-2 code",
        "currency: missing",
        "freight_cost: required for FOB (freight to the EU border is part of the customs value)",
        "line_items[1].net_weight_kg: missing or not a positive number",
        "line_items[2].unit_value: missing or not a non-negative number",
    ]
    assert len(result["questions"]) == 5
    assert "In which currency is the invoice (e.g. USD)?" in result["questions"]


def test_validate_rejects_unknown_hs_code_and_bad_eori() -> None:
    decl = _input("embargoed")["declaration"] | {"importer_id": "12-34"}
    decl["line_items"] = [dict(decl["line_items"][0], hs_code="999999")]
    result = tools.validate_declaration(decl)
    assert not result["valid"]
    assert "importer_id: `12-34` is not an EORI number" in result["problems"]
    assert "line_items[1].hs_code: `999999` is not in our tariff table" in result["problems"]
    assert tools.validate_declaration(None)["problems"][0] == "importer_id: missing"


def test_duty_and_vat_by_hand() -> None:
    decl = _valid("structured")
    classified = [{"line": 3, "hs_code": "950300", "classified_by": "model"}]
    duties = tools.compute_duties(decl, classified)
    # FOB: freight 400 + insurance 100 USD apportioned by value over 5,500 USD; USD→EUR 0.92.
    # line 1: (2000 + 500*2000/5500) * 0.92 = 2007.27; duty 12 % = 240.87
    # line 2: (2500 + 500*2500/5500) * 0.92 = 2509.09; duty  8 % = 200.73
    # line 3: (1000 + 500*1000/5500) * 0.92 = 1003.64; duty  0 % = 0
    assert [ln["customs_value_eur"] for ln in duties["lines"]] == [2007.27, 2509.09, 1003.64]
    assert [ln["duty_eur"] for ln in duties["lines"]] == [240.87, 200.73, 0.0]
    assert duties["customs_value_eur"] == 5520.00
    assert duties["duty_eur"] == 441.60
    assert duties["vat_eur"] == 1192.32  # (5520 + 441.60) * 20 %
    assert duties["total_due_eur"] == 1633.92
    assert duties["transport_added"] == 500.0
    assert duties["lines"][2]["classified_by"] == "model"
    json.dumps(duties)


def test_preferences_need_proof_and_respect_chapters() -> None:
    base = {"importer_id": "DE1234567", "incoterm": "CIF", "currency": "EUR"}
    shirts = {
        "description": "cotton t-shirts",
        "hs_code": "610910",
        "quantity": 100,
        "unit_value": 10,
        "net_weight_kg": 20,
    }
    coffee = {
        "description": "roasted coffee",
        "hs_code": "090121",
        "quantity": 100,
        "unit_value": 10,
        "net_weight_kg": 20,
    }
    bikes = {
        "description": "bicycles",
        "hs_code": "871200",
        "quantity": 10,
        "unit_value": 100,
        "net_weight_kg": 150,
    }

    def duty(origin, proof, *items):
        decl = tools.validate_declaration(
            base
            | {"country_of_origin": origin, "proof_of_origin": proof, "line_items": list(items)}
        )["declaration"]
        return [
            (ln["duty_rate"], ln["duty_eur"], ln["preference"])
            for ln in tools.compute_duties(decl, [])["lines"]
        ]

    assert duty("IN", False, shirts) == [(0.12, 120.0, None)]  # no proof: MFN
    assert duty("IN", True, shirts) == [
        (0.085, 85.0, "GSP standard arrangement")
    ]  # 12 % - 3.5 points
    assert duty("JP", True, shirts) == [(0.0, 0.0, "EU-Japan EPA")]
    # EEA/Swiss preference covers industrial chapters 25-97 only.
    assert duty("CH", True, coffee, bikes) == [
        (0.075, 75.0, None),
        (0.0, 0.0, "EU-Switzerland/EEA (industrial goods)"),
    ]


def test_screen_refuses_embargoed_origin() -> None:
    result = tools.screen(_valid("embargoed"), None)
    assert result == {
        "cleared": False,
        "licence_controlled": [],
        "issues": ["origin KP: comprehensive embargo on imports originating in North Korea"],
    }


def test_screen_licence_controlled_goods() -> None:
    decl = _valid("licence_controlled")
    result = tools.screen(decl, None)
    assert result["cleared"] is True
    assert result["licence_controlled"] == [
        {"line": 1, "hs_code": "852610", "licence_type": "dual_use", "licence": "DU-2024-0042"}
    ]
    decl["line_items"][0]["licence"] = None
    refused = tools.screen(decl, None)
    assert not refused["cleared"]
    assert "needs a dual-use goods import licence" in refused["issues"][0]


def test_classification_loop_tools() -> None:
    decl = _valid("structured")
    pending = tools.next_to_classify(decl, None)
    assert pending["done"] is False and pending["line"] == 3 and pending["candidates"] == ["950300"]
    recorded = tools.record_classification(None, 3, "950300", pending["candidates"])
    assert recorded == {"lines": [{"line": 3, "hs_code": "950300", "classified_by": "model"}]}
    assert tools.next_to_classify(decl, recorded["lines"])["done"] is True
    with pytest.raises(ToolError, match="not one of"):
        tools.record_classification(None, 3, "930200", ["950300"])


def _filing_args(name: str = "structured"):
    decl = _valid(name)
    classified = [{"line": 3, "hs_code": "950300"}] if name == "structured" else []
    duties = tools.compute_duties(decl, classified)
    screening = tools.screen(decl, classified)
    approval = {"approved": True, "required": False, "by": "policy", "comment": None}
    return decl, duties, screening, approval


def test_file_declaration_is_idempotent_by_key(tmp_path) -> None:
    decl, duties, screening, approval = _filing_args()
    first = tools.file_declaration(
        decl, duties, screening, approval, str(tmp_path), ctx=_ctx("r1:file:0")
    )
    again = tools.file_declaration(
        decl, duties, screening, approval, str(tmp_path), ctx=_ctx("r1:file:0")
    )
    assert again == first
    assert first["reference"].startswith("IMD-") and len(first["reference"]) == 14
    assert first["duty_eur"] == 441.60 and first["vat_eur"] == 1192.32
    records = tools.read_filings(tmp_path)
    assert len(records) == 1 and records[0]["idempotency_key"] == "r1:file:0"
    other = tools.file_declaration(
        decl, duties, screening, approval, str(tmp_path), ctx=_ctx("r1:file:1")
    )
    assert other["reference"] != first["reference"]
    assert len(tools.read_filings(tmp_path)) == 2
    json.dumps(first)


def test_file_declaration_refuses_uncleared_or_rejected(tmp_path) -> None:
    decl, duties, screening, approval = _filing_args()
    with pytest.raises(ToolError, match="did not clear screening"):
        tools.file_declaration(
            decl, duties, {"cleared": False}, approval, str(tmp_path), ctx=_ctx("r:f:0")
        )
    with pytest.raises(ToolError, match="not approved"):
        tools.file_declaration(
            decl, duties, screening, {"approved": False}, str(tmp_path), ctx=_ctx("r:f:0")
        )
    assert tools.read_filings(tmp_path) == []


def test_spec_matches_the_tools() -> None:
    loaded = load_spec(str(SPEC))
    assert registry.get("customs.file_declaration").side_effect
    assert not registry.get("customs.compute_duties").side_effect
    assert loaded is not None


# ------------------------------------------------------------------------ runs


def _start(name: str, tmp_path, **config):
    return start_run(
        load_spec(str(SPEC)),
        _input(name),
        config={"filings_dir": str(tmp_path / "filings"), **config},
    )


def test_missing_fields_end_with_questions(any_db, tmp_path) -> None:
    run = _start("structured_missing", tmp_path)
    done = execute_run(run.id, model=FakeModel({}))
    assert done.status == RunStatus.succeeded
    assert done.output["end"] == "ask_importer" and done.output["status"] == "needs_information"
    assert "In which currency is the invoice (e.g. USD)?" in done.output["questions"]
    assert len(done.output["problems"]) == 5
    assert [s.node for s in load_trace(run.id)] == [
        "intake",
        "validate",
        "check_valid",
        "ask_importer",
    ]
    assert tools.read_filings(tmp_path / "filings") == []


def test_embargoed_origin_is_refused(any_db, tmp_path) -> None:
    run = _start("embargoed", tmp_path)
    done = execute_run(run.id, model=FakeModel({}))
    assert done.status == RunStatus.succeeded
    assert done.output == {
        "end": "refused",
        "status": "refused",
        "issues": ["origin KP: comprehensive embargo on imports originating in North Korea"],
    }
    assert "file_declaration" not in [s.node for s in load_trace(run.id)]
    assert tools.read_filings(tmp_path / "filings") == []


def test_high_value_waits_for_approval_then_files_once(any_db, tmp_path) -> None:
    run = _start("structured_high_value", tmp_path)
    model = FakeModel({})
    waiting = execute_run(run.id, model=model)
    assert waiting.status == RunStatus.waiting_approval
    assert waiting.pending_approval["node"] == "approve"
    assert "customs value 24000.0 EUR" in waiting.pending_approval["message"]
    assert tools.read_filings(tmp_path / "filings") == []
    done = decide(run.id, approved=True, by="dana", comment="EPA statement checked", model=model)
    assert done.status == RunStatus.succeeded
    assert done.output["end"] == "filed" and done.output["approved_by"] == "dana"
    # JP origin with proof of origin: EU-Japan EPA, 0 % duty; VAT 20 % of 24,000.
    assert done.output["duty_eur"] == 0.0 and done.output["vat_eur"] == 4800.0
    records = tools.read_filings(tmp_path / "filings")
    assert len(records) == 1
    assert records[0]["reference"] == done.output["reference"]
    assert records[0]["idempotency_key"] == f"{run.id}:file_declaration:0"
    assert model.calls == 0


def test_licence_controlled_goods_rejected_by_approver(any_db, tmp_path) -> None:
    run = _start("licence_controlled", tmp_path)
    waiting = execute_run(run.id, model=FakeModel({}))
    assert waiting.status == RunStatus.waiting_approval
    assert "dual_use-controlled, licence DU-2024-0042" in waiting.pending_approval["message"]
    done = decide(run.id, approved=False, by="sam", comment="licence expired", model=FakeModel({}))
    assert done.output == {
        "end": "rejected",
        "status": "rejected",
        "by": "sam",
        "comment": "licence expired",
    }
    assert tools.read_filings(tmp_path / "filings") == []


def test_threshold_is_configurable(any_db, tmp_path) -> None:
    run = _start("structured_high_value", tmp_path, approval_threshold_eur=50000)
    done = execute_run(run.id, model=FakeModel({}))
    assert done.status == RunStatus.succeeded and done.output["approved_by"] == "policy"
    assert len(tools.read_filings(tmp_path / "filings")) == 1


def test_structured_with_stand_in_model_files_once(sqlite_db, tmp_path) -> None:
    run = _start("structured", tmp_path)
    model = FakeModel({"hs_code": "950300"})
    done = execute_run(run.id, model=model)
    assert done.status == RunStatus.succeeded, done.error
    assert model.calls == 1
    assert done.output["customs_value_eur"] == 5520.0 and done.output["duty_eur"] == 441.6
    assert done.output["vat_eur"] == 1192.32 and done.output["total_due_eur"] == 1633.92
    assert len(tools.read_filings(tmp_path / "filings")) == 1


@pytest.mark.integration
def test_structured_end_to_end_on_the_model(any_db, model_server, tmp_path) -> None:
    model = ModelClient(base_url=model_server.base_url, model=model_server.name)
    run = _start("structured", tmp_path)
    done = execute_run(run.id, model=model)
    assert done.status == RunStatus.succeeded, done.error
    assert done.output["end"] == "filed" and done.output["status"] == "filed"
    # line 3 ("wooden toy puzzles") has one candidate, so even random weights must choose it
    assert done.output["lines"][2] == {
        "line": 3,
        "hs_code": "950300",
        "classified_by": "model",
        "duty_eur": 0.0,
    }
    assert done.output["customs_value_eur"] == 5520.0
    assert done.output["duty_eur"] == 441.6 and done.output["vat_eur"] == 1192.32
    assert done.output["approved_by"] == "policy"
    records = tools.read_filings(tmp_path / "filings")
    assert len(records) == 1 and records[0]["reference"] == done.output["reference"]
    steps = load_trace(run.id)
    classify = [s for s in steps if s.node == "classify"]
    assert len(classify) == 1 and classify[0].status == "ok"
    assert classify[0].output == {"hs_code": "950300"}


@pytest.mark.integration
def test_free_text_goes_through_the_model(sqlite_db, model_server, tmp_path) -> None:
    model = ModelClient(base_url=model_server.base_url, model=model_server.name)
    run = _start("free_text", tmp_path)
    done = execute_run(run.id, model=model)
    # random weights: the extraction is schema-valid but arbitrary, so the desk asks questions
    assert done.status == RunStatus.succeeded, done.error
    assert done.output["end"] in {"ask_importer", "filed", "refused", "rejected"}
    steps = load_trace(run.id)
    assert steps[0].node == "intake" and steps[1].node == "extract" and steps[1].status == "ok"
    extracted = steps[1].output
    assert set(extracted) >= {"importer_id", "country_of_origin", "incoterm", "line_items"}
    assert 1 <= len(extracted["line_items"]) <= 3
