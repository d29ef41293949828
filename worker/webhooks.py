"""Webhooks: a finished run is announced to its ``webhook_url``.

The body is signed with HMAC-SHA256 over ``"<timestamp>.<body>"`` with the
installation's webhook secret; receivers recompute it (see :func:`sign`) and
reject stale timestamps.  Each try is counted on the run; after
``webhook_max_attempts`` the last error is kept and no more tries are made.

Errors::

    WebhookFailed             this try failed and another one should follow
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx

from agents.runner import RunNotFound, get_run
from forgeyard.db import session_scope
from forgeyard.models import Run, utcnow
from forgeyard.settings import get_settings

__all__ = ["WebhookFailed", "backoff", "deliver", "payload", "sign"]

log = logging.getLogger("forgeyard.webhooks")

SIGNATURE_HEADER = "X-Forgeyard-Signature"
TIMESTAMP_HEADER = "X-Forgeyard-Timestamp"


class WebhookFailed(Exception):
    """A webhook try failed; the task retries it later."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def backoff(retries: int) -> float:
    """Seconds to wait before try number ``retries + 2``: doubles each time."""
    return get_settings().webhook_backoff_seconds * (2**retries)


def payload(run: Run) -> dict[str, Any]:
    return {
        "event": "run.finished",
        "run": {
            "id": run.id,
            "workflow": run.workflow,
            "workflow_version": run.workflow_version,
            "spec_hash": run.spec_hash,
            "status": run.status.value,
            "output": run.output,
            "error": run.error,
            "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        },
    }


def deliver(run_id: str) -> bool:
    """Make one try at delivering the webhook of ``run_id``.

    Returns:
        True when delivered (or nothing to deliver), False when the tries are
        used up.  Raises :class:`WebhookFailed` when another try should follow.
    """
    settings = get_settings()
    try:
        run = get_run(run_id)
    except RunNotFound:
        log.warning("webhook for run %s skipped: no such run", run_id)
        return True
    if not run.webhook_url or run.webhook_delivered_at is not None:
        return True
    body = json.dumps(payload(run), separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "forgeyard-webhook",
        "X-Forgeyard-Event": "run.finished",
        "X-Forgeyard-Run": run.id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(settings.webhook_secret, timestamp, body),
    }
    error: str | None = None
    try:
        response = httpx.post(
            run.webhook_url,
            content=body,
            headers=headers,
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
        )
        if not 200 <= response.status_code < 300:
            error = f"HTTP {response.status_code} from {run.webhook_url}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__} calling {run.webhook_url}: {exc}"

    with session_scope() as session:
        record = session.get(Run, run_id)
        assert record is not None
        record.webhook_attempts += 1
        record.webhook_error = error
        if error is None:
            record.webhook_delivered_at = utcnow()
        session.add(record)
        attempts = record.webhook_attempts
    if error is None:
        log.info("webhook for run %s delivered (try %d)", run_id, attempts)
        return True
    if attempts >= settings.webhook_max_attempts:
        log.error("webhook for run %s given up after %d tries: %s", run_id, attempts, error)
        return False
    log.warning("webhook for run %s failed (try %d): %s", run_id, attempts, error)
    raise WebhookFailed(error)
