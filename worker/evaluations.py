"""Reward-model evaluations as worker jobs: sending one to a worker.

The evaluation is recorded (queued) in the database before it is sent, and
:func:`rewards.store.process_evaluation` claims it, so a message delivered
twice runs it once.
"""

from __future__ import annotations

import logging

from forgeyard.settings import get_settings

__all__ = ["enqueue"]

log = logging.getLogger("forgeyard.worker")


def enqueue(evaluation_id: str) -> bool:
    """Send the evaluation to a worker; False (logged) when the broker is unreachable."""
    from worker.tasks import evaluate_reward_model_task

    try:
        evaluate_reward_model_task.apply_async((evaluation_id,), queue=get_settings().queue)
    except Exception as exc:  # noqa: BLE001 - any broker failure: the record stays queued
        log.warning("evaluation %s not enqueued (broker: %s)", evaluation_id, exc)
        return False
    return True
