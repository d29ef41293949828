"""The shipped logistics reward model over real recorded runs (vLLM, tiny model)."""

from __future__ import annotations

import pytest

from agents.model_client import ModelClient
from agents.runner import execute_run, start_run
from rewards import RewardModel, load_reward_spec
from rewards.evaluate import evaluate
from rewards.examples.logistics_booking.build_dataset import DATASET
from rewards.runs import RunFilter, examples_from_runs, task_key
from workflows.catalog import resolve
from workflows.examples.logistics_booking.tasks import generate_tasks

pytestmark = pytest.mark.integration


def test_reward_model_scores_recorded_logistics_runs(sqlite_db, model_server) -> None:  # type: ignore[no-untyped-def]
    model = ModelClient(base_url=model_server.base_url, model=model_server.name)
    tasks = [t for t in generate_tasks(12, seed=3) if "request" in t.input][:3]
    for task in tasks:
        run = start_run(
            resolve("logistics_booking"), task.input, config={"approval_threshold_usd": 10**9}
        )
        execute_run(run.id, model=model)
    expected = {task_key(t.input): t.to_dict()["expected"] for t in tasks}
    examples = examples_from_runs(RunFilter(workflow="logistics_booking"), expected=expected)
    assert len(examples) == 3 and all(ex.expected for ex in examples)
    rm = RewardModel(load_reward_spec(DATASET.with_name("reward.yaml")))
    report = evaluate(rm, examples)
    assert report["scores"]["grader_errors"] == 0
    for ex, row in zip(examples, report["per_example"], strict=True):
        assert row["total"] is not None
        # The outcome grader compares the run's real ending with the task's ground truth.
        assert row["graders"]["outcome"] in (0.0, 1.0)
        if ex.output["status"] == "booked":
            assert row["graders"]["confirmation_reference"] is not None
