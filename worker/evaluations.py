"""Reward-model evaluations as worker jobs: sending one to a worker.

The evaluation is recorded (queued) in the database before it is sent, and
:func:`rewards.store.process_evaluation` takes its lease, so a message
delivered twice runs it once; :func:`rewards.store.sweep_evaluations` sends it
again if the message or its worker was lost.
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
