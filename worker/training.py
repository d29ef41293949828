"""GRPO training jobs as worker jobs: sending one to a training worker.

Training jobs go to their own queue (``FORGEYARD_TRAINING_QUEUE``), served by
workers started with ``forgeyard worker --queues training``, so an hour-long
job never holds up runs.  The job is recorded (queued) before it is sent, and
:func:`training.jobs.process_job` claims it, so a message delivered twice
trains it once; :func:`training.jobs.sweep` sends it again if the message or
its worker was lost.
"""

from __future__ import annotations

from forgeyard.settings import get_settings
from worker import messages

__all__ = ["enqueue"]


def enqueue(job_id: str) -> bool:
    """Send the job to a training worker; False (logged) when the broker is unreachable."""
    return messages.send(
        messages.TRAIN, job_id, queue=get_settings().training_queue, what="training job"
    )
