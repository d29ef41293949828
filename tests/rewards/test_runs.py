from __future__ import annotations

import pytest

from rewards.evaluate import evaluate
from rewards.runs import RunFilter, examples_from_runs, task_key
from tests.rewards.factories import model
from tests.rewards.runs_support import ADDER_RM, adder_run


def test_examples_from_recorded_runs_have_output_state_and_steps(any_db) -> None:  # type: ignore[no-untyped-def]
    paid, refused = adder_run(1, 2), adder_run(20, 1)
    examples = {ex.id: ex for ex in examples_from_runs(RunFilter(workflow="adder"))}
    ex = examples[paid.id]
    assert ex.output == {"end": "done", "total": 3, "paid": 3}
    assert ex.state["total"] == {"sum": 3} and ex.state["input"] == {"a": 1, "b": 2}
    assert [s["node"] for s in ex.steps][:2] == ["add", "check"]
    assert ex.group == task_key({"a": 1, "b": 2})
    assert examples[refused.id].output == {"end": "too_big", "rejected": 21}


def test_evaluation_over_real_runs(any_db) -> None:  # type: ignore[no-untyped-def]
    adder_run(1, 2)
    adder_run(1, 2)
    adder_run(20, 1)
    rm = model(*ADDER_RM["graders"], penalties=ADDER_RM["penalties"], workflow="adder")
    expected = {task_key({"a": 1, "b": 2}): {"sum": 3}}
    examples = examples_from_runs(RunFilter(workflow="adder"), expected=expected)
    report = evaluate(rm, examples)
    totals = sorted(e["total"] for e in report["per_example"])
    assert totals == [0.2, 1.0, 1.0]
    assert report["zero_variance"]["method"] == "task groups"
    assert report["zero_variance"]["zero_variance_groups"] == 1  # the two identical runs


def test_run_filter_parsing() -> None:
    f = RunFilter.parse("workflow=adder, status=succeeded,limit=5")
    assert (f.workflow, f.status, f.limit) == ("adder", "succeeded", 5)
    with pytest.raises(ValueError, match="unknown run filter `colour`"):
        RunFilter.parse("colour=red")
    with pytest.raises(ValueError):
        RunFilter.parse("status=sleeping")


def test_score_one_recorded_run_by_id(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    from agents.runner import RunNotFound
    from rewards.runs import load_run_example

    run = adder_run(1, 2)
    rm = model(*ADDER_RM["graders"], workflow="adder")
    score = rm.score(load_run_example(run.id, expected={"sum": 3}))
    assert score.total == 1.0 and score.graders["sum"].score == 1.0
    with pytest.raises(RunNotFound):
        load_run_example(run.id, tenant_id="acme")
