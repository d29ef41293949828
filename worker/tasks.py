"""Thin Celery tasks: each takes an id and calls a plain function in `worker.runs`,
`worker.webhooks` or `rewards.store`, which tests call without a broker."""

from __future__ import annotations

from typing import Any

from rewards import store as reward_store
from worker import runs, webhooks
from worker.app import app


@app.task(name="forgeyard.execute_run")
def execute_run_task(run_id: str) -> None:
    """Execute (or resume) a run; nothing happens for a finished run or one another worker holds."""
    runs.process_run(run_id)


@app.task(name="forgeyard.sweep")
def sweep_task() -> None:
    """Re-enqueue runs whose worker died or whose message was lost."""
    runs.sweep()


@app.task(name="forgeyard.deliver_webhook", bind=True, max_retries=None)
def deliver_webhook_task(self: Any, run_id: str) -> None:
    """Call the run's webhook; on failure try again later, with exponential backoff."""
    try:
        webhooks.deliver(run_id)
    except webhooks.WebhookFailed as exc:
        raise self.retry(countdown=webhooks.backoff(self.request.retries), exc=exc) from None


@app.task(name="forgeyard.evaluate_reward_model")
def evaluate_reward_model_task(evaluation_id: str) -> None:
    """Run a queued reward-model evaluation, storing its progress and report."""
    reward_store.process_evaluation(evaluation_id)
