"""Webhook delivery: signed body, counted tries, retry until accepted or given up."""

from __future__ import annotations

import hmac
import json

import httpx
import pytest

from agents.runner import execute_run, get_run, start_run
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
    run = start_run(
        load_spec_text(spec_yaml()), {"a": 1}, fields={"webhook_url": "http://receiver.test/hook"}
    )
    execute_run(run.id)
    return run.id


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
    assert webhooks.deliver(finished_run) is True
    assert webhooks.deliver(finished_run) is True  # delivered: not sent again
    assert len(seen) == 2
    request = seen[-1]
    body = request.content
    signature = webhooks.sign("change-me", request.headers["X-Forgeyard-Timestamp"], body)
    assert hmac.compare_digest(request.headers["X-Forgeyard-Signature"], signature)
    assert json.loads(body)["run"]["status"] == "succeeded"
    run = get_run(finished_run)
    assert run.webhook_attempts == 2 and run.webhook_delivered_at and run.webhook_error is None


def test_delivery_gives_up_after_max_attempts(finished_run, monkeypatch):
    monkeypatch.setenv("FORGEYARD_WEBHOOK_MAX_ATTEMPTS", "2")
    from forgeyard.settings import get_settings

    get_settings.cache_clear()
    _answer(monkeypatch, [500, 500])
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(finished_run)
    assert webhooks.deliver(finished_run) is False
    assert get_run(finished_run).webhook_error == "HTTP 500 from http://receiver.test/hook"


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
    run = get_run(finished_run)
    assert run.webhook_delivered_at is None and run.webhook_error.startswith("refused: ")


def test_during_a_rotation_calls_carry_a_signature_per_secret(finished_run, monkeypatch):
    from forgeyard.settings import get_settings

    monkeypatch.setenv("FORGEYARD_WEBHOOK_SECRET", "new-secret")
    monkeypatch.setenv("FORGEYARD_WEBHOOK_PREVIOUS_SECRET", "old-secret")
    get_settings.cache_clear()
    seen = _answer(monkeypatch, [200])
    assert webhooks.deliver(finished_run) is True
    request = seen[0]
    timestamp = request.headers["X-Forgeyard-Timestamp"]
    signatures = request.headers["X-Forgeyard-Signature"].split(" ")
    assert signatures == [
        webhooks.sign("new-secret", timestamp, request.content),
        webhooks.sign("old-secret", timestamp, request.content),
    ]
    # A receiver that still has only the old secret accepts the call.
    old = webhooks.sign("old-secret", timestamp, request.content)
    assert any(hmac.compare_digest(old, s) for s in signatures)
