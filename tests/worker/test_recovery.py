"""Failures the service survives: a worker killed or frozen mid-run, Redis restarted.

These are integration tests against real Redis, a real database and real
worker processes; they restart the shared Redis server, so they always leave
it running again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis
from sqlmodel import select

from forgeyard.db import session_scope
from forgeyard.models import Effect, Run
from forgeyard.settings import get_settings
from tests.support.service import wait_for
from tests.support.specs import spec_dict, to_yaml

pytestmark = pytest.mark.integration

# The exact command the machines use (shared/ENVIRONMENT.md).
REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


def napper_yaml() -> str:
    """add → pay (side effect) → nap (slow) → done: a worker can be killed during the nap."""
    spec = spec_dict(
        name="napper",
        state={
            "total": {"type": "object"},
            "paid": {"type": "object"},
            "napped": {"type": "object"},
        },
        start="add",
        nodes={
            "add": {"kind": "tool", "tool": "test.add", "args": {"a": "input.a"}, "into": "total"},
            "pay": {
                "kind": "tool",
                "tool": "test.charge",
                "side_effect": True,
                "args": {"amount": "total.sum"},
                "into": "paid",
            },
            "nap": {
                "kind": "tool",
                "tool": "test.sleep",
                "args": {"seconds": "3"},
                "into": "napped",
            },
            "done": {"kind": "end", "output": {"paid": "paid.charged"}},
        },
        edges=[
            {"from": "add", "to": "pay"},
            {"from": "pay", "to": "nap"},
            {"from": "nap", "to": "done"},
        ],
    )
    return to_yaml(spec)


def _status(tenant, run_id: str) -> str:  # type: ignore[no-untyped-def]
    return tenant.get(f"/v1/runs/{run_id}").json()["status"]


def test_kill9_mid_run_is_resumed_by_another_worker_with_one_side_effect(tenant, start_worker):
    tenant.register(napper_yaml())
    first = start_worker(beat=False)
    run_id = tenant.submit({"a": 4}, workflow="napper")["id"]
    steps_url = f"/v1/runs/{run_id}/steps"
    wait_for(
        lambda: any(s["node"] == "pay" for s in tenant.get(steps_url).json()),
        what="the side effect",
    )
    # `pay` is recorded just before its checkpoint is written; the nap that
    # follows lasts 3 s, so a moment later the worker is inside the nap.
    time.sleep(1.0)
    first.kill9()
    assert _status(tenant, run_id) == "running"  # stranded: its worker is gone

    start_worker()  # its sweeper finds the expired lease
    wait_for(lambda: _status(tenant, run_id) == "succeeded", what="the resumed run")
    run = tenant.get(f"/v1/runs/{run_id}").json()
    assert run["output"] == {"end": "done", "paid": 4}
    nodes = [(s["node"], s["status"]) for s in tenant.get(steps_url).json()]
    # Resumed from the checkpoint after `pay`: add and pay ran once, the nap again;
    # the killed worker's try of the nap is marked once, by the worker that took over.
    assert nodes == [
        ("add", "ok"),
        ("pay", "ok"),
        ("nap", "abandoned"),
        ("nap", "ok"),
        ("done", "ok"),
    ]
    with session_scope() as s:
        effects = list(s.exec(select(Effect).where(Effect.run_id == run_id)))
        executions = s.get(Run, run_id).executions  # type: ignore[union-attr]
    assert [(e.node, e.status.value) for e in effects] == [("pay", "done")]
    assert executions >= 2


class _Hooks:
    """A local webhook receiver that accepts every call and counts them by run."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                hooks.calls.append(self.headers["X-Forgeyard-Run"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_worker_frozen_past_its_lease_is_fenced_off_twice_in_a_row(tenant, start_worker):
    """SIGSTOP the lease holder mid-nap, let the other worker finish the run, then SIGCONT."""
    tenant.register(napper_yaml())
    workers = [start_worker(), start_worker()]  # both sweep (beat), either may run a run
    hooks = _Hooks()
    try:
        for round_ in (1, 2):
            _freeze_the_holder_of_a_run(tenant, workers, hooks, round_)
    finally:
        hooks.close()


