"""Probes and metrics: no key needed, honest about what is down."""

from __future__ import annotations


def test_healthz_and_readyz(client, monkeypatch):
    assert client.get("/healthz").json() == {"status": "ok"}
    monkeypatch.setenv("FORGEYARD_MODEL_BASE_URL", "http://127.0.0.1:9/v1")
    from forgeyard.settings import get_settings

    get_settings.cache_clear()
    ready = client.get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] and checks["broker"]["ok"]
    # The model server is down here: reported, not required by default.
    assert checks["model_server"] == {**checks["model_server"], "ok": False, "required": False}


def test_readyz_fails_when_broker_is_down(client, monkeypatch):
    monkeypatch.setenv("FORGEYARD_BROKER_URL", "redis://127.0.0.1:9/0")
    from forgeyard.settings import get_settings

    get_settings.cache_clear()
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"]["ok"] is False


def test_metrics_count_requests_by_route(tenant):
    tenant.get("/v1/runs/nope")
    text = tenant.client.get("/metrics").text
    counted = 'method="GET",route="/v1/runs/{run_id}",status="404"'
    assert f"forgeyard_http_requests_total{{{counted}}}" in text
    assert 'forgeyard_runs{status="queued"}' in text
