"""Where environments draw their tasks from: the task generator, or a tenant's recorded runs.

A generated :class:`~workflows.examples.logistics_booking.tasks.BookingTask`
always carries its ground truth.  A :class:`RecordedTask` is the input of a
run a tenant really made; its ground truth is known only when someone supplies
it (a tasks JSONL file, see :func:`rewards.runs.read_expected`).  Without it
the reward model scores only what needs none (see ``docs/training.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from forgeyard.db import session_scope
from forgeyard.models import Run, Step
from rewards.runs import task_key
from workflows.examples.logistics_booking.tasks import BookingTask, Expected

__all__ = ["RecordedTask", "Task", "tasks_from_runs"]


@dataclass(frozen=True)
class RecordedTask:
    """The input of a tenant's recorded run, as a task an environment can replay.

    Attributes:
        task_id: ``run-<run id>`` of the newest run with this input.
        input: Exactly what the run was started with.
        expected: The ground truth, or ``None`` when nobody supplied it.
        run_id: The run it was taken from.
    """

    task_id: str
    input: dict[str, Any]
    expected: Expected | None
    run_id: str
    scenario: str = "recorded"

    @property
    def free_text(self) -> bool:
        return "text" in self.input


# What an environment draws: generated (with ground truth) or recorded (maybe without).
Task = BookingTask | RecordedTask


def tasks_from_runs(
    workflow: str,
    node: str,
    *,
    tenant_id: str,
    expected: dict[str, dict[str, Any]] | None = None,
    limit: int = 500,
) -> list[RecordedTask]:
    """The tasks of ``tenant_id``'s recorded runs of ``workflow`` that reached ``node``.

    A run reached the node when its trace holds a step of it (whatever came
    after).  Runs with the same input are one task (the newest run names it),
    newest first.

    Args:
        workflow: Workflow name, e.g. ``logistics_booking``.
        node: The decision point, e.g. ``extract``.
        tenant_id: Only this tenant's runs.
        expected: Ground truth by :func:`rewards.runs.task_key` of the input
            (:func:`rewards.runs.read_expected` reads a tasks JSONL file); runs
            without an entry get ``expected=None``.
        limit: At most this many runs are read.

    Raises:
        ValueError: ``limit`` is not positive, or a ground-truth entry is not a
            logistics ``Expected`` record (naming the run).
    """
    if limit < 1:
        raise ValueError(f"`limit` must be at least 1, got {limit}.")
    reached = select(Step.run_id).where(Step.node == node)
    query = (
        select(Run)
        .where(Run.tenant_id == tenant_id, Run.workflow == workflow, col(Run.id).in_(reached))
        .order_by(col(Run.created_at).desc(), col(Run.id))
        .limit(limit)
    )
    with session_scope() as session:
        runs = list(session.exec(query))
    tasks: dict[str, RecordedTask] = {}
    for run in runs:
        key = task_key(run.input)
        if key in tasks:
            continue
        truth = (expected or {}).get(key)
        tasks[key] = RecordedTask(
            task_id=f"run-{run.id}",
            input=dict(run.input),
            expected=None if truth is None else _expected(truth, run.id),
            run_id=run.id,
        )
    return list(tasks.values())


def _expected(raw: dict[str, Any], run_id: str) -> Expected:
    try:
        return BookingTask.from_dict(
            {"task_id": run_id, "scenario": "recorded", "input": {}, "expected": raw}
        ).expected
    except (TypeError, KeyError) as exc:
        raise ValueError(
            f"The ground truth for run `{run_id}` is not a logistics task's `expected` "
            f"record ({exc}); write it with `workflows.examples.logistics_booking.tasks.to_jsonl`."
        ) from None