def _freeze_the_holder_of_a_run(tenant, workers, hooks: _Hooks, a: int) -> None:  # type: ignore[no-untyped-def]
    run_id = tenant.submit({"a": a}, workflow="napper", webhook_url=hooks.url)["id"]
    steps_url = f"/v1/runs/{run_id}/steps"
    wait_for(
        lambda: any(s["node"] == "pay" for s in tenant.get(steps_url).json()),
        what="the side effect",
    )
    time.sleep(0.5)  # inside the 3 s nap
    with session_scope() as s:
        owner = s.get(Run, run_id).lease_owner  # type: ignore[union-attr]
    assert owner is not None
    frozen = next(w for w in workers if f":{w.proc.pid}:" in owner)
    other = next(w for w in workers if w is not frozen)
    os.killpg(frozen.proc.pid, signal.SIGSTOP)
    try:
        # Its lease (2 s) expires; the other worker's sweeper hands the run over.
        wait_for(
            lambda: _status(tenant, run_id) == "succeeded", timeout=180, what="the taken-over run"
        )
    finally:
        os.killpg(frozen.proc.pid, signal.SIGCONT)
    # Awake, the frozen worker finishes its nap and stops at its next write.
    wait_for(
        lambda: f"run {run_id}: stopped, lease lost" in frozen.output(),
        timeout=30,
        what="the frozen worker to notice",
    )
    wait_for(lambda: run_id in hooks.calls, what="the webhook")
    time.sleep(1.0)  # room for a second delivery, were there one

    nodes = [(s["node"], s["status"]) for s in tenant.get(steps_url).json()]
    assert nodes == [
        ("add", "ok"),
        ("pay", "ok"),
        ("nap", "abandoned"),
        ("nap", "ok"),
        ("done", "ok"),
    ]
    assert tenant.get(f"/v1/runs/{run_id}").json()["output"] == {"end": "done", "paid": a}
    with session_scope() as s:
        effects = list(s.exec(select(Effect).where(Effect.run_id == run_id)))
        record = s.get(Run, run_id)
    assert [(e.node, e.status.value) for e in effects] == [("pay", "done")]
    assert record is not None and record.lease_epoch == 2 and record.lease_owner is None
    assert hooks.calls.count(run_id) == 1
    # The logs tell the story: one stopped, the other took over and finished.
    assert f"run {run_id}: succeeded" not in frozen.output()
    assert f"run {run_id}: succeeded" in other.output()
    assert "taken over from" in other.output()


def _redis_up() -> bool:
    try:
        return bool(redis.Redis(socket_connect_timeout=0.5).ping())
    except redis.ConnectionError:
        return False


def _ensure_redis_running() -> None:
    if not _redis_up():
        subprocess.run(REDIS_START, check=True)
        wait_for(_redis_up, timeout=20, what="Redis to start")


def test_runs_queued_when_redis_restarts_all_finish(tenant, start_worker):
    queue = redis.Redis.from_url(get_settings().broker_url)
    before = [tenant.submit({"a": i})["id"] for i in range(3)]  # no worker yet
    assert queue.llen(get_settings().queue) == 3
    try:
        subprocess.run(["redis-cli", "shutdown", "nosave"], check=False)
        wait_for(lambda: not _redis_up(), timeout=20, what="Redis to stop")
        # Accepted while the broker is down: the database has it, the sweeper sends it.
        during = tenant.submit({"a": 3})["id"]
    finally:
        _ensure_redis_running()
    time.sleep(0.1)
    assert queue.llen(get_settings().queue) == 0  # every message is gone
    queue.close()

    start_worker()
    runs = [*before, during]
    wait_for(
        lambda: all(_status(tenant, r) == "succeeded" for r in runs),
        timeout=90,
        what="every run to finish",
    )
