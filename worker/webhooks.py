"""Webhooks: a run announces to its ``webhook_url`` that it waits for a person or finished.

Each event is a :class:`~forgeyard.models.WebhookDelivery` row, created once
(:func:`announce`, unique per run and happening) and delivered by a worker task
that takes its id.  Calls follow `Standard Webhooks <https://www.standardwebhooks.com>`_:
headers ``webhook-id`` (the delivery id, the same on every try and redelivery),
``webhook-timestamp`` (unix seconds of this try) and ``webhook-signature``:
``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``.  The key is the
secret's bytes: a ``whsec_<base64>`` secret is decoded, any other is used as
its UTF-8 text (give receivers ``whsec_`` + its base64 then).  During a rotation
(``webhook_previous_secret`` set) the header carries one signature per secret,
space-separated, and a receiver accepts the call when any of them matches.
Each try is counted on the delivery; after ``webhook_max_attempts`` it is
``failed`` and kept, and :func:`redeliver` queues it again.

A webhook goes only where the operator allows (``webhook_allowed_hosts``):
checked when a run is submitted and again, with the addresses the name
resolves to then, before each try, so a tenant cannot make a worker call an
internal service (the model server's admin endpoints, a metadata service).

Errors::

    WebhookFailed             this try failed and another one should follow
    WebhookRefused            the URL's host is not allowed (ValueError)
    DeliveryNotFound          no such delivery for this run (LookupError)
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from agents.runner import RunNotFound, get_run
from forgeyard.db import session_scope
from forgeyard.models import DeliveryStatus, Run, Step, WebhookDelivery, utcnow
from forgeyard.settings import get_settings
from forgeyard.telemetry import metrics

__all__ = [
    "EVENT_FINISHED",
    "EVENT_WAITING_APPROVAL",
    "DeliveryNotFound",
    "WebhookFailed",
    "WebhookRefused",
    "announce",
    "backoff",
    "check_url",
    "deliver",
    "deliveries",
    "payload",
    "redeliver",
    "secret_key",
    "sign",
    "signature_header",
]

log = logging.getLogger("forgeyard.webhooks")

EVENT_WAITING_APPROVAL = "run.waiting_approval"
EVENT_FINISHED = "run.finished"
SECRET_PREFIX = "whsec_"


class WebhookFailed(Exception):
    """A webhook try failed; the task retries it later."""


class WebhookRefused(ValueError):
    """The webhook URL points at a host the operator does not allow."""


class DeliveryNotFound(LookupError):
    """No webhook delivery with that id on that run."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a configured secret: ``whsec_<base64>`` decoded, else its UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :] + "==")
    return secret.encode()


def sign(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """One Standard Webhooks signature (``v1,<base64>``) of ``body`` as message ``msg_id``."""
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(msg_id: str, timestamp: str, body: bytes) -> str:
    """The ``webhook-signature`` header: one signature per valid secret (two during a rotation)."""
    settings = get_settings()
    secrets = [settings.webhook_secret]
    if settings.webhook_previous_secret:
        secrets.append(settings.webhook_previous_secret)
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets)


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []  # matches no network: refused below, like any other host
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def check_url(url: str) -> None:
    """Refuse ``url`` unless its host is allowed by ``webhook_allowed_hosts``.

    A host is allowed when it matches a name pattern, or when every address it
    resolves to (now) lies in an allowed network.

    Raises:
        WebhookRefused: naming the host and the setting.
    """
    allowed = get_settings().webhook_allowed_hosts
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise WebhookRefused(f"`{url}` is not an http(s) URL with a host")
    if not allowed:
        raise WebhookRefused(
            "webhooks are off on this installation: FORGEYARD_WEBHOOK_ALLOWED_HOSTS is empty "
            f"(ask the operator to allow `{host}`)"
        )
    networks = []
    for entry in allowed:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            if fnmatch.fnmatchcase(host, entry.lower()):
                return
    addresses = _addresses(host) if networks else []
    if addresses and all(any(a in net for net in networks) for a in addresses):
        return
    raise WebhookRefused(
        f"webhook host `{host}` is not allowed by FORGEYARD_WEBHOOK_ALLOWED_HOSTS "
        f"({', '.join(allowed)})"
    )


def backoff(retries: int) -> float:
    """Seconds to wait before try number ``retries + 2``: doubles each time."""
    return get_settings().webhook_backoff_seconds * (2**retries)


def payload(run: Run, event: str) -> dict[str, Any]:
    """The body of ``event`` for ``run``, Standard Webhooks' shape: type, timestamp, data."""
    return {
        "type": event,
        "timestamp": utcnow().isoformat(),
        "data": {
            "id": run.id,
            "workflow": run.workflow,
            "workflow_version": run.workflow_version,
            "spec_hash": run.spec_hash,
            "status": run.status.value,
            "pending_approval": run.pending_approval,
            "output": run.output,
            "error": run.error,
            "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "links": {"self": f"/v1/runs/{run.id}"},
        },
    }


def _event_key(session: Any, run: Run, event: str) -> str:
    if event != EVENT_WAITING_APPROVAL:
        return event
    # A run may wait more than once (several approvals, a loop): each wait is
    # its own event, named by the interrupted step that began it.
    seq = session.exec(
        select(Step.seq).where(Step.run_id == run.id).order_by(col(Step.seq).desc())
    ).first()
    return f"{event}@{seq or 0}"


