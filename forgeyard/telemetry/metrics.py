"""The workers' Prometheus metrics, recorded where each event happens.

Defined in the kernel so the layer where an event happens records it: the
nodes their steps, the model client its latency and tokens, the sweeper its
re-enqueues, webhook delivery its failures.  The API's own metrics (requests,
runs by status) stay in ``api/metrics.py``.  Label values are bounded: node
names come from specs, models from the configured model and adapters.

With ``PROMETHEUS_MULTIPROC_DIR`` set (before the process starts),
prometheus-client keeps values in files shared by every process, and
:func:`scrape_registry` collects them all: several API processes, or a
prefork worker's children, scraped through one endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from forgeyard.settings import Settings

__all__ = [
    "MODEL_LATENCY",
    "MODEL_RETRIES",
    "MODEL_TOKENS",
    "QueueDepth",
    "REQUEUED",
    "STEP_DURATION",
    "STEP_RETRIES",
    "WEBHOOK_FAILURES",
    "scrape_registry",
    "start_worker_metrics",
]

log = logging.getLogger("forgeyard.telemetry")

STEP_DURATION = Histogram(
    "forgeyard_step_duration_seconds",
    "Time of one try of a node (a trace step), by node kind, node and outcome.",
    ["kind", "node", "status"],
)
STEP_RETRIES = Counter(
    "forgeyard_step_retries_total",
    "Tries of a node after its first on the same visit (the node's retry policy).",
    ["kind", "node"],
)
MODEL_LATENCY = Histogram(
    "forgeyard_model_request_duration_seconds",
    "Time the model server took to answer one chat completion.",
    ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
MODEL_TOKENS = Counter(
    "forgeyard_model_tokens_total",
    "Tokens of chat completions, prompt and completion, as the server counted them.",
    ["model", "type"],
)
MODEL_RETRIES = Counter(
    "forgeyard_model_connect_retries_total",
    "Requests sent again because the model server was unreachable or answered 5xx.",
    ["model"],
)
REQUEUED = Counter(
    "forgeyard_sweeper_requeued_total",
    "Runs the sweeper enqueued again: `lease_expired` (their worker died or froze) or "
    "`not_picked_up` (their message was lost).",
    ["reason"],
)
WEBHOOK_FAILURES = Counter(
    "forgeyard_webhook_failures_total",
    "Webhook tries that failed: `retry` (another follows), `given_up`, `refused` (allowlist).",
    ["outcome"],
)


class QueueDepth(Collector):
    """``forgeyard_queue_depth``: messages waiting in each queue, asked at scrape time."""

    def __init__(self, queues: Iterable[str], length: Callable[[str], int]) -> None:
        self.queues = list(queues)
        self.length = length

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "forgeyard_queue_depth",
            "Messages waiting in the queue (broker list length).",
            labels=["queue"],
        )
        for queue in self.queues:
            try:
                family.add_metric([queue], self.length(queue))
            except Exception as exc:  # noqa: BLE001 - a scrape never fails on a broker outage
                log.warning("queue depth of %s unknown: %s", queue, exc)
        yield family


def scrape_registry(settings: Settings) -> CollectorRegistry:
    """What an endpoint serves: every process's values in multiprocess mode, else this one's."""
    if settings.prometheus_multiproc_dir is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(settings.prometheus_multiproc_dir))
    return registry


def start_worker_metrics(settings: Settings, *collectors: Collector) -> CollectorRegistry | None:
    """Serve the metrics on ``worker_metrics_port`` (when set), with extra ``collectors``."""
    if settings.worker_metrics_port is None:
        return None
    registry = scrape_registry(settings)
    for collector in collectors:
        registry.register(collector)
    start_http_server(settings.worker_metrics_port, registry=registry)
    log.info("worker metrics on :%d/metrics", settings.worker_metrics_port)
    return registry
