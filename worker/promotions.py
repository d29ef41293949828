"""Adapter promotions as worker jobs: sending one to a worker.

The promotion is recorded (queued) before it is sent, and
:func:`training.promotions.process_promotion` takes its lease, so a message
delivered twice runs the gate once; :func:`training.promotions.sweep_promotions`
sends it again if the message or its worker was lost.
"""

from __future__ import annotations

from forgeyard.settings import get_settings
from worker import messages

__all__ = ["enqueue"]


def enqueue(promotion_id: str) -> bool:
    """Send the promotion to a worker; False (logged) when the broker is unreachable."""
    return messages.send(
        messages.PROMOTE, promotion_id, queue=get_settings().queue, what="promotion"
    )
