"""The one Celery app, configured from settings.

Redis only carries messages; a lost message costs nothing because the sweeper
re-enqueues every unfinished run the database knows about.

* ``acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged
  after its task ends, so a worker that dies mid-run does not lose it.
* prefetch 1: a worker holds one message at a time, so a long run never keeps
  queued runs from idle workers.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals

from forgeyard.db import SchemaNotReady, wait_for_schema
from forgeyard.settings import apply_offline_environment, get_settings
from forgeyard.telemetry.logs import configure_logging
from forgeyard.telemetry.metrics import QueueDepth, start_worker_metrics
from forgeyard.telemetry.traces import configure_tracing

apply_offline_environment()
log = logging.getLogger("forgeyard.worker")


def make_app() -> Celery:
    """A Celery app for the current settings."""
    settings = get_settings()
    celery = Celery("forgeyard", include=["worker.tasks"])
    celery.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        task_default_queue=settings.queue,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        # Publishing gives up quickly: the run is already in the database and
        # the sweeper enqueues it once the broker is back.
        task_publish_retry_policy={
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 1,
        },
        worker_hijack_root_logger=False,
        beat_schedule={
            "sweep": {
                "task": "forgeyard.sweep",
                "schedule": settings.sweep_interval_seconds,
                "options": {"expires": settings.sweep_interval_seconds},
            }
        },
    )
    return celery


app = make_app()


@signals.setup_logging.connect
def _setup_logging(loglevel: Any = None, **_: Any) -> None:
    # Connected, so Celery leaves the root logger to us: the same text or JSON
    # lines (with run, tenant, node) as the API's, at the worker's --loglevel.
    settings = get_settings()
    configure_logging(settings.log_format, loglevel or settings.log_level)


@signals.worker_init.connect
def _wait_for_schema(**_: Any) -> None:
    # However the worker was started (`forgeyard worker`, `celery -A worker.app`),
    # it serves only a database at the schema it needs; SystemExit passes
    # through Celery's signal dispatch, which swallows other errors.
    try:
        wait_for_schema()
    except SchemaNotReady as exc:
        log.error("worker not started: %s", exc)
        raise SystemExit(f"worker not started: {exc}") from None


@signals.worker_init.connect
def _serve_metrics_and_traces(**_: Any) -> None:
    # In the worker's main process, before the pool forks: a prefork pool's
    # children record into PROMETHEUS_MULTIPROC_DIR, which this endpoint reads.
    import redis

    settings = get_settings()
    # The SDK's batch processor restarts its thread in each forked child.
    configure_tracing(settings, "forgeyard-worker")
    if settings.worker_metrics_port is None:
        return
    broker = redis.Redis.from_url(settings.broker_url, socket_timeout=2)
    queues = (settings.queue, settings.training_queue)
    start_worker_metrics(settings, QueueDepth(queues, lambda queue: int(broker.llen(queue))))
