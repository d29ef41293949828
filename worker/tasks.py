"""Thin Celery tasks: each takes an id and calls a plain function in `worker.runs`,
`worker.webhooks`, `rewards.store`, `training.jobs` or `training.promotions`, which tests
call without a broker."""

from __future__ import annotations

from typing import Any

from rewards import store as reward_store
from training import jobs as training_jobs
from training import promotions
from worker import evaluations, messages, runs, training, webhooks
from worker import promotions as promotion_messages
from worker.app import app


@app.task(name=messages.EXECUTE_RUN)
def execute_run_task(run_id: str) -> None:
    """Execute (or resume) a run; nothing happens for a finished run or one another worker holds."""
    runs.process_run(run_id)


@app.task(name=messages.SWEEP)
def sweep_task() -> None:
    """Re-enqueue runs, training jobs, evaluations and promotions whose worker died or whose
    message was lost (each on its lease, forgeyard.leases)."""
    runs.sweep()
    training_jobs.sweep(training.enqueue)
    reward_store.sweep_evaluations(evaluations.enqueue)
    promotions.sweep_promotions(promotion_messages.enqueue)


@app.task(name=messages.DELIVER_WEBHOOK, bind=True, max_retries=None)
def deliver_webhook_task(self: Any, delivery_id: str) -> None:
    """Deliver one webhook event; on failure try again later, with exponential backoff."""
    try:
        webhooks.deliver(delivery_id)
    except webhooks.WebhookFailed as exc:
        raise self.retry(countdown=webhooks.backoff(self.request.retries), exc=exc) from None


@app.task(name=messages.EVALUATE)
def evaluate_reward_model_task(evaluation_id: str) -> None:
    """Run a queued reward-model evaluation, storing its progress and report."""
    reward_store.process_evaluation(evaluation_id)


@app.task(name=messages.TRAIN)
def train_task(job_id: str) -> None:
    """Run (or resume from its checkpoint) a queued GRPO training job; on the training queue."""
    training_jobs.process_job(job_id)


@app.task(name=messages.PROMOTE)
def promote_adapter_task(promotion_id: str) -> None:
    """Run a queued promotion's gate; the adapter becomes active only if it passes."""
    promotions.process_promotion(promotion_id)
