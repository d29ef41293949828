"""One trace from the HTTP request to the run's steps, through Redis and a real Celery worker.

OpenTelemetry's FastAPI and Celery instrumentations (wired by
forgeyard.telemetry.traces when tracing is on) carry the request's context in
the task message; the worker's run spans continue it.  The worker runs in this
process (Celery's test worker, on the real broker) so one in-memory exporter
sees both sides.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from forgeyard.settings import get_settings
from forgeyard.telemetry import traces
from tests.support.service import make_tenant, new_client, purge_queue, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traces.install(provider)
    yield exporter
    traces.install(None)


@pytest.fixture
def celery_worker(sqlite_db: str) -> Iterator[None]:
    """A Celery worker thread in this process, on this session's queue of the real Redis."""
    from celery.contrib.testing.worker import start_worker

    from worker.app import app

    purge_queue()
    with start_worker(
        app,
        pool="solo",
        perform_ping_check=False,
        queues=[get_settings().queue],
        loglevel="WARNING",
    ):
        yield
    purge_queue()


def ancestors(span: ReadableSpan, finished: tuple[ReadableSpan, ...]) -> list[ReadableSpan]:
    """``span``'s parents, nearest first, as far as the recorded spans go."""
    by_id = {s.context.span_id: s for s in finished}
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


def test_the_request_span_parents_the_run_through_the_worker(spans, celery_worker):
    with new_client() as client:
        tenant = make_tenant(client)
        tenant.register()
        run = tenant.submit({"a": 2, "b": 1})
        wait_for(
            lambda: tenant.get(f"/v1/runs/{run['id']}").json()["status"] == "succeeded",
            timeout=60,
            what="the run",
        )
        consumer = "run/forgeyard.execute_run"
        wait_for(
            lambda: any(s.name == consumer for s in spans.get_finished_spans()),
            timeout=30,
            what="the worker's task span",
        )
    finished = spans.get_finished_spans()
    root = next(
        s
        for s in finished
        if s.name == "run adder" and s.attributes.get("forgeyard.run_id") == run["id"]
    )
    chain = ancestors(root, finished)
    names = [s.name for s in chain]
    assert names[:2] == [consumer, "apply_async/forgeyard.execute_run"], names
    task, publish, request = chain[0], chain[1], chain[-1]
    assert task.kind == SpanKind.CONSUMER
    assert publish.kind == SpanKind.PRODUCER
    assert request.kind == SpanKind.SERVER
    assert request.parent is None
    assert request.name == "POST /v1/workflows/{name}/runs"
    assert request.attributes["http.route"] == "/v1/workflows/{name}/runs"
    # One trace, from the request down to the run's steps.
    steps = [s for s in finished if s.name.startswith("step ") and s.parent == root.context]
    assert {s.name for s in steps} >= {"step add", "step pay"}
    trace_ids = {s.context.trace_id for s in (*chain, root, *steps)}
    assert trace_ids == {request.context.trace_id}


def test_probes_and_scrapes_make_no_spans(spans, sqlite_db):
    with new_client() as client:
        assert client.get("/healthz").status_code == 200
        client.get("/metrics")
    assert not [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]


def test_no_instrumentation_when_tracing_is_off(sqlite_db):
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    traces.install(None)
    assert not CeleryInstrumentor().is_instrumented_by_opentelemetry
    with new_client() as client:
        assert not getattr(client.app, "_is_instrumented_by_opentelemetry", False)
