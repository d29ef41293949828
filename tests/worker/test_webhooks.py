"""Webhook delivery: signed the Standard Webhooks way, counted tries, retry until accepted."""

from __future__ import annotations

import base64

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from agents.runner import execute_run, start_run
from forgeyard.db import session_scope
from forgeyard.models import WebhookDelivery
from tests.support.specs import spec_yaml
from worker import webhooks
from workflows.loader import load_spec_text


@pytest.fixture(autouse=True)
def allowed_hosts(monkeypatch):  # type: ignore[no-untyped-def]
    from forgeyard.settings import get_settings

    monkeypatch.setenv("FORGEYARD_WEBHOOK_ALLOWED_HOSTS", '["*.test", "10.20.0.0/16"]')
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def finished_run(sqlite_db) -> str:  # type: ignore[no-untyped-def]
    """The delivery id of a finished run's `run.finished` event."""
    run = start_run(
        load_spec_text(spec_yaml()), {"a": 1}, fields={"webhook_url": "http://receiver.test/hook"}
    )
    execute_run(run.id)
    delivery_id = webhooks.announce(run.id, webhooks.EVENT_FINISHED)
    assert delivery_id is not None
    return delivery_id


def _delivery(delivery_id: str) -> WebhookDelivery:
    with session_scope() as session:
        found = session.get(WebhookDelivery, delivery_id)
    assert found is not None
    return found


def _verifier(secret: str) -> Webhook:
    # A receiver holding a plain (not `whsec_`) secret verifies with its bytes.
    return Webhook(base64.b64encode(secret.encode()).decode())


def _answer(monkeypatch, codes: list[int]) -> list[httpx.Request]:  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []

    def post(url, content, headers, **_):  # type: ignore[no-untyped-def]
        seen.append(httpx.Request("POST", url, content=content, headers=headers))
        return httpx.Response(codes[len(seen) - 1])

    monkeypatch.setattr(webhooks.httpx, "post", post)
    return seen


def test_delivery_is_signed_and_retried_until_accepted(finished_run, monkeypatch):
    seen = _answer(monkeypatch, [503, 200])
    with pytest.raises(webhooks.WebhookFailed, match="HTTP 503"):
        webhooks.deliver(finished_run)
    assert _delivery(finished_run).last_status_code == 503
    assert webhooks.deliver(finished_run) is True
    assert webhooks.deliver(finished_run) is True  # delivered: not sent again
    assert len(seen) == 2
    # Both tries are the same message (same id and body), each signed at its own time.
    assert {r.headers["webhook-id"] for r in seen} == {finished_run}
    assert seen[0].content == seen[1].content
    request = seen[-1]
    event = _verifier("change-me").verify(request.content, dict(request.headers))
    assert event["type"] == "run.finished" and event["data"]["status"] == "succeeded"
    delivery = _delivery(finished_run)
    assert delivery.attempts == 2 and delivery.delivered_at and delivery.last_error is None
    assert delivery.status == "delivered" and delivery.last_status_code == 200


def test_the_signed_string_is_id_timestamp_body(finished_run, monkeypatch):
    seen = _answer(monkeypatch, [200])
    webhooks.deliver(finished_run)
    request = seen[0]
    msg_id, stamp = request.headers["webhook-id"], request.headers["webhook-timestamp"]
    assert request.headers["webhook-signature"] == webhooks.sign(
        "change-me", msg_id, stamp, request.content
    )
    # Standard Webhooks' own signer, over the same three parts, agrees.
    from datetime import UTC, datetime

    theirs = _verifier("change-me").sign(
        msg_id, datetime.fromtimestamp(int(stamp), tz=UTC), request.content.decode()
    )
    assert request.headers["webhook-signature"] == theirs
    with pytest.raises(WebhookVerificationError):
        _verifier("another-secret").verify(request.content, dict(request.headers))


def test_a_whsec_secret_is_its_base64_key(finished_run, monkeypatch):
    from forgeyard.settings import get_settings

    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    monkeypatch.setenv("FORGEYARD_WEBHOOK_SECRET", secret)
    get_settings.cache_clear()
    seen = _answer(monkeypatch, [200])
    webhooks.deliver(finished_run)
    assert Webhook(secret).verify(seen[0].content, dict(seen[0].headers))["type"] == "run.finished"


def test_an_event_is_recorded_once_however_often_announced(finished_run):
    run_id = _delivery(finished_run).run_id
    assert webhooks.announce(run_id, webhooks.EVENT_FINISHED) is None
    assert [d.id for d in webhooks.deliveries(run_id)] == [finished_run]


