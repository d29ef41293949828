"""Accepting runs: idempotent creation, then a message to the workers.

With an ``Idempotency-Key``, the run row carries the key and a hash of the
request; the unique ``(tenant_id, idempotency_key)`` constraint makes
concurrent duplicates collapse onto one run.

Errors::

    IdempotencyConflict       the key was used before with a different request

A ``webhook_url`` outside the operator's allowlist is refused before anything
is stored (:class:`worker.webhooks.WebhookRefused`, a 422 naming the field).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from agents.runner import start_run
from forgeyard.db import session_scope
from forgeyard.models import Run, utcnow
from worker.runs import enqueue
from worker.webhooks import check_url
from workflows.loader import LoadedSpec

__all__ = ["IdempotencyConflict", "request_hash", "submit"]


class IdempotencyConflict(Exception):
    pass


def request_hash(workflow: str, body: dict[str, Any]) -> str:
    canonical = json.dumps({"workflow": workflow, "body": body}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _existing(tenant_id: str, key: str, digest: str) -> Run | None:
    with session_scope() as session:
        run = session.exec(
            select(Run).where(Run.tenant_id == tenant_id, Run.idempotency_key == key)
        ).first()
    if run is not None and run.request_hash != digest:
        raise IdempotencyConflict(
            f"Idempotency-Key `{key}` was already used for a different request "
            f"(run `{run.id}`); use a new key for a new request."
        )
    return run


def submit(
    tenant_id: str,
    name: str,
    loaded: LoadedSpec,
    body: dict[str, Any],
    *,
    idempotency_key: str | None = None,
) -> tuple[Run, bool]:
    """Create (or find again) the run for this request; ``(run, created)``."""
    if body.get("webhook_url"):
        check_url(str(body["webhook_url"]))
    digest = request_hash(name, body)
    if idempotency_key is not None:
        found = _existing(tenant_id, idempotency_key, digest)
        if found is not None:
            return found, False
    fields = {
        "idempotency_key": idempotency_key,
        "request_hash": digest,
        "webhook_url": body.get("webhook_url"),
        "enqueued_at": utcnow(),
    }
    try:
        run = start_run(
            loaded,
            body.get("input") or {},
            config=body.get("config") or None,
            tenant_id=tenant_id,
            fields=fields,
        )
    except IntegrityError:
        if idempotency_key is None:
            raise
        # A concurrent request with the same key committed first.
        found = _existing(tenant_id, idempotency_key, digest)
        assert found is not None
        return found, False
    enqueue(run.id)
    return run, True
