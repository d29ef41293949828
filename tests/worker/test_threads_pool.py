"""The default run worker: one process, a threads pool, many runs at once on SQLite."""

from __future__ import annotations

import time

import pytest
from sqlmodel import col, select

from agents.runner import start_run
from forgeyard.db import session_scope
from forgeyard.models import Run, RunStatus
from forgeyard.settings import get_settings
from tests.support.specs import spec_dict, to_yaml
from worker.runs import enqueue
from workflows.loader import load_spec_text

RUNS = 64

# A step that waits (as an llm step waits on the model server) between two that write.
WAITING = to_yaml(
    spec_dict(
        name="waits",
        state={"total": {"type": "object"}, "rest": {"type": "object"}},
        start="add",
        nodes={
            "add": {
                "kind": "tool",
                "tool": "test.add",
                "args": {"a": "input.a", "b": "1"},
                "into": "total",
            },
            "wait": {
                "kind": "tool",
                "tool": "test.sleep",
                "args": {"seconds": "0.5"},
                "into": "rest",
            },
            "done": {"kind": "end", "output": {"total": "total.sum"}},
        },
        edges=[{"from": "add", "to": "wait"}, {"from": "wait", "to": "done"}],
    )
)


def _max_overlap(runs: list[Run]) -> int:
    events = sorted(
        [(r.started_at, 1) for r in runs] + [(r.finished_at, -1) for r in runs],
        key=lambda e: (e[0], e[1]),
    )
    current = peak = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak


@pytest.mark.parametrize("any_db", ["sqlite"], indirect=True)
def test_one_threads_worker_runs_many_at_once_with_no_database_is_locked(
    any_db, start_worker, fast_settings
):
    assert get_settings().worker_pool == "threads"
    worker = start_worker(beat=False)
    loaded = load_spec_text(WAITING)
    ids = [start_run(loaded, {"a": i}).id for i in range(RUNS)]
    for run_id in ids:
        assert enqueue(run_id)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        with session_scope() as session:
            runs = list(session.exec(select(Run).where(col(Run.id).in_(ids))))
        if all(r.status.finished for r in runs):
            break
        time.sleep(0.5)
    statuses = {r.id: (r.status, r.error) for r in runs}
    assert all(s == RunStatus.succeeded for s, _ in statuses.values()), statuses
    assert sorted(r.output["total"] for r in runs) == [i + 1 for i in range(RUNS)]
    log = worker.output() + worker.log_path.read_text(errors="replace")
    assert "database is locked" not in log
    assert "Traceback" not in log
    # Runs overlapped in the one process (their waits did not queue behind each other).
    assert _max_overlap(runs) >= 8
