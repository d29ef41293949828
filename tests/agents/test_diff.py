"""Run diffs: alignment by node and visit, retries, the first divergence, other workflows.

Each test runs on SQLite and on PostgreSQL (the `any_db` fixture).
"""

from __future__ import annotations

import json
import uuid

import pytest

from agents.diff import diff_runs
from agents.runner import RunNotFound, execute_run, start_run
from agents.search import RunQuery, search_runs
from tests.support.runs import desk_spec, record_booking, record_desk_run
from tests.support.specs import spec_dict, to_yaml
from workflows.loader import load_spec_text

ORDER = {"a": 2, "request": {"origin": "CNSHA", "containers": 2}}


def test_two_runs_of_the_same_input_and_answers_are_identical(any_db: str) -> None:
    a, b = record_desk_run(ORDER), record_desk_run(ORDER)
    diff = diff_runs(a.id, b.id)
    assert diff.identical and diff.first_divergence is None
    assert diff.same_workflow and diff.same_spec
    assert [(s.node, s.visit, s.same) for s in diff.steps] == [
        ("add", 0, True),
        ("choose", 0, True),
        ("check", 0, True),
        ("done", 0, True),
    ]
    body = diff.to_json()
    assert json.loads(json.dumps(body)) == body  # JSON-ready as it is
    assert body["first_divergence"] is None and body["output"] == [] and body["input"] == []


def test_a_different_answer_is_the_first_divergence_naming_the_field(any_db: str) -> None:
    a = record_desk_run(ORDER, carrier="MDOU", adapter="acme-v1")
    b = record_desk_run(ORDER, carrier="MAEU", adapter="acme-v2")
    diff = diff_runs(a.id, b.id)
    assert not diff.identical
    divergence = diff.first_divergence
    assert divergence is not None
    assert (divergence.index, divergence.node, divergence.visit) == (1, "choose", 0)
    assert divergence.fields == ["adapter", "completion", "output"]
    assert "adapter 'acme-v1' → 'acme-v2'" in divergence.summary
    choose = diff.steps[1]
    assert [(c.path, c.a, c.b) for c in choose.changes] == [
        ("adapter", "acme-v1", "acme-v2"),
        ("completion", '{"carrier": "MDOU"}', '{"carrier": "MAEU"}'),
        ("output.carrier", "MDOU", "MAEU"),
    ]
    assert [c.to_json() for c in diff.output] == [
        {"path": "output.carrier", "change": "changed", "a": "MDOU", "b": "MAEU"}
    ]
    # The prompt was the same: it is not among the differences.
    assert not any(c.path.startswith("prompt") for c in choose.changes)


def test_a_different_input_shows_in_prompts_and_a_different_route(any_db: str) -> None:
    a, b = record_desk_run({"a": 2}), record_desk_run({"a": 50})
    diff = diff_runs(a.id, b.id)
    assert [(c.path, c.change, c.a, c.b) for c in diff.input] == [("input.a", "changed", 2, 50)]
    first = diff.first_divergence
    assert first is not None and (first.node, first.fields) == ("add", ["input", "output"])
    prompt = [c for c in diff.steps[1].changes if c.path.startswith("prompt")]
    assert [c.path for c in prompt] == ["prompt.1.content"]
    # `done` ran only in a, `too_big` only in b: each appears once, where it ran.
    assert [(s.node, s.a is not None, s.b is not None) for s in diff.steps[3:]] == [
        ("done", True, False),
        ("too_big", False, True),
    ]
    assert diff.steps[3].fields == ["step"]
    assert {c.path: c.change for c in diff.output} == {
        "output.a": "removed",
        "output.carrier": "removed",
        "output.end": "changed",
        "output.rejected": "added",
    }


