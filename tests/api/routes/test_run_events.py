"""Server-Sent Events: every step in order, resumable with Last-Event-ID."""

from __future__ import annotations

import threading

from tests.support.service import read_events
from worker.runs import process_run


def test_stream_follows_a_live_run_and_ends_when_it_finishes(tenant):
    run_id = tenant.submit({"a": 2, "b": 1})["id"]
    # The "worker" starts once the stream is open (it polls the database).
    worker = threading.Timer(0.3, process_run, args=(run_id,))
    worker.start()
    events = read_events(tenant, run_id)
    worker.join()
    steps = [(e[1], e[2]["node"]) for e in events if e[0] == "step"]
    assert steps == [("1", "add"), ("2", "check"), ("3", "pay"), ("4", "gate"), ("5", "done")]
    statuses = [e[2]["status"] for e in events if e[0] == "run"]
    assert statuses[0] == "queued" and statuses[-1] == "succeeded"


def test_last_event_id_resumes_after_that_step(tenant):
    run_id = tenant.submit({"a": 2})["id"]
    process_run(run_id)
    events = read_events(tenant, run_id, **{"Last-Event-ID": "3"})
    assert [e[1] for e in events if e[0] == "step"] == ["4", "5"]
    bad = tenant.get(f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 400
