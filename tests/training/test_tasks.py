"""Tasks from recorded runs: which runs count, ground truth or none, the envs accept them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agents.model_client import ModelCall
from agents.runner import execute_run, start_run
from forgeyard.models import Run
from rewards.runs import task_key
from training import tasks_from_runs
from training.envs import ChooseEnv
from training.extract_env import ExtractEnv, reference_extraction
from training.sandbox import SandboxModel
from workflows.catalog import resolve
from workflows.examples.logistics_booking.tasks import BookingTask, generate_tasks


class ScriptedDesk:
    """A stand-in model for recorded runs: reads each e-mail right, takes the first quote."""

    name = "scripted"

    def __init__(self, tasks: list[BookingTask]) -> None:
        self.readings = {t.input["text"]: reference_extraction(t) for t in tasks if t.free_text}

    def complete(self, messages: list[dict[str, Any]], schema: Any = None, **_: Any) -> ModelCall:
        if schema is None:  # the confirmation
            return SandboxModel().complete(messages)
        prompt = messages[-1]["content"]
        if "quote_id" in schema["properties"]:
            parsed: Any = {"quote_id": schema["properties"]["quote_id"]["enum"][0]}
        else:
            parsed = next(v for text, v in self.readings.items() if text in prompt)
        return ModelCall(model=self.name, messages=messages, text=json.dumps(parsed), parsed=parsed)


def record(task: BookingTask, tenant: str, model: ScriptedDesk) -> Run:
    run = start_run(
        resolve("logistics_booking"),
        task.input,
        config={"approval_threshold_usd": 10**9},
        tenant_id=tenant,
    )
    return execute_run(run.id, model=model)  # type: ignore[arg-type]


@pytest.fixture
def generated() -> list[BookingTask]:
    tasks = generate_tasks(40, seed=3)
    bookable = [
        t for t in tasks if t.expected.choice_quote_id is not None and not t.expected.hazardous
    ]
    free = [t for t in bookable if t.free_text]
    structured = [t for t in bookable if not t.free_text]
    invalid_structured = next(t for t in tasks if not t.free_text and not t.expected.valid)
    return [free[0], free[1], structured[0], invalid_structured]


def test_runs_that_reached_the_node_become_tasks_newest_first_once_per_input(
    sqlite_db: str, generated: list[BookingTask]
) -> None:
    free_a, free_b, structured, invalid = generated
    model = ScriptedDesk(generated)
    first_a = record(free_a, "acme", model)
    runs = [record(t, "acme", model) for t in (free_b, structured, invalid)]
    again_a = record(free_a, "acme", model)  # the same input again: one task
    record(free_b, "globex", model)  # another tenant's run

    extract_tasks = tasks_from_runs("logistics_booking", "extract", tenant_id="acme")
    assert [t.task_id for t in extract_tasks] == [f"run-{again_a.id}", f"run-{runs[0].id}"]
    assert [t.input for t in extract_tasks] == [free_a.input, free_b.input]
    assert all(t.expected is None and t.free_text for t in extract_tasks)
    assert first_a.id not in {t.run_id for t in extract_tasks}

    # The structured run and both free-text runs got as far as `choose`; the invalid one did not.
    choose_tasks = tasks_from_runs("logistics_booking", "choose", tenant_id="acme")
    assert {t.run_id for t in choose_tasks} == {again_a.id, runs[0].id, runs[1].id}
    assert tasks_from_runs("logistics_booking", "extract", tenant_id="nobody") == []

    with pytest.raises(ValueError, match="`limit` must be at least 1"):
        tasks_from_runs("logistics_booking", "extract", tenant_id="acme", limit=0)


def test_recorded_tasks_play_in_both_environments_with_or_without_ground_truth(
    sqlite_db: str, generated: list[BookingTask]
) -> None:
    model = ScriptedDesk(generated)
    for task in generated:
        record(task, "acme", model)
    truth = {task_key(t.input): t.to_dict()["expected"] for t in generated}

    known = tasks_from_runs("logistics_booking", "extract", tenant_id="acme", expected=truth)
    env = ExtractEnv(tasks=known)
    assert len(env.tasks) == 2
    for task in env.tasks:
        _, info = env.reset(options={"task_id": task.task_id})
        assert info["ground_truth"] is True
        _, reward, _, _, step_info = env.step(json.dumps(reference_extraction(task)))
        assert step_info["output"]["status"] == "booked"
        assert reward == 1.0
    env.close()

    # Without ground truth only the confirmation graders apply: a booked run scores
    # full marks whatever it read, an unparsable reading still 0.
    unknown = tasks_from_runs("logistics_booking", "extract", tenant_id="acme")
    env = ExtractEnv(tasks=unknown)
    _, info = env.reset(seed=0)
    assert info["ground_truth"] is False
    reading = next(reference_extraction(t) for t in known if t.task_id == info["task_id"])
    assert env.step(json.dumps(reading))[1] == 1.0
    env.reset(seed=0)
    assert env.step("no idea")[1] == 0.0
    env.close()

    # The choose environment keeps the structured run (free text would need the reading).
    choose = ChooseEnv(tasks=tasks_from_runs("logistics_booking", "choose", tenant_id="acme"))
    assert [t.input for t in choose.tasks] == [generated[2].input]
    _, info = choose.reset(seed=0)
    _, reward, *_ = choose.step(json.dumps({"quote_id": info["allowed_quote_ids"][0]}))
    assert 0.0 < reward <= 1.0
    choose.close()


def test_ground_truth_that_is_not_a_logistics_record_names_the_run(
    sqlite_db: str, generated: list[BookingTask]
) -> None:
    run = record(generated[0], "acme", ScriptedDesk(generated))
    with pytest.raises(ValueError, match=f"ground truth for run `{run.id}`"):
        tasks_from_runs(
            "logistics_booking",
            "extract",
            tenant_id="acme",
            expected={task_key(generated[0].input): {"sum": 3}},
        )
