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
