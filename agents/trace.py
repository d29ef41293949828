"""Trace recording: every try of every node becomes a `Step` row.

The recorder writes each step in one short transaction (lease check, sequence
number, row), so a trace is complete up to the moment a worker dies.  Given the
run's lease (``fence``), each write is conditional on it: a worker that lost the lease gets
:class:`~forgeyard.leases.LeaseLost` instead of writing a step.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from agents.model_client import ModelCall
from forgeyard.db import session_scope
from forgeyard.leases import Lease
from forgeyard.models import Step, StepStatus, utcnow

__all__ = ["StepRecorder", "abandon_unsaved_try", "jsonable", "load_trace"]


def jsonable(value: Any) -> Any:
    """A JSON-storable copy of ``value`` (unknown objects become their repr)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


class StepRecorder:
    """Writes the steps of one run."""

    def __init__(
        self,
        run_id: str,
        *,
        on_step: Callable[[Step], None] | None = None,
        fence: Lease | None = None,
    ) -> None:
        self.run_id = run_id
        self.on_step = on_step
        self.fence = fence
        # Failed tries by (node, visit): read from the database once, then kept
        # up to date here, since one recorder (the lease holder's) writes the run.
        self._failed: dict[tuple[str, int], int] | None = None

    def attempt(self, node: str, visit: int) -> int:
        """The number of the try about to start for ``node`` on this ``visit``."""
        if self._failed is None:
            with session_scope() as session:
                rows = session.exec(
                    select(Step.node, Step.visit, func.count())
                    .where(Step.run_id == self.run_id, Step.status == StepStatus.error)
                    .group_by(Step.node, Step.visit)  # type: ignore[arg-type]
                ).all()
            self._failed = {(n, v): int(c) for n, v, c in rows}
        return self._failed.get((node, visit), 0) + 1

    def record(
        self,
        *,
        node: str,
        kind: str,
        visit: int,
        attempt: int,
        status: StepStatus,
        started_at: datetime,
        input: Any = None,
        output: Any = None,
        error: str | None = None,
        call: ModelCall | None = None,
    ) -> Step:
        step = Step(
            run_id=self.run_id,
            seq=0,
            node=node,
            kind=kind,
            visit=visit,
            attempt=attempt,
            status=status,
            input=jsonable(input),
            output=jsonable(output) if output is not None else None,
            error=error,
            started_at=started_at,
            finished_at=utcnow(),
        )
        if call is not None:
            step.model = call.model
            step.adapter = call.adapter
            step.prompt = jsonable(call.messages)
            step.completion = call.text
            step.token_ids = jsonable(call.token_ids)
            step.usage = jsonable(call.usage) | {"tries": call.tries}
            if call.finish_reason is not None:
                step.usage["finish_reason"] = call.finish_reason
            if call.finish_reason == "length":
                # Cut off by max_tokens: the answer may be incomplete.
                step.usage["truncated"] = True
            step.latency_ms = round(call.latency_ms, 3)
        # One transaction per step: the lease check, its sequence number, the row.
        with session_scope() as session:
            if self.fence is not None:
                self.fence.hold(session)
            step.seq = _next_seq(session, self.run_id)
            session.add(step)
        if status == StepStatus.error and self._failed is not None:
            self._failed[(node, visit)] = self._failed.get((node, visit), 0) + 1
        if self.on_step is not None:
            self.on_step(step)
        return step


def _next_seq(session: Session, run_id: str) -> int:
    # One writer per run at a time (the run's lease), so max+1 is safe; the
    # unique (run_id, seq) constraint catches a violation of that rule.
    current = session.exec(select(func.max(Step.seq)).where(Step.run_id == run_id)).one()
    return int(current or 0) + 1


def load_trace(run_id: str) -> list[Step]:
    """The recorded steps of a run, in order."""
    with session_scope() as session:
        return list(session.exec(select(Step).where(Step.run_id == run_id).order_by(col(Step.seq))))


def abandon_unsaved_try(run_id: str, node: str, visit: int, error: str, fence: Lease) -> bool:
    """Mark as ``abandoned`` the ``ok`` step of a try whose result never reached a checkpoint.

    A worker can die (``kill -9``) after recording a node's ``ok`` step and
    before LangGraph saved the node's writes; the worker that takes the run over
    resumes from the checkpoint before that node and runs it again.  The first
    try is then the abandoned one, so each node visit keeps a single ``ok`` step.
    Returns whether there was such a step (under ``fence``: the taker's lease).
    """
    with session_scope() as session:
        fence.hold(session)
        steps = list(
            session.exec(
                select(Step).where(
                    Step.run_id == run_id,
                    Step.node == node,
                    Step.visit == visit,
                    Step.status == StepStatus.ok,
                )
            )
        )
        for step in steps:
            step.status = StepStatus.abandoned
            step.error = error
            session.add(step)
    return bool(steps)
