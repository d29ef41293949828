"""A worker that dies between a node's recorded step and its checkpoint: one ok step per visit.

The chaos suite found it (``tests/chaos/``): a ``SIGKILL`` right after a node's
``ok`` step was committed, before LangGraph saved the node's writes, left two
``ok`` steps for one visit once another worker took the run over and ran the
node again.  Here the death is made exact: ``on_step`` raises a
``BaseException`` (nothing in the engine catches it, as nothing outlives a
``kill -9``) just after the step is recorded.  On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from agents import runner
from agents.runner import execute_run, start_run
from agents.trace import load_trace
from forgeyard import leases
from forgeyard.db import session_scope
from forgeyard.models import Run, RunStatus, Step, utcnow
from tests.support.specs import spec_dict, to_yaml
from workflows.loader import load_spec_text


class Killed(BaseException):
    """The worker process is gone: nothing after this point runs."""


def _spec() -> str:
    return to_yaml(
        spec_dict(
            name="two_adds",
            state={"one": {"type": "object"}, "two": {"type": "object"}},
            start="one",
            nodes={
                "one": {
                    "kind": "tool",
                    "tool": "test.add",
                    "args": {"a": "input.a"},
                    "into": "one",
                },
                "two": {
                    "kind": "tool",
                    "tool": "test.add",
                    "args": {"a": "one.sum"},
                    "into": "two",
                },
                "done": {"kind": "end", "output": {"total": "two.sum"}},
            },
            edges=[{"from": "one", "to": "two"}, {"from": "two", "to": "done"}],
        )
    )


def _expire(run_id: str) -> None:
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.lease_expires_at = utcnow() - timedelta(seconds=1)
        session.add(run)


def _die_after(node: str):  # type: ignore[no-untyped-def]
    def on_step(step: Step) -> None:
        if step.node == node and step.status.value == "ok":
            raise Killed

    return on_step


@pytest.mark.parametrize("node", ["one", "two"])
def test_the_unsaved_try_is_marked_abandoned_and_the_node_runs_again(any_db, node):
    run_id = start_run(load_spec_text(_spec()), {"a": 1}).id
    first = leases.acquire(Run, run_id, "first-worker")
    assert first is not None
    with pytest.raises(Killed):
        execute_run(run_id, fence=first, on_step=_die_after(node))
    recorded = [(s.node, s.status.value) for s in load_trace(run_id)]
    assert recorded[-1] == (node, "ok")  # recorded, but its checkpoint never written

    _expire(run_id)  # the lease runs out; another worker takes the run
    second = leases.acquire(Run, run_id, "second-worker")
    assert second is not None and second.previous_owner == "first-worker"
    done = execute_run(run_id, fence=second)

    assert done.status == RunStatus.succeeded and done.output == {"end": "done", "total": 1}
    trace = load_trace(run_id)
    steps = [(s.node, s.status.value) for s in trace]
    before = [("one", "ok")] if node == "two" else []
    assert steps == [
        *before,
        (node, "abandoned"),
        (node, "ok"),
        *([("two", "ok")] * (node == "one")),
        ("done", "ok"),
    ]
    abandoned = next(s for s in trace if s.status.value == "abandoned")
    assert "first-worker lost the run's lease (epoch 1)" in (abandoned.error or "")
    assert "not checkpointed" in (abandoned.error or "")
    assert abandoned.output is not None  # what the dead worker computed stays visible


def test_a_worker_killed_before_the_first_node_is_taken_over(any_db, monkeypatch):
    # LangGraph's first checkpoint holds only the input (its next task is its own
    # `__start__`, no spec node): the taker marks the spec's start node abandoned.
    run_id = start_run(load_spec_text(_spec()), {"a": 1}).id
    first = leases.acquire(Run, run_id, "first-worker")
    assert first is not None
    # The process dies once its run's input is checkpointed: the lease check
    # before each checkpoint write is where the second write would begin.
    checks = []
    real_check = runner._CheckpointFence.check

    def dies_at_second_write(self: runner._CheckpointFence) -> None:
        checks.append(self.lease.row_id)
        if len(checks) >= 2:
            raise Killed
        real_check(self)

    monkeypatch.setattr(runner._CheckpointFence, "check", dies_at_second_write)
    with pytest.raises(Killed):
        execute_run(run_id, fence=first)
    monkeypatch.undo()
    _expire(run_id)
    second = leases.acquire(Run, run_id, "second-worker")
    assert second is not None and second.previous_owner == "first-worker"

    done = execute_run(run_id, fence=second)

    assert done.status == RunStatus.succeeded, done.error
    steps = [(s.node, s.status.value) for s in load_trace(run_id)]
    assert steps == [("one", "abandoned"), ("one", "ok"), ("two", "ok"), ("done", "ok")]
