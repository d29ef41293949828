"""The worker's metric families increment on real runs; the endpoint, multiprocess mode
and the Grafana dashboard agree with the code's registry."""

from __future__ import annotations

import http.server
import json
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client import REGISTRY, CollectorRegistry

import api.metrics  # noqa: F401 - registers the API's families, which the dashboard uses too
from agents.model_client import ModelClient, ModelUnavailable
from agents.runner import execute_run, start_run
from forgeyard.db import session_scope
from forgeyard.models import Run, RunStatus, utcnow
from forgeyard.settings import Settings, get_settings
from forgeyard.telemetry.metrics import QueueDepth, scrape_registry, start_worker_metrics
from tests.support.specs import spec_dict, spec_yaml, to_yaml
from worker import runs, webhooks
from workflows.loader import load_spec_text

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "forgeyard.json"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_steps_are_timed_by_kind_node_and_status(sqlite_db):
    before = value("forgeyard_step_duration_seconds_count", kind="tool", node="add", status="ok")
    before_end = value(
        "forgeyard_step_duration_seconds_count", kind="end", node="done", status="ok"
    )
    run = start_run(load_spec_text(spec_yaml()), {"a": 2, "b": 1})
    assert execute_run(run.id).status == RunStatus.succeeded
    assert (
        value("forgeyard_step_duration_seconds_count", kind="tool", node="add", status="ok")
        == before + 1
    )
    assert (
        value("forgeyard_step_duration_seconds_count", kind="end", node="done", status="ok")
        == before_end + 1
    )
    assert value("forgeyard_step_duration_seconds_sum", kind="tool", node="add", status="ok") > 0


def test_retries_and_failed_tries_are_counted(sqlite_db):
    spec = spec_dict(
        start="work",
        nodes={
            "work": {
                "kind": "tool",
                "tool": "test.flaky",
                "args": {"key": f"'{uuid.uuid4().hex}'", "failures": "2"},
                "into": "total",
                "retry": {"max_attempts": 3, "backoff_seconds": 0.01},
            },
            "done": {"kind": "end", "output": {"r": "total"}},
        },
        edges=[{"from": "work", "to": "done"}],
    )
    retries = value("forgeyard_step_retries_total", kind="tool", node="work")
    errors = value(
        "forgeyard_step_duration_seconds_count", kind="tool", node="work", status="error"
    )
    run = start_run(load_spec_text(to_yaml(spec)), {"a": 1})
    assert execute_run(run.id).status == RunStatus.succeeded
    assert value("forgeyard_step_retries_total", kind="tool", node="work") == retries + 2
    assert (
        value("forgeyard_step_duration_seconds_count", kind="tool", node="work", status="error")
        == errors + 2
    )


def test_model_connect_retries_are_counted_on_an_unreachable_server(monkeypatch):
    monkeypatch.setenv("FORGEYARD_MODEL_CONNECT_RETRIES", "3")
    monkeypatch.setenv("FORGEYARD_MODEL_RETRY_BACKOFF_SECONDS", "0")
    client = ModelClient(f"http://127.0.0.1:{free_port()}/v1", "nobody-home", settings=Settings())
    before = value("forgeyard_model_connect_retries_total", model="nobody-home")
    with pytest.raises(ModelUnavailable):
        client.complete([{"role": "user", "content": "hi"}])
    assert value("forgeyard_model_connect_retries_total", model="nobody-home") == before + 2


def test_sweeper_counts_lease_expiries_and_lost_messages(sqlite_db, monkeypatch):
    monkeypatch.setattr(runs, "enqueue", lambda run_id: True)  # no broker needed to count
    old = utcnow() - timedelta(hours=1)
    dead, lost = (start_run(load_spec_text(spec_yaml()), {"a": 1}).id for _ in range(2))
    with session_scope() as s:
        for run_id, values in (
            (
                dead,
                dict(
                    status=RunStatus.running,
                    lease_owner="gone",
                    enqueued_at=old,
                    lease_expires_at=utcnow() - timedelta(seconds=5),
                ),
            ),
            (lost, dict(enqueued_at=old)),
        ):
            run = s.get(Run, run_id)
            for key, v in values.items():
                setattr(run, key, v)
            s.add(run)
    expired = value("forgeyard_sweeper_requeued_total", reason="lease_expired")
    not_picked = value("forgeyard_sweeper_requeued_total", reason="not_picked_up")
    assert sorted(runs.sweep()) == sorted([dead, lost])
    assert value("forgeyard_sweeper_requeued_total", reason="lease_expired") == expired + 1
    assert value("forgeyard_sweeper_requeued_total", reason="not_picked_up") == not_picked + 1


