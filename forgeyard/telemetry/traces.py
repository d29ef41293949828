"""OpenTelemetry traces: run → step → model call / tool call, off unless OTEL_* asks.

Spans follow the GenAI semantic conventions where they apply: a model call is
``chat {model}`` with ``gen_ai.operation.name=chat``, ``gen_ai.request.model``
and ``gen_ai.usage.input_tokens``/``output_tokens``; a tool call is
``execute_tool {tool}``.  Forgeyard's own attributes carry the ``forgeyard.``
prefix (``forgeyard.tenant``, ``forgeyard.run_id``, ``forgeyard.node``,
``forgeyard.adapter``), and come from :mod:`forgeyard.telemetry.context`.

Export is OTLP over HTTP only, to the endpoint the standard variables name
(``OTEL_EXPORTER_OTLP_ENDPOINT``, or ``OTEL_TRACES_EXPORTER=otlp`` with
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); nothing is sent anywhere else.  With
neither set, :func:`span` is a ``nullcontext``: no SDK is imported, no span made.
The provider is Forgeyard's own (not the global one), so nothing a library
installs globally decides where our spans go.

With tracing on, OpenTelemetry's own instrumentations are wired to that
provider too: Celery's (:func:`install` — a ``send_task`` gets a producer span
and carries the W3C ``traceparent`` in the message headers; the worker's task
span continues it) and FastAPI's (:func:`instrument_fastapi`, called by the
app factory — each request a server span).  So a run submitted over HTTP is
one trace: ``POST /v1/workflows/{name}/runs`` → ``apply_async/forgeyard.execute_run``
→ ``run/forgeyard.execute_run`` → ``run {workflow}`` → steps → model and tool calls.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from forgeyard.settings import Settings
from forgeyard.telemetry import context

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

__all__ = [
    "configure_tracing",
    "enabled",
    "install",
    "instrument_fastapi",
    "span",
    "tracing_wanted",
]

log = logging.getLogger("forgeyard.telemetry")

_tracer: Tracer | None = None
_provider: TracerProvider | None = None
# Health probes and scrapes every few seconds would drown the traces that matter.
_UNTRACED_URLS = "/healthz,/readyz,/metrics"
# context field → span attribute
_CONTEXT_ATTRIBUTES = {"run_id": "forgeyard.run_id", "tenant_id": "forgeyard.tenant"}


def tracing_wanted(settings: Settings) -> bool:
    """Whether the standard OTEL_* variables ask for traces."""
    exporter = (settings.otel_traces_exporter or "").strip().lower()
    if exporter == "none":
        return False
    return bool(exporter or settings.otel_exporter_otlp_endpoint)


def configure_tracing(settings: Settings, service: str) -> TracerProvider | None:
    """Export this process's spans over OTLP/HTTP if the OTEL_* variables ask for it."""
    if not tracing_wanted(settings):
        return None
    exporter = (settings.otel_traces_exporter or "otlp").strip().lower()
    if exporter != "otlp":
        log.warning(
            "OTEL_TRACES_EXPORTER=%s: only `otlp` (over HTTP) is supported; using it", exporter
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Resource.create reads OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES on top.
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    # The exporter reads the endpoint, headers and timeout from OTEL_EXPORTER_OTLP_*.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)
    log.info("traces: OTLP/HTTP export on (service %s)", service)
    return provider


def install(provider: TracerProvider | None) -> None:
    """Record spans with ``provider`` from now on (None: stop recording).

    Celery's instrumentation follows: on with a provider (message context
    propagated, task spans), off without one.
    """
    global _tracer, _provider
    _tracer = provider.get_tracer("forgeyard") if provider is not None else None
    if provider is not _provider:
        _instrument_celery(provider)
    _provider = provider


def _instrument_celery(provider: TracerProvider | None) -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    # A singleton: it holds the tracer it was given, so a new provider means
    # instrumenting again.
    instrumentor = CeleryInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    if provider is not None:
        instrumentor.instrument(tracer_provider=provider)


def instrument_fastapi(app: Any) -> bool:
    """Give each request to ``app`` a server span (FastAPI's instrumentation), if tracing is on.

    The span is current while the route runs, so what it sends to a worker
    (a run) continues the request's trace there.
    """
    if _provider is None:
        return False
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider, excluded_urls=_UNTRACED_URLS)
    return True


def enabled() -> bool:
    return _tracer is not None


def span(name: str, attributes: Mapping[str, Any] | None = None, *, client: bool = False) -> Any:
    """A context manager giving the current span, or None when tracing is off (no cost)."""
    if _tracer is None:
        return nullcontext(None)
    return _span(_tracer, name, attributes or {}, client)


@contextmanager
def _span(tracer: Tracer, name: str, attributes: Mapping[str, Any], client: bool) -> Iterator[Span]:
    from opentelemetry.trace import SpanKind

    values = context.current()
    merged = {attr: values[field] for field, attr in _CONTEXT_ATTRIBUTES.items() if field in values}
    merged.update({k: v for k, v in attributes.items() if v is not None})
    kind = SpanKind.CLIENT if client else SpanKind.INTERNAL
    with tracer.start_as_current_span(name, kind=kind, attributes=merged) as current:
        yield current
