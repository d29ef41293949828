"""Traces: run → step → model call / tool call spans, in memory and over real OTLP/HTTP."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agents.runner import execute_run, start_run
from forgeyard.models import RunStatus
from forgeyard.settings import Settings, get_settings
from forgeyard.telemetry import traces
from tests.support.specs import spec_dict, spec_yaml, to_yaml
from workflows.loader import load_spec_text


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traces.install(provider)
    yield exporter
    traces.install(None)


def by_name(finished: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in finished}


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


def test_off_by_default_and_when_the_exporter_is_none(monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    assert traces.configure_tracing(Settings(), "test") is None
    assert not traces.enabled()
    with traces.span("anything") as span:
        assert span is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not traces.tracing_wanted(Settings())


def test_a_tool_run_gives_run_step_and_tool_spans(sqlite_db, spans):
    run = start_run(load_spec_text(spec_yaml()), {"a": 2, "b": 1}, tenant_id="acme")
    assert execute_run(run.id).status == RunStatus.succeeded
    named = by_name(spans.get_finished_spans())
    root = named["run adder"]
    assert root.parent is None
    assert root.attributes["forgeyard.run_id"] == run.id
    assert root.attributes["forgeyard.tenant"] == "acme"
    assert root.attributes["forgeyard.run.status"] == "succeeded"
    for node in ("add", "check", "pay", "gate", "done"):
        step = named[f"step {node}"]
        assert parent_of(step) == root.context.span_id
        assert step.attributes["forgeyard.node"] == node
        assert step.attributes["forgeyard.step.status"] == "ok"
        assert step.attributes["forgeyard.run_id"] == run.id
    tool = named["execute_tool test.charge"]
    assert parent_of(tool) == named["step pay"].context.span_id
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["forgeyard.side_effect"] is True


def sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_an_llm_run_gives_a_chat_span_with_token_counts(
    sqlite_db, spans, model_server, monkeypatch
):
    monkeypatch.setenv("FORGEYARD_MODEL_BASE_URL", model_server.base_url)
    get_settings.cache_clear()
    text = to_yaml(
        spec_dict(
            state={"answer": {"type": "object"}},
            start="ask",
            nodes={
                "ask": {
                    "kind": "llm",
                    "prompt": "a is {{ input.a }}",
                    "model": {"max_tokens": 16},
                    "output": {"into": "answer", "schema": {"type": "object"}},
                },
                "done": {"kind": "end", "output": {"answer": "answer"}},
            },
            edges=[{"from": "ask", "to": "done"}],
        )
    )
    model = get_settings().model_name
    tokens = sample("forgeyard_model_tokens_total", model=model, type="completion")
    latency = sample("forgeyard_model_request_duration_seconds_count", model=model)
    run = start_run(load_spec_text(text), {"a": 1})
    execute_run(run.id)  # a random-weight model may or may not give valid JSON: both are spans
    finished = spans.get_finished_spans()
    named = by_name(finished)
    chats = [span for span in finished if span.name == f"chat {model}"]
    steps = {span.context.span_id for span in finished if span.name == "step ask"}
    assert chats and len(chats) == len(steps)  # one call per try of the node
    assert all(
        parent_of(step) == named["run adder"].context.span_id
        for step in (s for s in finished if s.name == "step ask")
    )
    for chat in chats:
        assert parent_of(chat) in steps
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.request.model"] == model
        assert chat.attributes["forgeyard.node"] == "ask"
        assert chat.attributes["forgeyard.run_id"] == run.id
        assert chat.attributes["gen_ai.usage.input_tokens"] > 0
        assert chat.attributes["gen_ai.usage.output_tokens"] > 0
    # The same calls in the metrics.
    completion = sum(chat.attributes["gen_ai.usage.output_tokens"] for chat in chats)
    assert (
        sample("forgeyard_model_tokens_total", model=model, type="completion")
        == tokens + completion
    )
    assert sample("forgeyard_model_request_duration_seconds_count", model=model) == latency + len(
        chats
    )


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    received: list[ExportTraceServiceRequest] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/v1/traces":
                received.append(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
            else:
                self.send_response(404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()


def test_spans_reach_an_otlp_http_receiver(sqlite_db, receiver, monkeypatch):
    endpoint, received = receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    provider = traces.configure_tracing(Settings(), "forgeyard-test")
    assert provider is not None
    try:
        run = start_run(load_spec_text(spec_yaml()), {"a": 2, "b": 1})
        execute_run(run.id)
        assert provider.force_flush(10_000)
    finally:
        provider.shutdown()
        traces.install(None)
    spans = [
        span
        for request in received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    names = {span.name for span in spans}
    assert {"run adder", "step add", "step pay", "execute_tool test.charge"} <= names
    resource = received[0].resource_spans[0].resource
    service = {a.key: a.value.string_value for a in resource.attributes}["service.name"]
    assert service == "forgeyard-test"
    root = next(span for span in spans if span.name == "run adder")
    attributes = {a.key: a.value.string_value for a in root.attributes}
    assert attributes["forgeyard.run_id"] == run.id
