"""The logistics booking task generator: deterministic, shares as asked, truth that agrees."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from workflows.examples.logistics_booking import tools
from workflows.examples.logistics_booking._emails import CONTAINER_PHRASES
from workflows.examples.logistics_booking._parse import resolve_container
from workflows.examples.logistics_booking.data import ports
from workflows.examples.logistics_booking.tasks import (
    BookingTask,
    Expected,
    from_jsonl,
    generate_tasks,
    to_jsonl,
)


@pytest.fixture(scope="module")
def tasks() -> list[BookingTask]:
    return generate_tasks(1000, seed=11)


def make_expected(**overrides: object) -> Expected:
    fields: dict[str, object] = {
        "valid": True,
        "problem_fields": (),
        "request": {},
        "quote_ids": ("Q-A",),
        "eligible_quote_ids": ("Q-A",),
        "best_quote_id": "Q-A",
        "best_price_usd": 15000,
        "choice_quote_id": "Q-A",
        "choice_price_usd": 15000,
        "cleared": True,
        "hazardous": False,
    }
    fields.update(overrides)
    return Expected(**fields)  # type: ignore[arg-type]


def test_same_seed_same_tasks_other_seed_other_tasks() -> None:
    assert generate_tasks(150, seed=3) == generate_tasks(150, seed=3)
    assert generate_tasks(150, seed=3) != generate_tasks(150, seed=4)


def test_default_shares_are_met(tasks: list[BookingTask]) -> None:
    scenarios = Counter(t.scenario for t in tasks)
    assert scenarios == {"standard": 700, "invalid": 100, "denied": 50, "hazardous": 150}
    assert sum(t.free_text for t in tasks) == 300
    # Free text is spread over the scenarios, not bunched in one of them.
    assert all(sum(t.free_text for t in tasks if t.scenario == s) > 0 for s in scenarios)


def test_custom_shares_are_met() -> None:
    tasks = generate_tasks(
        200, seed=1, free_text_share=0.5, invalid_share=0.2, denied_share=0.1, hazardous_share=0
    )
    assert Counter(t.scenario for t in tasks) == {"standard": 140, "invalid": 40, "denied": 20}
    assert sum(t.free_text for t in tasks) == 100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"invalid_share": 1.5}, "`invalid_share` must be between 0 and 1"),
        ({"invalid_share": 0.6, "hazardous_share": 0.6}, "must be at most 1"),
    ],
)
def test_impossible_shares_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_tasks(10, **kwargs)


def test_each_scenario_has_its_ground_truth(tasks: list[BookingTask]) -> None:
    for t in tasks:
        e = t.expected
        if t.scenario == "invalid":
            assert not e.valid and e.problem_fields and e.request is None and e.cleared is None
        elif t.scenario == "denied":
            assert e.valid and e.cleared is False and e.eligible_quote_ids == ()
        elif t.scenario == "hazardous":
            assert e.valid and e.hazardous and e.request["un_number"].startswith("UN")
        else:
            assert e.valid and e.cleared and not e.hazardous and e.quote_ids


def test_best_quote_agrees_with_recomputation(tasks: list[BookingTask]) -> None:
    checked = 0
    for t in tasks:
        e = t.expected
        if not e.valid:
            continue
        quotes = tools.quote(e.request)["quotes"]
        result = tools.screen(e.request, quotes)
        on_time = [q for q in result["eligible_quotes"] if q["meets_deadline"]]
        best = min(on_time, key=lambda q: (q["price_usd"], q["eta"]), default=None)
        assert e.best_quote_id == (best["quote_id"] if best else None), t.task_id
        assert e.best_price_usd == (best["price_usd"] if best else None)
        assert e.eligible_quote_ids == tuple(result["eligible_quote_ids"])
        if best is None and result["eligible_quotes"]:
            first = min(result["eligible_quotes"], key=lambda q: (q["eta"], q["price_usd"]))
            assert e.choice_quote_id == first["quote_id"]
        else:
            assert e.choice_quote_id == e.best_quote_id
        checked += 1
    assert checked == 900


def test_tasks_cover_the_interesting_outcomes(tasks: list[BookingTask]) -> None:
    valid = [t.expected for t in tasks if t.expected.valid and t.expected.cleared]
    assert any(e.best_quote_id is None for e in valid)  # nothing arrives in time
    assert any(not e.eligible_quote_ids for e in valid)  # carriers refuse the class or lack space
    assert any(t.scenario == "hazardous" and t.expected.cleared is False for t in tasks)
    approvals = sum(t.expected.needs_approval(20000) for t in tasks)
    assert 100 < approvals < 500


def test_structured_inputs_validate_to_the_expected_request(tasks: list[BookingTask]) -> None:
    for t in tasks:
        if t.free_text:
            continue
        result = tools.validate_request(t.input["request"])
        assert result["request"] == t.expected.request, t.task_id
        assert tuple(p["field"] for p in result["problems"]) == t.expected.problem_fields


def test_emails_mention_what_an_extractor_needs(tasks: list[BookingTask]) -> None:
    for t in tasks:
        request = t.expected.request
        if not t.free_text or request is None:
            continue
        text = t.input["text"]
        for role in ("origin", "destination"):
            port = ports()[request[role]]
            assert port.name in text or port.locode in text, (t.task_id, role)
        for field in ("commodity", "shipper", "consignee", "un_number"):
            if request[field]:
                assert request[field].rstrip(".") in text, (t.task_id, field)
        assert str(request["containers"]) in text


@pytest.mark.parametrize("code", sorted(CONTAINER_PHRASES))
def test_every_email_container_phrase_resolves(code: str) -> None:
    assert {resolve_container(p).code for p in CONTAINER_PHRASES[code]} == {code}


def test_jsonl_round_trip(tmp_path: Path) -> None:
    tasks = generate_tasks(60, seed=2)
    path = tmp_path / "tasks.jsonl"
    to_jsonl(tasks, path)
    assert len(path.read_text().splitlines()) == 60
    assert from_jsonl(path) == tasks


@pytest.mark.parametrize(
    ("overrides", "threshold", "needed"),
    [
        ({}, 20000, False),
        ({}, 10000, True),
        ({"hazardous": True}, 20000, True),
        ({"choice_quote_id": None, "choice_price_usd": None, "hazardous": True}, 0, False),
    ],
)
def test_needs_approval(overrides: dict[str, object], threshold: float, needed: bool) -> None:
    assert make_expected(**overrides).needs_approval(threshold) is needed
