"""One compiled graph per spec hash, shared by runs that each bring their own services."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from agents import compiler
from agents.compiler import compiled_graph
from agents.runner import execute_run, start_run
from agents.trace import load_trace
from forgeyard.models import RunStatus
from tests.support.runs import ScriptedModel, desk_spec


def test_two_runs_share_the_compiled_graph_and_each_sees_its_own_services(sqlite_db):
    loaded = desk_spec()
    graph = compiled_graph(loaded)
    carriers = ["MDOU", "MSCU", "CMDU", "HLCU"]
    runs = [start_run(loaded, {"a": i + 1}) for i in range(len(carriers))]
    seen: dict[str, list[str]] = {run.id: [] for run in runs}

    def execute(index: int):  # type: ignore[no-untyped-def]
        run = runs[index]
        return execute_run(
            run.id,
            model=ScriptedModel(carriers[index], name=f"model-{index}"),  # type: ignore[arg-type]
            on_step=lambda step, run_id=run.id: seen[run_id].append(step.run_id),
        )

    # At once, in threads, as a threads worker runs them.
    with ThreadPoolExecutor(len(runs)) as pool:
        finished = list(pool.map(execute, range(len(runs))))
    for index, run in enumerate(finished):
        assert run.status == RunStatus.succeeded, run.error
        assert run.output == {"end": "done", "carrier": carriers[index], "a": index + 1}
        trace = load_trace(run.id)
        assert {s.model for s in trace if s.kind == "llm"} == {f"model-{index}"}
        # Each run's recorder (and its on_step) saw only that run's steps.
        assert seen[run.id] == [run.id] * len(trace)
    assert compiled_graph(loaded) is graph
    assert compiler._graphs.get(loaded.hash) is graph


def test_the_shared_checkpointer_writes_only_under_the_current_lease(any_db):
    from datetime import timedelta

    from langgraph.checkpoint.base import empty_checkpoint

    from agents.runner import _CheckpointFence
    from forgeyard import leases
    from forgeyard.checkpoints import FENCE_KEY, shared_saver
    from forgeyard.db import session_scope
    from forgeyard.leases import LeaseLost
    from forgeyard.models import Run, utcnow

    run = start_run(desk_spec(), {"a": 1})
    first = leases.acquire(Run, run.id, "first-worker")
    assert first is not None
    with session_scope() as session:
        row = session.get(Run, run.id)
        row.lease_expires_at = utcnow() - timedelta(seconds=1)  # type: ignore[union-attr]
        session.add(row)
    second = leases.acquire(Run, run.id, "second-worker")
    assert second is not None
    saver = shared_saver()

    def config(lease):  # type: ignore[no-untyped-def]
        return {
            "configurable": {
                "thread_id": run.id,
                "checkpoint_ns": "",
                FENCE_KEY: _CheckpointFence(lease),
            }
        }

    with pytest.raises(LeaseLost):
        saver.put(config(first), empty_checkpoint(), {}, {})
    with pytest.raises(LeaseLost):
        saver.put_writes(config(first), [("channel", 1)], task_id="t")
    assert saver.get_tuple({"configurable": {"thread_id": run.id, "checkpoint_ns": ""}}) is None
    saver.put(config(second), empty_checkpoint(), {}, {})
    stored = saver.get_tuple({"configurable": {"thread_id": run.id, "checkpoint_ns": ""}})
    assert stored is not None
    # The fence object is not stored with the checkpoint.
    assert FENCE_KEY not in (stored.metadata or {})
