"""API key scopes and expiry: a 403 names the missing scope; the approver is the key's principal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import func, select

from forgeyard.db import session_scope
from forgeyard.models import Run, utcnow
from tests.support.service import another_key
from worker.runs import process_run


def _runs() -> int:
    with session_scope() as s:
        return s.exec(select(func.count()).select_from(Run)).one()


def test_a_read_only_key_reads_but_cannot_submit(tenant):
    run_id = tenant.submit({"a": 1})["id"]
    reader = another_key(tenant, "runs:read")
    assert reader.get(f"/v1/runs/{run_id}").status_code == 200
    before = _runs()
    response = reader.post("/v1/workflows/adder/runs", json={"input": {"a": 2}})
    assert response.status_code == 403
    assert "`runs:submit`" in response.json()["detail"]
    assert _runs() == before  # nothing created
    assert reader.post(f"/v1/runs/{run_id}/cancel").status_code == 403


def test_approving_needs_runs_approve_and_records_the_keys_principal(tenant):
    run_id = tenant.submit({"a": 7})["id"]
    process_run(run_id)
    submitter = another_key(tenant, "runs:submit", "runs:read", name="svc-booking")
    denied = submitter.post(f"/v1/runs/{run_id}/approve", json={"by": "mallory"})
    assert denied.status_code == 403 and "`runs:approve`" in denied.json()["detail"]
    approver = another_key(tenant, "runs:approve", "runs:read", name="ops@acme")
    assert approver.post(f"/v1/runs/{run_id}/approve", json={"by": "mallory"}).status_code == 202
    process_run(run_id)
    gate = [s for s in approver.get(f"/v1/runs/{run_id}/steps").json() if s["node"] == "gate"]
    assert gate[-1]["output"]["by"] == "ops@acme"


def test_an_unnamed_key_is_recorded_by_its_id(tenant):
    run_id = tenant.submit({"a": 7})["id"]
    process_run(run_id)
    approver = another_key(tenant, "runs:approve", "runs:read")
    assert approver.post(f"/v1/runs/{run_id}/reject").status_code == 202
    process_run(run_id)
    gate = [s for s in approver.get(f"/v1/runs/{run_id}/steps").json() if s["node"] == "gate"]
    assert gate[-1]["output"]["by"] == f"key:{approver.key_id}"


def test_registering_a_workflow_needs_admin(tenant):
    labeller = another_key(tenant, "labels:write")
    response = labeller.post("/v1/workflows", json={"yaml": "name: x"})
    assert response.status_code == 403 and "`admin`" in response.json()["detail"]


def test_an_expired_key_is_401(tenant):
    from forgeyard.models import ApiKey

    key = another_key(tenant, "runs:read", expires_at=utcnow() + timedelta(seconds=60))
    assert key.get("/v1/runs").status_code == 200
    with session_scope() as s:
        record = s.get(ApiKey, key.key_id)
        record.expires_at = utcnow() - timedelta(seconds=1)
        s.add(record)
    response = key.get("/v1/runs")
    assert response.status_code == 401 and "expired" in response.json()["detail"]


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/v1/unload_lora_adapter", "http://evil.example/x"]
)
def test_a_webhook_outside_the_allowlist_is_a_422_and_creates_nothing(tenant, url):
    before = _runs()
    response = tenant.post("/v1/workflows/adder/runs", json={"input": {"a": 1}, "webhook_url": url})
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "webhook_url"
    assert _runs() == before
