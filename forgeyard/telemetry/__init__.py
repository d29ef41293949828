"""Observability: log context and formats, Prometheus metrics, OpenTelemetry traces.

In the kernel so that every layer records where its events happen (the model
client its latency, the sweeper its re-enqueues) without importing a higher one.
Everything here is off, or as cheap as the standard library, unless configured:

* :mod:`forgeyard.telemetry.context` — which run, tenant, node and attempt a log line is about
* :mod:`forgeyard.telemetry.logs` — ``FORGEYARD_LOG_FORMAT=text|json``
* :mod:`forgeyard.telemetry.metrics` — the worker's metric families and their HTTP endpoint
* :mod:`forgeyard.telemetry.traces` — spans, exported over OTLP/HTTP when OTEL_* says so
"""
