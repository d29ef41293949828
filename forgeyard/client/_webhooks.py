"""Verifying a webhook call the Standard Webhooks way (no dependency beyond the stdlib).

The signed content is ``"<webhook-id>.<webhook-timestamp>.<body>"``, HMAC-SHA256
with the secret's key, base64, prefixed ``v1,``; ``webhook-signature`` holds
one or more such signatures separated by spaces (two while the sender rotates
its secret).  A ``whsec_<base64>`` secret is decoded to its key; any other
string is used as its UTF-8 bytes, as Forgeyard signs with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping

from forgeyard.client._errors import WebhookVerificationError
from forgeyard.client._models import WebhookEvent

__all__ = ["sign_webhook", "verify_webhook"]

TOLERANCE_SECONDS = 5 * 60


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_") :] + "==")
    return secret.encode()


def sign_webhook(secret: str | bytes, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``v1,<base64>`` signature of ``body`` sent as ``msg_id`` at ``timestamp``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(
    secret: str | bytes | Iterable[str | bytes],
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> WebhookEvent:
    """Check a webhook call and return its event.

    Args:
        secret: the shared secret, or several (a receiver moving to a new one).
        body: the request body exactly as received.
        headers: the request headers (any case).
        tolerance: how far (seconds) the call's timestamp may be from now.
        now: the current unix time (for tests).

    Raises:
        WebhookVerificationError: a header is missing, the timestamp is outside
            the tolerance, or no signature matches.
    """
    raw = body.encode() if isinstance(body, str) else body
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = (
        lower.get("webhook-id"),
        lower.get("webhook-timestamp"),
        lower.get("webhook-signature"),
    )
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError(
            "missing webhook-id, webhook-timestamp or webhook-signature header"
        )
    try:
        sent = int(stamp)
    except ValueError:
        raise WebhookVerificationError(f"webhook-timestamp `{stamp}` is not unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp {sent} is more than {tolerance:g} s from now (replayed or stale)"
        )
    secrets = [secret] if isinstance(secret, str | bytes) else list(secret)
    given = [s.split(",", 1)[1] for s in signatures.split() if s.startswith("v1,")]
    for candidate in secrets:
        expected = sign_webhook(candidate, msg_id, stamp, raw).split(",", 1)[1]
        if any(hmac.compare_digest(expected, g) for g in given):
            parsed = json.loads(raw)
            return WebhookEvent.model_validate({**parsed, "id": msg_id})
    raise WebhookVerificationError("no webhook-signature matches the secret")