def announce(run_id: str, event: str) -> str | None:
    """Record ``event`` for the run (once per happening); the delivery id to send, or None.

    None when the run has no webhook, or this event was recorded before (a
    task that ran twice): the first recording sent it.
    """
    with session_scope() as session:
        run = session.get(Run, run_id)
        if run is None or not run.webhook_url:
            return None
        key = _event_key(session, run, event)
        delivery = WebhookDelivery(
            id=f"msg_{uuid.uuid4().hex}",
            run_id=run.id,
            event=event,
            key=key,
            url=run.webhook_url,
            payload=payload(run, event),
        )
        exists = session.exec(
            select(WebhookDelivery.id).where(
                WebhookDelivery.run_id == run.id, WebhookDelivery.key == key
            )
        ).first()
        if exists is not None:
            return None
        session.add(delivery)
        try:
            session.flush()
        except IntegrityError:  # a concurrent announcement of the same event won
            session.rollback()
            return None
        return delivery.id


def deliveries(run_id: str) -> list[WebhookDelivery]:
    """The run's webhook events, oldest first, each with its delivery status."""
    with session_scope() as session:
        return list(
            session.exec(
                select(WebhookDelivery)
                .where(WebhookDelivery.run_id == run_id)
                .order_by(col(WebhookDelivery.created_at), col(WebhookDelivery.id))
            )
        )


def redeliver(run_id: str, delivery_id: str, *, tenant_id: str) -> WebhookDelivery:
    """Queue a delivery again (same id and body), with a fresh set of tries.

    Raises:
        RunNotFound: no such run for this tenant.
        DeliveryNotFound: the run has no delivery ``delivery_id``.
        WebhookRefused: the URL's host is no longer allowed.
    """
    get_run(run_id, tenant_id=tenant_id)
    with session_scope() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.run_id != run_id:
            raise DeliveryNotFound(f"Run `{run_id}` has no webhook delivery `{delivery_id}`.")
        check_url(delivery.url)
        delivery.status = DeliveryStatus.pending
        delivery.attempts = 0
        delivery.redeliveries += 1
        delivery.delivered_at = None
        session.add(delivery)
        session.flush()
        session.refresh(delivery)
        return delivery


def _legacy(run_id: str) -> str | None:
    # A message queued before deliveries existed names the run: its finish event.
    try:
        run = get_run(run_id)
    except RunNotFound:
        return None
    if run.webhook_delivered_at is not None:
        return None
    announce(run_id, EVENT_FINISHED)
    with session_scope() as session:
        return session.exec(
            select(WebhookDelivery.id).where(
                WebhookDelivery.run_id == run_id, WebhookDelivery.key == EVENT_FINISHED
            )
        ).first()


def deliver(delivery_id: str) -> bool:
    """Make one try at delivering the webhook event ``delivery_id``.

    Returns:
        True when delivered (or nothing to deliver), False when the tries are
        used up or the host is refused.  Raises :class:`WebhookFailed` when
        another try should follow.
    """
    settings = get_settings()
    with session_scope() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        legacy = _legacy(delivery_id)
        if legacy is None:
            log.warning("webhook delivery %s skipped: no such delivery", delivery_id)
            return True
        return deliver(legacy)
    if delivery.status != DeliveryStatus.pending:
        return True
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "forgeyard-webhook",
        # Unsigned conveniences for routing; the signed body says the same.
        "X-Forgeyard-Event": delivery.event,
        "X-Forgeyard-Run": delivery.run_id,
        "webhook-id": delivery.id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature_header(delivery.id, timestamp, body),
    }
    try:
        # Again at each try: the allowlist may have changed, or the name may
        # resolve elsewhere now.
        check_url(delivery.url)
    except WebhookRefused as exc:
        _record_try(delivery_id, None, f"refused: {exc}", give_up=True)
        metrics.WEBHOOK_FAILURES.labels("refused").inc()
        log.error("webhook %s of run %s refused: %s", delivery_id, delivery.run_id, exc)
        return False
    error: str | None = None
    code: int | None = None
    try:
        response = httpx.post(
            delivery.url,
            content=body,
            headers=headers,
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
        )
        code = response.status_code
        if not 200 <= code < 300:
            error = f"HTTP {code} from {delivery.url}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__} calling {delivery.url}: {exc}"

    attempts = _record_try(delivery_id, code, error)
    what = f"webhook {delivery.event} ({delivery_id}) of run {delivery.run_id}"
    if error is None:
        log.info("%s delivered (try %d)", what, attempts)
        return True
    if attempts >= settings.webhook_max_attempts:
        metrics.WEBHOOK_FAILURES.labels("given_up").inc()
        log.error("%s given up after %d tries: %s", what, attempts, error)
        return False
    log.warning("%s failed (try %d): %s", what, attempts, error)
    metrics.WEBHOOK_FAILURES.labels("retry").inc()
    raise WebhookFailed(error)


def _record_try(
    delivery_id: str, code: int | None, error: str | None, *, give_up: bool = False
) -> int:
    """Count a try (delivered when ``error`` is None); the tries so far."""
    settings = get_settings()
    now = utcnow()
    with session_scope() as session:
        record = session.get(WebhookDelivery, delivery_id)
        assert record is not None
        record.attempts += 1
        record.last_status_code = code
        record.last_error = error
        record.last_attempt_at = now
        if error is None:
            record.status = DeliveryStatus.delivered
            record.delivered_at = now
        elif give_up or record.attempts >= settings.webhook_max_attempts:
            record.status = DeliveryStatus.failed
        session.add(record)
        return record.attempts
