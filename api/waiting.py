"""Waiting for a run to settle: finished, or waiting for a person.

The wait polls the database (``events_poll_seconds``) with a short session per
look, so a waiting request holds no database connection between looks and
many can wait at once on one API process.  The wait is bounded by
``run_wait_max_seconds``; when time is up the run comes back as it stands.
"""

from __future__ import annotations

import asyncio

from fastapi import Response
from fastapi.concurrency import run_in_threadpool

from agents.runner import get_run
from forgeyard.models import Run, RunStatus
from forgeyard.settings import get_settings

__all__ = ["WAIT_HEADER", "settled", "wait_for_run"]

# `settled` when the run finished or waits for a person, `timeout` when time ran out first.
WAIT_HEADER = "Forgeyard-Wait"


def settled(run: Run) -> bool:
    """Whether the run will not move on by itself: finished, or waiting for an approval."""
    return run.status.finished or run.status == RunStatus.waiting_approval


async def wait_for_run(
    run_id: str, *, tenant_id: str, seconds: float, response: Response | None = None
) -> Run:
    """The run once settled, or as it stands after ``seconds`` (capped by the setting).

    Raises:
        RunNotFound: no such run for this tenant.
    """
    settings = get_settings()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(max(seconds, 0.0), settings.run_wait_max_seconds)
    while True:
        run = await run_in_threadpool(get_run, run_id, tenant_id=tenant_id)
        done = settled(run)
        left = deadline - loop.time()
        if done or left <= 0:
            if response is not None:
                response.headers[WAIT_HEADER] = "settled" if done else "timeout"
            return run
        await asyncio.sleep(min(settings.events_poll_seconds, left))
