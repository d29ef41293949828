"""The client alone: what it imports, and its webhook verifier against the reference library."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from forgeyard.client import WebhookVerificationError, sign_webhook, verify_webhook

SECRET = "whsec_" + base64.b64encode(b"a-thirty-two-byte-secret-for-it!").decode()
BODY = json.dumps({"type": "run.finished", "timestamp": "2026-12-01T09:30:00Z", "data": {}})


def _headers(secret: str = SECRET, at: int | None = None, msg_id: str = "msg_1") -> dict:
    stamp = int(time.time()) if at is None else at
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(stamp, tz=UTC), BODY)
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}


def test_importing_the_client_pulls_in_nothing_heavy():
    heavy = ("torch", "vllm", "langgraph", "transformers", "sqlalchemy", "fastapi", "celery")
    code = (
        "import sys, forgeyard.client; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert not set(heavy) & set(loaded)
    assert {"httpx", "httpx_sse", "pydantic"} <= set(loaded)


def test_a_call_signed_by_the_reference_library_verifies():
    event = verify_webhook(SECRET, BODY, _headers())
    assert event.id == "msg_1" and event.type == "run.finished"


def test_the_client_signs_as_the_reference_library_does():
    stamp = int(time.time())
    ours = sign_webhook(SECRET, "msg_2", stamp, BODY.encode())
    assert ours == _headers(at=stamp, msg_id="msg_2")["webhook-signature"]
    # A plain (non-whsec) secret is its UTF-8 bytes, as the server signs with it.
    assert sign_webhook("change-me", "m", stamp, b"{}") == Webhook(b"change-me").sign(
        "m", datetime.fromtimestamp(stamp, tz=UTC), "{}"
    )


@pytest.mark.parametrize(
    ("body", "headers", "why"),
    [
        (BODY.replace("finished", "cancelled"), None, "no webhook-signature matches"),
        (BODY, {"webhook-id": "msg_1"}, "missing"),
        (BODY, "stale", "more than 300 s"),
        (BODY, "other-secret", "no webhook-signature matches"),
    ],
)
def test_tampered_stale_or_foreign_calls_are_refused(body, headers, why):
    if headers is None:
        headers = _headers()
    elif headers == "stale":
        headers = _headers(at=int(time.time()) - 3600)
    elif headers == "other-secret":
        headers = _headers(secret="whsec_" + base64.b64encode(b"x" * 32).decode())
    with pytest.raises(WebhookVerificationError, match=why):
        verify_webhook(SECRET, body, headers)


def test_during_a_rotation_either_secret_verifies():
    old = "whsec_" + base64.b64encode(b"o" * 32).decode()
    both = _headers()
    both["webhook-signature"] += " " + _headers(secret=old)["webhook-signature"]
    assert verify_webhook(old, BODY, both).type == "run.finished"
    assert verify_webhook(SECRET, BODY, both).type == "run.finished"
    # A receiver moving to a new secret may hold both.
    assert verify_webhook([old, SECRET], BODY, _headers()).id == "msg_1"