@pytest.fixture
def failing_receiver() -> Iterator[str]:
    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(503)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def test_webhook_failures_are_counted_by_outcome(sqlite_db, monkeypatch, failing_receiver):
    monkeypatch.setenv("FORGEYARD_WEBHOOK_ALLOWED_HOSTS", '["127.0.0.1"]')
    monkeypatch.setenv("FORGEYARD_WEBHOOK_MAX_ATTEMPTS", "2")
    get_settings.cache_clear()
    run = start_run(load_spec_text(spec_yaml()), {"a": 1}, fields={"webhook_url": failing_receiver})
    execute_run(run.id)
    retry, given_up = (
        value("forgeyard_webhook_failures_total", outcome=o) for o in ("retry", "given_up")
    )
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(run.id)
    assert webhooks.deliver(run.id) is False
    assert value("forgeyard_webhook_failures_total", outcome="retry") == retry + 1
    assert value("forgeyard_webhook_failures_total", outcome="given_up") == given_up + 1


def test_queue_depth_is_the_broker_list_length_at_scrape():
    broker = redis.Redis.from_url("redis://127.0.0.1:6379/15")
    queue = f"forgeyard-test-{uuid.uuid4().hex[:8]}"
    broker.rpush(queue, "a", "b", "c")
    try:
        registry = CollectorRegistry()
        registry.register(QueueDepth([queue], lambda q: int(broker.llen(q))))
        assert registry.get_sample_value("forgeyard_queue_depth", {"queue": queue}) == 3
        broker.lpop(queue)
        assert registry.get_sample_value("forgeyard_queue_depth", {"queue": queue}) == 2
    finally:
        broker.delete(queue)


def test_a_broker_outage_leaves_the_queue_depth_out_instead_of_failing_the_scrape():
    def down(_: str) -> int:
        raise redis.ConnectionError("broker down")

    registry = CollectorRegistry()
    registry.register(QueueDepth(["forgeyard"], down))
    assert registry.get_sample_value("forgeyard_queue_depth", {"queue": "forgeyard"}) is None


def test_the_worker_endpoint_serves_the_families_when_its_port_is_set(monkeypatch):
    assert start_worker_metrics(Settings()) is None  # unset: no endpoint
    port = free_port()
    monkeypatch.setenv("FORGEYARD_WORKER_METRICS_PORT", str(port))
    # A registry of its own, so the process-wide one keeps no test collector.
    monkeypatch.setattr(
        "forgeyard.telemetry.metrics.scrape_registry", lambda _: CollectorRegistry()
    )
    start_worker_metrics(Settings(), QueueDepth(["q1"], lambda _: 7))
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert 'forgeyard_queue_depth{queue="q1"} 7.0' in text


def test_multiprocess_mode_sums_every_process(tmp_path, monkeypatch):
    # Two processes record into the directory; one scrape sees both.
    script = (
        "from forgeyard.telemetry.metrics import REQUEUED; REQUEUED.labels('lease_expired').inc()"
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(REPO), "PATH": "/usr/bin"}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], env=env, check=True)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    registry = scrape_registry(Settings())
    assert registry is not REGISTRY
    assert (
        registry.get_sample_value("forgeyard_sweeper_requeued_total", {"reason": "lease_expired"})
        == 2
    )


def _families() -> set[str]:
    names = set()
    for metric in REGISTRY.collect():
        names.update(sample.name for sample in metric.samples)
    names.add("forgeyard_queue_depth")  # collected by the worker from the broker, at scrape
    return names


def test_every_metric_the_dashboard_queries_exists():
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bforgeyard_[a-z_]+", target["expr"])
    }
    assert queried, "the dashboard queries nothing"
    # Labelled families show no sample before their first event: name them by family.
    known = _families() | {
        f"{m.name}{suffix}"
        for m in REGISTRY.collect()
        for suffix in ("", "_total", "_bucket", "_count", "_sum")
    }
    assert queried - known == set()
    # And every worker family is on the dashboard.
    worker = {m.name for m in REGISTRY.collect() if m.name.startswith("forgeyard_")}
    panels = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    assert {name for name in worker if name not in panels} == set()