def test_retried_visits_compare_their_final_attempt_and_count_attempts(any_db: str) -> None:
    spec = desk_spec("flaky", retry_tool=True)
    order = {"a": 2, "note": f"k-{uuid.uuid4().hex}"}  # test.flaky fails once per key
    retried = record_desk_run(order, spec=spec)
    clean = record_desk_run(order, spec=spec)
    diff = diff_runs(retried.id, clean.id)
    add = diff.steps[0]
    assert (add.node, add.attempts_a, add.attempts_b) == ("add", 2, 1)
    assert add.same and diff.identical
    assert diff.to_json()["steps"][0]["attempts"] == {"a": 2, "b": 1}


def test_the_nth_visit_of_a_node_is_paired_with_the_nth(any_db: str) -> None:
    loop = load_spec_text(
        to_yaml(
            spec_dict(
                name="loop",
                input={"type": "object", "properties": {"a": {"type": "number"}}},
                state={"total": {"type": "object"}},
                start="add",
                nodes={
                    "add": {
                        "kind": "tool",
                        "tool": "test.add",
                        "args": {"a": "(total.sum if total else 0)", "b": "1"},
                        "into": "total",
                    },
                    "again": {
                        "kind": "route",
                        "routes": [{"when": "visits.add < input.a", "to": "add"}],
                        "default": "done",
                    },
                    "done": {"kind": "end", "output": {"sum": "total.sum"}},
                },
                edges=[{"from": "add", "to": "again"}],
            )
        )
    )
    three = execute_run(start_run(loop, {"a": 3}).id)
    two = execute_run(start_run(loop, {"a": 2}).id)
    diff = diff_runs(three.id, two.id)
    assert [(s.node, s.visit, s.same, s.b is not None) for s in diff.steps] == [
        ("add", 0, True, True),
        ("again", 0, True, True),
        ("add", 1, True, True),
        ("again", 1, False, True),
        ("add", 2, False, False),
        ("again", 2, False, False),
        ("done", 0, False, True),
    ]
    first = diff.first_divergence
    assert first is not None and (first.index, first.node, first.visit) == (3, "again", 1)
    # The route records the value of each condition as its input.
    assert [(c.path, c.a, c.b) for c in diff.steps[3].changes] == [
        ("input.0.value", True, False),
        ("output.to", "add", "done"),
    ]


def test_runs_of_different_workflows_are_compared_and_flagged(any_db: str) -> None:
    a = record_desk_run(ORDER)
    b = record_desk_run(ORDER, spec=desk_spec("desk2"))
    diff = diff_runs(a.id, b.id)
    assert not diff.same_workflow and not diff.same_spec
    body = diff.to_json()
    assert body["same_workflow"] is False
    assert (body["a"]["workflow"], body["b"]["workflow"]) == ("desk", "desk2")
    # Same nodes doing the same things: the steps themselves agree.
    assert body["first_divergence"] is None


def test_another_tenants_run_is_not_found(any_db: str) -> None:
    mine = record_desk_run(ORDER, tenant_id="acme")
    theirs = record_desk_run(ORDER, tenant_id="globex")
    for a, b in ((mine.id, theirs.id), (theirs.id, mine.id)):
        with pytest.raises(RunNotFound, match=f"No run `{theirs.id}`"):
            diff_runs(a, b, tenant_id="acme")
    assert diff_runs(mine.id, theirs.id).identical  # the operator sees both


def test_logistics_runs_that_booked_different_quotes_diverge_at_choose(any_db: str) -> None:
    first, second = record_booking(pick=0), record_booking(pick=1)
    assert first.output["status"] == second.output["status"] == "booked"
    assert first.output["quote_id"] != second.output["quote_id"]
    diff = diff_runs(first.id, second.id)
    divergence = diff.first_divergence
    assert divergence is not None
    assert (divergence.node, divergence.fields) == ("choose", ["completion", "output"])
    assert any(c.path == "output.quote_id" for c in diff.output)
    # ... and search finds each by what it booked.
    booked = f"output.quote_id={second.output['quote_id']}"
    found = search_runs(None, RunQuery.of(where=["input.request.origin=CNSHA", booked]))
    assert [r.id for r in found.runs] == [second.id]
    reached = search_runs(None, RunQuery.of(reached="book")).runs
    assert [r.id for r in reached] == [second.id, first.id]
