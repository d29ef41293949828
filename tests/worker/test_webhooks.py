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
