"""Fencing tokens: a worker that lost its run's lease writes no step, effect, checkpoint or status.

The take-over happens inside a node (tests.support.tools.lose_lease), which is
what a worker frozen mid-node sees when it wakes: its lease was taken at a
newer epoch.  On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from agents.effects import EffectsLedger
from agents.runner import execute_run, get_run, start_run
from agents.trace import StepRecorder, load_trace
from forgeyard import leases
from forgeyard.checkpoints import open_checkpointer
from forgeyard.db import session_scope
from forgeyard.leases import LeaseLost
from forgeyard.models import Effect, Run, RunStatus, StepStatus, utcnow
from tests.support import tools
from tests.support.specs import spec_dict, spec_yaml, to_yaml
from workflows.loader import load_spec_text
from workflows.tools import registry


def _spec(tool: str) -> str:
    nodes = {
        "add": {"kind": "tool", "tool": "test.add", "args": {"a": "input.a"}, "into": "total"},
        "middle": {"kind": "tool", "tool": tool, "into": "lost"},
        "pay": {
            "kind": "tool",
            "tool": "test.charge",
            "side_effect": True,
            "args": {"amount": "total.sum"},
            "into": "paid",
        },
        "done": {"kind": "end", "output": {"paid": "paid.charged"}},
    }
    if tool == "test.charge_and_lose":
        nodes["middle"]["args"] = {"amount": "total.sum"}
        nodes["middle"]["side_effect"] = True
    spec = spec_dict(
        name="fenced",
        state={"total": {"type": "object"}, "lost": {"type": "object"}, "paid": {"type": "object"}},
        start="add",
        nodes=nodes,
        edges=[
            {"from": "add", "to": "middle"},
            {"from": "middle", "to": "pay"},
            {"from": "pay", "to": "done"},
        ],
    )
    return to_yaml(spec)


def _leased_run(text: str | None = None) -> tuple[str, leases.Lease]:
    run_id = start_run(load_spec_text(text or spec_yaml()), {"a": 1}).id
    lease = leases.acquire(Run, run_id, "first-worker")
    assert lease is not None
    return run_id, lease


def _expire(run_id: str) -> None:
    with session_scope() as session:
        run = session.get(Run, run_id)
        assert run is not None
        run.lease_expires_at = utcnow() - timedelta(seconds=1)
        session.add(run)


def _checkpoints(run_id: str) -> int:
    with open_checkpointer() as saver:
        return len(list(saver.list({"configurable": {"thread_id": run_id}})))


def _effects(run_id: str) -> list[tuple[str, str]]:
    with session_scope() as session:
        rows = session.exec(select(Effect).where(Effect.run_id == run_id).order_by(Effect.id))
        return [(e.node, e.status.value) for e in rows]


def test_taking_the_lease_increments_the_epoch_and_fences_the_old_holder(any_db):
    run_id, first = _leased_run()
    first.check()  # current: no error
    _expire(run_id)
    second = leases.acquire(Run, run_id, "second-worker")
    assert second is not None and (first.epoch, second.epoch) == (1, 2)
    assert second.previous_owner == "first-worker"
    with pytest.raises(LeaseLost, match="epoch 1 of first-worker was superseded"):
        first.check()
    second.check()
    assert not first.renew() and second.renew()


@pytest.mark.parametrize("tool", ["test.lose_lease", "test.charge_and_lose"])
def test_a_worker_that_lost_the_lease_mid_node_writes_nothing_more(any_db, tool):
    run_id, first = _leased_run(_spec(tool))
    charges = tools.calls["test.charge"]
    with pytest.raises(LeaseLost):
        execute_run(run_id, fence=first)
    # Only what came before the loss: the try it was in is not recorded by it.
    assert [(s.node, s.status.value) for s in load_trace(run_id)] == [("add", "ok")]
    assert get_run(run_id).status == RunStatus.running  # never `succeeded` by the lost worker
    assert tools.calls["test.charge"] == charges
    # A side effect the lost worker was inside stays pending (its commit was fenced off).
    assert _effects(run_id) == ([("middle", "pending")] if "charge" in tool else [])
    checkpoints = _checkpoints(run_id)

    # The worker that took over resumes after `add` and marks the abandoned try once.
    second = tools.stolen[run_id]
    done = execute_run(run_id, fence=second)
    assert done.status == RunStatus.succeeded and done.output == {"end": "done", "paid": 1}
    trace = load_trace(run_id)
    assert [(s.node, s.status.value) for s in trace] == [
        ("add", "ok"),
        ("middle", "abandoned"),
        ("middle", "ok"),
        ("pay", "ok"),
        ("done", "ok"),
    ]
    assert "first-worker lost the run's lease (epoch 1)" in (trace[1].error or "")
    assert tools.calls["test.charge"] == charges + 1
    assert sorted(_effects(run_id)) == sorted(
        [("pay", "done")] + ([("middle", "done")] if "charge" in tool else [])
    )
    assert _checkpoints(run_id) > checkpoints

    # The first worker, waking again, still cannot touch the finished run.
    with pytest.raises(LeaseLost):
        first.check()
    assert get_run(run_id).lease_epoch == 2


def test_stale_fence_stops_the_recorder_the_ledger_and_status_changes(any_db):
    run_id, first = _leased_run()
    _expire(run_id)
    assert leases.acquire(Run, run_id, "second-worker") is not None
    recorder = StepRecorder(run_id, fence=first)
    with pytest.raises(LeaseLost):
        recorder.record(
            node="add", kind="tool", visit=0, attempt=1, status=StepStatus.ok, started_at=utcnow()
        )
    assert load_trace(run_id) == []
    charges = tools.calls["test.charge"]
    with pytest.raises(LeaseLost):
        EffectsLedger(fence=first).call(
            registry.get("test.charge"), run_id=run_id, node="pay", call_index=0, args={"amount": 1}
        )
    assert tools.calls["test.charge"] == charges and _effects(run_id) == []
    with pytest.raises(LeaseLost):
        execute_run(run_id, fence=first)  # its first write is the status change
    run = get_run(run_id)
    assert run.status == RunStatus.queued and run.started_at is None
    assert load_trace(run_id) == []


def test_checkpoint_writes_go_through_the_fence(any_db):
    run_id, first = _leased_run()
    _expire(run_id)
    assert leases.acquire(Run, run_id, "second-worker") is not None
    config = {"configurable": {"thread_id": run_id, "checkpoint_ns": "", "checkpoint_id": "x"}}
    with open_checkpointer(before_write=first.check) as saver:
        with pytest.raises(LeaseLost):
            saver.put_writes(config, [("channel", 1)], task_id="t")  # type: ignore[arg-type]
        with pytest.raises(LeaseLost):
            saver.put(config, {"id": "x"}, {}, {})  # type: ignore[arg-type]
    assert _checkpoints(run_id) == 0
