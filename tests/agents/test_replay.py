"""Replays and forks on the test spec (no model): identical, diverged, forked, refused.

Each test runs on SQLite and on PostgreSQL.  The logistics workflow on the
real model is in ``test_replay_logistics.py``.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import text
from sqlmodel import func, select

from agents.replay import (
    ReplayInvalid,
    SpecMissing,
    create_fork,
    create_replay,
    replay_recent,
)
from agents.runner import RunNotFound, RunStateError, decide, execute_run, start_run
from agents.trace import load_trace
from forgeyard.db import get_engine, session_scope
from forgeyard.models import Effect, Run, RunKind, RunStatus, Step, WorkflowSpecRecord
from tests.support import tools
from tests.support.specs import spec_dict, spec_yaml, to_yaml
from workflows.loader import load_spec_text
from workflows.tools import Tool, registry


def run_adder(run_input: dict, *, decision: bool | None = None, text_: str | None = None) -> Run:
    run = execute_run(start_run(load_spec_text(text_ or spec_yaml()), run_input).id)
    if decision is not None:
        run = decide(run.id, approved=decision, by="alice", comment="ok" if decision else "no")
    return run


def steps_digest(run_id: str) -> str:
    """A hash of every column of every step row of a run, as stored."""
    with session_scope() as s:
        rows = s.exec(select(Step).where(Step.run_id == run_id).order_by(Step.seq)).all()
        dump = [r.model_dump(mode="json") for r in rows]
    return hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()


def count(table: type) -> int:
    with session_scope() as s:
        return int(s.exec(select(func.count()).select_from(table)).one())


def varied_runs() -> list[Run]:
    """Paid without approval, approved, rejected, routed away, failed in a tool."""
    failing = to_yaml(
        spec_dict(
            start="work",
            state={"r": {"type": "object"}},
            nodes={
                "work": {"kind": "tool", "tool": "test.refuse", "args": {"reason": "'no'"}},
                "done": {"kind": "end", "output": {}},
            },
            edges=[{"from": "work", "to": "done"}],
        )
    )
    runs = [
        run_adder({"a": 2, "b": 1}),
        run_adder({"a": 7}, decision=True),
        run_adder({"a": 8}, decision=False),
        run_adder({"a": 50}),
        run_adder({"a": 1}, text_=failing),
    ]
    assert [r.status for r in runs] == [RunStatus.succeeded] * 4 + [RunStatus.failed]
    return runs


def test_recorded_replays_are_identical_and_touch_nothing(any_db):
    sources = varied_runs()
    digests = {r.id: steps_digest(r.id) for r in sources}
    effects, charges, adds = count(Effect), tools.calls["test.charge"], tools.calls["test.add"]

    replays = [execute_run(create_replay(r.id).id) for r in sources]

    for source, replay in zip(sources, replays, strict=True):
        assert replay.kind == RunKind.replay_recorded
        assert replay.parent_run_id == source.id
        assert replay.replay["result"] == "identical", replay.replay
        assert replay.status == source.status
        assert replay.output == source.output
        assert replay.error == source.error
        # The source is only read: its step rows are byte-identical.
        assert steps_digest(source.id) == digests[source.id]
    assert count(Effect) == effects, "a recorded replay wrote to the effects ledger"
    assert tools.calls["test.charge"] == charges, "a recorded replay performed a side effect"
    # Pure tools are re-run to check today's code against the recording.
    assert tools.calls["test.add"] == adds + 4
    approved = [s for s in load_trace(replays[1].id) if s.node == "gate"]
    assert [s.status.value for s in approved] == ["ok"]  # the recorded decision, no waiting
    decision = {"approved": True, "required": True, "by": "alice", "comment": "ok"}
    assert approved[0].output == decision


def test_a_changed_tool_is_reported_at_the_first_diverging_step(any_db, monkeypatch):
    source = run_adder({"a": 2, "b": 1})
    changed = Tool("test.add", lambda a, b=0: {"sum": a + b + 1}, False, "changed")
    monkeypatch.setitem(registry._tools, "test.add", changed)

    replay = execute_run(create_replay(source.id).id)

    assert replay.replay["result"] == "diverged"
    divergence = replay.replay["divergence"]
    assert divergence | {"recorded": None, "replayed": None} == {
        "step": 1,
        "node": "add",
        "visit": 0,
        "what": "output",
        "recorded": None,
        "replayed": None,
    }
    assert divergence["recorded"] == {"sum": 3} and divergence["replayed"] == {"sum": 4}
    assert replay.status == RunStatus.failed
    assert "replay diverged at step 1 (node `add`, visit 0): output" in replay.error
    # Stopped there: nothing after the diverging step ran.
    assert [s.node for s in load_trace(replay.id)] == ["add"]


def test_fork_in_the_sandbox_records_the_effect_in_its_trace_only(any_db):
    source = run_adder({"a": 7}, decision=True)
    digest, effects, charges = steps_digest(source.id), count(Effect), tools.calls["test.charge"]

    fork = create_fork(
        source.id,
        at_step={"node": "add", "visit": 0},
        patch=[{"op": "replace", "path": "/total/sum", "value": 4}],
    )
    assert (fork.kind, fork.parent_run_id, fork.status) == (RunKind.fork, source.id, "queued")
    done = execute_run(fork.id)

    assert done.status == RunStatus.succeeded, done.error
    assert done.output == {"end": "done", "total": 4, "paid": 4}
    trace = load_trace(fork.id)
    # It continued after `add`: the steps before the fork point are the source's.
    assert [s.node for s in trace] == ["check", "pay", "gate", "done"]
    assert trace[1].output == {"charged": 4, "key": f"{fork.id}:pay:0"}
    assert tools.calls["test.charge"] == charges + 1  # it ran, in the sandbox
    assert count(Effect) == effects  # … whose ledger is not this database's
    assert steps_digest(source.id) == digest


def test_fork_with_live_effects_waits_for_approval_before_the_effect(any_db):
    source = run_adder({"a": 2, "b": 1})
    fork = create_fork(source.id, at_step=1, patch=[], live_effects=True)
    waiting = execute_run(fork.id)
    assert waiting.status == RunStatus.waiting_approval
    assert waiting.pending_approval["node"] == "pay"
    with session_scope() as s:
        assert s.exec(select(Effect).where(Effect.run_id == fork.id)).all() == []

    done = decide(fork.id, approved=True, by="ops")
    assert done.status == RunStatus.succeeded, done.error
    with session_scope() as s:
        live = s.exec(select(Effect).where(Effect.run_id == fork.id)).all()
    assert [(e.node, e.status.value) for e in live] == [("pay", "done")]

    rejected = create_fork(source.id, at_step=1, live_effects=True)
    execute_run(rejected.id)
    refused = decide(rejected.id, approved=False, by="ops")
    assert refused.status == RunStatus.failed
    assert "live side effect `test.charge` rejected by ops" in refused.error


def runs_count() -> int:
    return count(Run)


def test_bad_forks_and_replays_are_refused_and_create_nothing(any_db):
    source = run_adder({"a": 2, "b": 1})
    before = runs_count()

    with pytest.raises(ReplayInvalid, match=r"at_step: run `\w+` has no step 99 \(the run has"):
        create_fork(source.id, at_step=99)
    with pytest.raises(ReplayInvalid, match="no step of node `nope`"):
        create_fork(source.id, at_step={"node": "nope", "visit": 0})
    with pytest.raises(ReplayInvalid) as info:
        create_fork(source.id, at_step=1, patch=[{"op": "replace", "path": "/total", "value": 3}])
    assert [(p.field, p.message) for p in info.value.problems] == [
        ("state.total", "3 is not of type 'object'")
    ]
    with pytest.raises(ReplayInvalid, match=r"patch\[0\]\.path: `/visits/add`"):
        create_fork(source.id, at_step=1, patch=[{"op": "add", "path": "/visits/add", "value": 1}])
    with pytest.raises(ReplayInvalid, match=r"patch\[1\]"):
        create_fork(
            source.id,
            at_step=1,
            patch=[
                {"op": "replace", "path": "/total/sum", "value": 1},
                {"op": "remove", "path": "/total/missing"},
            ],
        )
    with pytest.raises(ReplayInvalid, match="input.a"):
        bad_input = [{"op": "replace", "path": "/input/a", "value": "x"}]
        create_fork(source.id, at_step=1, patch=bad_input)
    with pytest.raises(RunNotFound):
        create_replay(source.id, tenant_id="someone-else")
    with pytest.raises(RunNotFound):
        create_fork(source.id, at_step=1, tenant_id="someone-else")
    with pytest.raises(ReplayInvalid, match="mode: `sideways`"):
        create_replay(source.id, mode="sideways")
    with pytest.raises(ReplayInvalid, match="adapter: a recorded replay asks no model"):
        create_replay(source.id, adapter="x")
    waiting = run_adder({"a": 7})
    with pytest.raises(RunStateError, match="only succeeded or failed runs are replayed"):
        create_replay(waiting.id)
    assert runs_count() == before + 1  # only the waiting run made above


def test_replay_of_a_run_whose_spec_is_gone_is_refused(sqlite_db):
    source = run_adder({"a": 2, "b": 1})
    with get_engine().connect() as conn:
        # Only possible with foreign keys off (PostgreSQL always refuses): a damaged database.
        conn.execute(text("PRAGMA foreign_keys=OFF"))
        conn.execute(text("DELETE FROM workflow_specs"))
        conn.commit()
    with session_scope() as s:
        assert s.exec(select(WorkflowSpecRecord)).all() == []
    with pytest.raises(SpecMissing, match="not stored in this database"):
        create_replay(source.id)


def test_replay_recent_counts_identical_and_diverged(any_db, monkeypatch):
    varied_runs()
    summary = replay_recent("adder", last=10).to_json()
    assert (summary["replayed"], summary["identical"], summary["diverged"]) == (5, 5, 0)
    # Replays are not replayed again.
    monkeypatch.setitem(
        registry._tools, "test.add", Tool("test.add", lambda a, b=0: {"sum": -1}, False, "")
    )
    summary = replay_recent("adder", last=10).to_json()
    assert (summary["replayed"], summary["identical"], summary["diverged"]) == (5, 1, 4)
    assert all(d["divergence"]["node"] == "add" for d in summary["diverged_replays"])


def test_a_step_run_twice_after_a_crash_replays_identically(any_db):
    loaded = load_spec_text(spec_yaml())
    crashed = []

    def die_once(step: Step) -> None:
        if step.node == "check" and not crashed:
            crashed.append(step)
            raise RuntimeError("worker killed")  # after the step row, before the checkpoint

    run = start_run(loaded, {"a": 2, "b": 1})
    assert execute_run(run.id, on_step=die_once).status == RunStatus.failed
    with session_scope() as s:  # what the sweeper and the next worker amount to
        row = s.get(Run, run.id)
        row.status, row.error, row.finished_at = RunStatus.running, None, None
        s.add(row)
    source = execute_run(run.id)
    assert [s.node for s in load_trace(source.id)] == [
        "add",
        "check",
        "check",
        "pay",
        "gate",
        "done",
    ]

    replay = execute_run(create_replay(source.id).id)
    assert replay.replay["result"] == "identical", replay.replay
