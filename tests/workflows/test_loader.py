"""Spec validation: every class of problem, reported at once, with file, line and field."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.specs import BASE, line_of, spec_dict, spec_yaml, to_yaml
from workflows.loader import SpecError, load_spec, load_spec_text, spec_hash
from workflows.schema import SCHEMA_FILE, spec_json_schema

REPO = Path(__file__).resolve().parents[2]


def problems_of(text: str) -> list:
    with pytest.raises(SpecError) as info:
        load_spec_text(text, filename="spec.yaml")
    return info.value.problems


def only(problems: list, field: str):
    matching = [p for p in problems if p.field == field]
    assert matching, f"no problem for {field}; got {[str(p) for p in problems]}"
    return matching[0]


def test_base_spec_is_valid_and_hash_ignores_formatting():
    loaded = load_spec_text(spec_yaml())
    assert loaded.spec.name == "adder"
    assert set(loaded.spec.nodes) == set(BASE["nodes"])
    reformatted = load_spec_text("# a comment\n" + json.dumps(BASE))
    assert reformatted.hash == loaded.hash == spec_hash(loaded.spec)
    changed = spec_dict(version="2")
    assert load_spec_text(to_yaml(changed)).hash != loaded.hash


def test_malformed_yaml_names_the_line():
    text = "name: x\nversion: '1'\nnodes: [unclosed\n"
    (problem,) = problems_of(text)
    assert problem.file == "spec.yaml"
    assert problem.line in (3, 4)
    assert "malformed YAML" in problem.message


def test_top_level_must_be_mapping():
    (problem,) = problems_of("- just\n- a list\n")
    assert "mapping" in problem.message


def test_unknown_node_reported_with_line_and_field():
    spec = spec_dict()
    spec["edges"].append({"from": "add", "to": "nowhere"})
    text = to_yaml(spec)
    problem = only(problems_of(text), "edges[3].to")
    assert "unknown node `nowhere`" in problem.message
    assert problem.line == line_of(text, "to: nowhere")


def test_unknown_tool_lists_registered_ones():
    spec = spec_dict()
    spec["nodes"]["add"]["tool"] = "test.missing"
    text = to_yaml(spec)
    problem = only(problems_of(text), "nodes.add.tool")
    assert "unknown tool `test.missing`" in problem.message
    assert "`test.add`" in problem.message
    assert problem.line == line_of(text, "tool: test.missing")


def test_tool_module_that_cannot_be_imported():
    text = spec_yaml(tool_modules=["no.such.module"])
    problems = problems_of(text)
    assert "cannot import tool module `no.such.module`" in only(problems, "tool_modules").message


def test_side_effect_flag_must_match_registration():
    spec = spec_dict()
    spec["nodes"]["pay"]["side_effect"] = False
    problem = only(problems_of(to_yaml(spec)), "nodes.pay.side_effect")
    assert "registered with side_effect: true" in problem.message


def test_tool_arguments_checked_against_signature():
    spec = spec_dict()
    spec["nodes"]["add"]["args"] = {"b": "1", "c": "2"}
    problems = problems_of(to_yaml(spec))
    assert "has no argument `c`" in only(problems, "nodes.add.args.c").message
    assert "missing argument `a`" in only(problems, "nodes.add.args").message


def test_unreachable_node():
    spec = spec_dict()
    spec["nodes"]["orphan"] = {"kind": "end"}
    text = to_yaml(spec)
    problem = only(problems_of(text), "nodes.orphan")
    assert "unreachable" in problem.message
    assert problem.line == line_of(text, "orphan:")


def test_cycle_with_no_exit():
    spec = spec_dict()
    spec["nodes"]["loop_a"] = {"kind": "tool", "tool": "test.add", "args": {"a": "1"}}
    spec["nodes"]["loop_b"] = {
        "kind": "route",
        "routes": [{"when": "true", "to": "loop_a"}],
        "default": "loop_a",
    }
    spec["nodes"]["check"]["default"] = "loop_a"
    spec["nodes"]["pay"]["kind"] = "tool"
    spec["edges"].append({"from": "loop_a", "to": "loop_b"})
    problems = problems_of(to_yaml(spec))
    assert "cycle with no exit" in only(problems, "nodes.loop_a").message
    assert "cycle with no exit" in only(problems, "nodes.loop_b").message


def test_cycle_with_an_exit_is_fine():
    spec = spec_dict()
    spec["nodes"]["retry_pay"] = {
        "kind": "route",
        "routes": [{"when": "paid.charged < 3", "to": "pay"}],
        "default": "gate",
    }
    spec["edges"] = [e for e in spec["edges"] if e["from"] != "pay"]
    spec["edges"].append({"from": "pay", "to": "retry_pay"})
    assert load_spec_text(to_yaml(spec)).spec.nodes["retry_pay"].kind == "route"


def test_template_variable_not_in_state():
    spec = spec_dict()
    spec["nodes"]["gate"]["message"] = "Pay {{ totl.sum }} to {{ payee }}?"
    problems = problems_of(to_yaml(spec))
    messages = [p.message for p in problems if p.field == "nodes.gate.message"]
    assert any("`totl` is not in state" in m for m in messages)
    assert any("`payee` is not in state" in m for m in messages)


def test_expression_problems_named():
    spec = spec_dict()
    spec["nodes"]["check"]["routes"][0]["when"] = "total.sum >"
    spec["nodes"]["done"]["output"] = {"x": "open('/etc/passwd')", "y": "config.nope"}
    problems = problems_of(to_yaml(spec))
    assert "invalid expression" in only(problems, "nodes.check.routes[0].when").message
    assert "unknown function(s) open" in only(problems, "nodes.done.output.x").message
    assert "`config.nope` is not declared" in only(problems, "nodes.done.output.y").message


def test_invalid_output_schema():
    spec = spec_dict()
    spec["state"]["answer"] = {"type": "object"}
    spec["nodes"]["ask"] = {
        "kind": "llm",
        "prompt": "Sum is {{ total.sum }}",
        "output": {"into": "answer", "schema": {"type": "objekt"}},
    }
    spec["nodes"]["check"]["default"] = "ask"
    spec["edges"].append({"from": "ask", "to": "pay"})
    problem = only(problems_of(to_yaml(spec)), "nodes.ask.output.schema")
    assert "invalid JSON Schema" in problem.message


def test_structural_errors_and_semantic_errors_together():
    spec = spec_dict()
    spec["nodes"]["add"]["retry"] = {"max_attempts": 0}
    spec["nodes"]["weird"] = {"kind": "teleport"}
    spec["nodes"]["done"]["colour"] = "blue"
    spec["edges"].append({"from": "add", "to": "ghost"})
    text = to_yaml(spec)
    problems = problems_of(text)
    fields = {p.field for p in problems}
    assert "nodes.add.retry.max_attempts" in fields
    assert "unknown node kind" in only(problems, "nodes.weird.kind").message or any(
        "unknown node kind" in p.message for p in problems if p.field.startswith("nodes.weird")
    )
    assert "unknown field" in only(problems, "nodes.done.colour").message
    assert only(problems, "nodes.done.colour").line == line_of(text, "colour: blue")
    assert "unknown node `ghost`" in only(problems, "edges[3].to").message
    assert len(problems) >= 4


def test_missing_required_top_level_fields():
    problems = problems_of("name: x\nnodes: {}\n")
    fields = {p.field for p in problems}
    assert {"version", "input", "start"} <= fields


def test_into_must_be_declared_state():
    spec = spec_dict()
    spec["nodes"]["add"]["into"] = "undeclared"
    problem = only(problems_of(to_yaml(spec)), "nodes.add.into")
    assert "state field `undeclared` is not declared" in problem.message


def test_missing_outgoing_edge():
    spec = spec_dict(edges=[{"from": "add", "to": "check"}, {"from": "pay", "to": "gate"}])
    problem = only(problems_of(to_yaml(spec)), "nodes.gate")
    assert "exactly one outgoing edge" in problem.message


def test_reserved_state_names_and_input_schema_type():
    spec = spec_dict(input={"type": "array"})
    spec["state"]["config"] = {"type": "object"}
    problems = problems_of(to_yaml(spec))
    assert "type: object" in only(problems, "input").message
    assert "reserved" in only(problems, "state.config").message


def test_checked_in_json_schema_is_current():
    assert json.loads(SCHEMA_FILE.read_text()) == spec_json_schema()


def test_json_schema_accepts_the_example_spec():
    import jsonschema
    from ruamel.yaml import YAML

    example = REPO / "workflows/examples/logistics_booking/workflow.yaml"
    doc = json.loads(json.dumps(YAML(typ="safe").load(example.read_text())))
    jsonschema.Draft202012Validator(spec_json_schema()).validate(doc)


def test_example_spec_is_valid():
    loaded = load_spec(REPO / "workflows/examples/logistics_booking/workflow.yaml")
    assert loaded.spec.start == "intake"
    kinds = {n.kind for n in loaded.spec.nodes.values()}
    assert kinds == {"llm", "tool", "route", "approval", "end"}


def test_cli_validate_reports_all_problems_and_exits_nonzero(tmp_path: Path):
    spec = copy.deepcopy(BASE)
    spec["edges"].append({"from": "add", "to": "nowhere"})
    spec["nodes"]["add"]["tool"] = "test.missing"
    path = tmp_path / "bad.yaml"
    path.write_text(to_yaml(spec))
    result = subprocess.run(
        [sys.executable, "-m", "forgeyard", "workflows", "validate", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 1
    assert f"{path}:" in result.stderr
    assert "unknown node `nowhere`" in result.stderr
    assert "unknown tool `test.missing`" in result.stderr
    assert "Traceback" not in result.stderr


def test_runtime_keys_are_reserved():
    spec = spec_dict()
    spec["state"]["output"] = {"type": "object"}
    spec["state"]["visits"] = {"type": "object"}
    problems = problems_of(to_yaml(spec))
    assert "reserved" in only(problems, "state.output").message
    assert "reserved" in only(problems, "state.visits").message


def test_template_config_keys_are_checked():
    spec = spec_dict()
    spec["nodes"]["gate"]["message"] = "Pay {{ total.sum }} over {{ config.limt }}?"
    problem = only(problems_of(to_yaml(spec)), "nodes.gate.message")
    assert "`config.limt` is not declared" in problem.message


def test_enum_from_must_be_an_expression():
    spec = spec_dict()
    spec["state"]["answer"] = {"type": "object"}
    spec["nodes"]["ask"] = {
        "kind": "llm",
        "prompt": "Pick",
        "output": {"into": "answer", "schema": {"type": "string", "x-enum-from": ["a", "b"]}},
    }
    spec["nodes"]["check"]["default"] = "ask"
    spec["edges"].append({"from": "ask", "to": "pay"})
    problem = only(problems_of(to_yaml(spec)), "nodes.ask.output.schema.x-enum-from")
    assert "takes an expression" in problem.message
