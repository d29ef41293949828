"""Sending work to workers: one message per id, by task name.

Every caller records its work (a run, a webhook, an evaluation, a training
job, a promotion) in the database *before* sending, so a failed send only delays it until
the sweeper sends it again. Tasks are sent by name, so modules that send need
not import the task module (which imports them).
"""

from __future__ import annotations

import logging

from worker.app import app

__all__ = ["DELIVER_WEBHOOK", "EVALUATE", "EXECUTE_RUN", "PROMOTE", "SWEEP", "TRAIN", "send"]

log = logging.getLogger("forgeyard.worker")

EXECUTE_RUN = "forgeyard.execute_run"
SWEEP = "forgeyard.sweep"
DELIVER_WEBHOOK = "forgeyard.deliver_webhook"
EVALUATE = "forgeyard.evaluate_reward_model"
TRAIN = "forgeyard.train"
PROMOTE = "forgeyard.promote_adapter"


def send(task: str, object_id: str, *, queue: str, what: str) -> bool:
    """Send ``task(object_id)`` to ``queue``; False (logged) when the broker is unreachable."""
    try:
        app.send_task(task, (object_id,), queue=queue)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the sweeper sends it again
        log.warning("%s %s not enqueued (broker: %s)", what, object_id, exc)
        return False
    return True
