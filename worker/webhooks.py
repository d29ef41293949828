"""Webhooks: a finished run is announced to its ``webhook_url``.

The body is signed with HMAC-SHA256 over ``"<timestamp>.<body>"`` with the
installation's webhook secret; receivers recompute it (see :func:`sign`) and
reject stale timestamps.  During a rotation (``webhook_previous_secret`` set)
the signature header carries one signature per secret, space-separated, and a
receiver accepts the call when any of them matches.  Each try is counted on the
run; after ``webhook_max_attempts`` the last error is kept and no more tries
are made.

A webhook goes only where the operator allows (``webhook_allowed_hosts``):
checked when a run is submitted and again, with the addresses the name
resolves to then, before each try, so a tenant cannot make a worker call an
internal service (the model server's admin endpoints, a metadata service).

Errors::

    WebhookFailed             this try failed and another one should follow
    WebhookRefused            the URL's host is not allowed (ValueError)
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from agents.runner import RunNotFound, get_run
from forgeyard.db import session_scope
from forgeyard.models import Run, utcnow
from forgeyard.settings import get_settings

__all__ = [
    "WebhookFailed",
    "WebhookRefused",
    "backoff",
    "check_url",
    "deliver",
    "payload",
    "sign",
    "signature_header",
]

log = logging.getLogger("forgeyard.webhooks")

SIGNATURE_HEADER = "X-Forgeyard-Signature"
TIMESTAMP_HEADER = "X-Forgeyard-Timestamp"


class WebhookFailed(Exception):
    """A webhook try failed; the task retries it later."""


class WebhookRefused(ValueError):
    """The webhook URL points at a host the operator does not allow."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """One signature of ``body`` sent at ``timestamp`` (unix seconds) with ``secret``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signature_header(timestamp: str, body: bytes) -> str:
    """The signature header: one signature per valid secret (two during a rotation)."""
    settings = get_settings()
    secrets = [settings.webhook_secret]
    if settings.webhook_previous_secret:
        secrets.append(settings.webhook_previous_secret)
    return " ".join(sign(secret, timestamp, body) for secret in secrets)


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
        SIGNATURE_HEADER: signature_header(timestamp, body),
    }
    try:
        # Again at each try: the allowlist may have changed, or the name may
        # resolve elsewhere now.
        check_url(run.webhook_url)
    except WebhookRefused as exc:
        _record_try(run_id, f"refused: {exc}")
        log.error("webhook for run %s refused: %s", run_id, exc)
        return False
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

    attempts = _record_try(run_id, error)
    if error is None:
        log.info("webhook for run %s delivered (try %d)", run_id, attempts)
        return True
    if attempts >= settings.webhook_max_attempts:
        log.error("webhook for run %s given up after %d tries: %s", run_id, attempts, error)
        return False
    log.warning("webhook for run %s failed (try %d): %s", run_id, attempts, error)
    raise WebhookFailed(error)


def _record_try(run_id: str, error: str | None) -> int:
    """Count a try on the run (delivered when ``error`` is None); the tries so far."""
    with session_scope() as session:
        record = session.get(Run, run_id)
        assert record is not None
        record.webhook_attempts += 1
        record.webhook_error = error
        if error is None:
            record.webhook_delivered_at = utcnow()
        session.add(record)
        return record.webhook_attempts