def test_redelivery_sends_the_same_message_again_with_fresh_tries(finished_run, monkeypatch):
    monkeypatch.setenv("FORGEYARD_WEBHOOK_MAX_ATTEMPTS", "1")
    from forgeyard.settings import get_settings

    get_settings.cache_clear()
    seen = _answer(monkeypatch, [500, 204])
    assert webhooks.deliver(finished_run) is False
    failed = _delivery(finished_run)
    assert failed.status == "failed" and failed.last_status_code == 500
    again = webhooks.redeliver(failed.run_id, finished_run, tenant_id="default")
    assert again.status == "pending" and again.attempts == 0 and again.redeliveries == 1
    assert webhooks.deliver(finished_run) is True
    assert seen[0].content == seen[1].content and seen[1].headers["webhook-id"] == finished_run
    with pytest.raises(webhooks.DeliveryNotFound):
        webhooks.redeliver(failed.run_id, "msg_nope", tenant_id="default")


def test_delivery_gives_up_after_max_attempts(finished_run, monkeypatch):
    monkeypatch.setenv("FORGEYARD_WEBHOOK_MAX_ATTEMPTS", "2")
    from forgeyard.settings import get_settings

    get_settings.cache_clear()
    _answer(monkeypatch, [500, 500])
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(finished_run)
    assert webhooks.deliver(finished_run) is False
    delivery = _delivery(finished_run)
    assert delivery.last_error == "HTTP 500 from http://receiver.test/hook"
    assert delivery.status == "failed" and delivery.attempts == 2


def test_backoff_doubles():
    first = webhooks.backoff(0)
    assert [webhooks.backoff(n) / first for n in range(4)] == [1, 2, 4, 8]


@pytest.mark.parametrize(
    "url",
    ["http://receiver.test/hook", "https://a.b.test:8443/x", "http://10.20.3.4/hook"],
)
def test_allowed_hosts_by_name_pattern_or_network(url):
    webhooks.check_url(url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8000/v1/unload_lora_adapter", "not allowed"),
        ("http://169.254.169.254/latest/meta-data", "not allowed"),
        ("http://10.21.0.1/hook", "not allowed"),
        ("http://test/hook", "not allowed"),
        ("file:///etc/passwd", "not an http"),
    ],
)
def test_other_hosts_are_refused_naming_the_setting(url, why):
    with pytest.raises(webhooks.WebhookRefused, match=why) as caught:
        webhooks.check_url(url)
    assert "not an http" in str(caught.value) or "FORGEYARD_WEBHOOK_ALLOWED_HOSTS" in str(
        caught.value
    )


def test_with_no_allowlist_every_webhook_is_refused(monkeypatch):
    from forgeyard.settings import get_settings

    monkeypatch.setenv("FORGEYARD_WEBHOOK_ALLOWED_HOSTS", "[]")
    get_settings.cache_clear()
    with pytest.raises(webhooks.WebhookRefused, match="webhooks are off"):
        webhooks.check_url("http://receiver.test/hook")


def test_delivery_checks_the_allowlist_again_and_sends_nothing_when_refused(
    finished_run, monkeypatch
):
    from forgeyard.settings import get_settings

    seen = _answer(monkeypatch, [200])
    monkeypatch.setenv("FORGEYARD_WEBHOOK_ALLOWED_HOSTS", '["hooks.elsewhere.example"]')
    get_settings.cache_clear()
    assert webhooks.deliver(finished_run) is False  # refused: no retry
    assert seen == []
    delivery = _delivery(finished_run)
    assert delivery.delivered_at is None and delivery.last_error.startswith("refused: ")
    assert delivery.status == "failed"


def test_during_a_rotation_calls_carry_a_signature_per_secret(finished_run, monkeypatch):
    from forgeyard.settings import get_settings

    monkeypatch.setenv("FORGEYARD_WEBHOOK_SECRET", "new-secret")
    monkeypatch.setenv("FORGEYARD_WEBHOOK_PREVIOUS_SECRET", "old-secret")
    get_settings.cache_clear()
    seen = _answer(monkeypatch, [200])
    assert webhooks.deliver(finished_run) is True
    request = seen[0]
    msg_id, stamp = request.headers["webhook-id"], request.headers["webhook-timestamp"]
    assert request.headers["webhook-signature"].split(" ") == [
        webhooks.sign("new-secret", msg_id, stamp, request.content),
        webhooks.sign("old-secret", msg_id, stamp, request.content),
    ]
    # A receiver with either secret accepts the call; one with neither does not.
    for secret in ("new-secret", "old-secret"):
        assert _verifier(secret).verify(request.content, dict(request.headers))
    with pytest.raises(WebhookVerificationError):
        _verifier("older-still").verify(request.content, dict(request.headers))
