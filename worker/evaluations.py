"""Reward-model evaluations as worker jobs: sending one to a worker.

The evaluation is recorded (queued) in the database before it is sent, and
:func:`rewards.store.process_evaluation` claims it, so a message delivered
twice runs it once.
"""

from __future__ import annotations

from forgeyard.settings import get_settings
from worker import messages

__all__ = ["enqueue"]


def enqueue(evaluation_id: str) -> bool:
    """Send the evaluation to a worker; False (logged) when the broker is unreachable."""
    return messages.send(
        messages.EVALUATE, evaluation_id, queue=get_settings().queue, what="evaluation"
    )
