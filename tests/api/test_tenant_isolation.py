"""Every endpoint, every tenant boundary: another tenant's run is a 404, a bad key a 401."""

from __future__ import annotations

import pytest

from forgeyard.tenants import revoke_key
from tests.support.adapters import candidate
from tests.support.training import StandInTrainer, fake_model_dir, shipped_reward_model
from training.jobs import process_job
from worker.runs import process_run

RUN_ENDPOINTS = [
    ("GET", "/v1/runs/{id}"),
    ("GET", "/v1/runs/{id}/steps"),
    ("GET", "/v1/runs/{id}/events"),
    ("POST", "/v1/runs/{id}/approve"),
    ("POST", "/v1/runs/{id}/reject"),
    ("POST", "/v1/runs/{id}/cancel"),
    ("GET", "/v1/runs/{id}/labels"),
    ("GET", "/v1/runs/{id}/diff/{id}"),
    ("POST", "/v1/runs/{id}/replay"),
    ("GET", "/v1/runs/{id}/lineage"),
    ("GET", "/v1/runs/{id}/wait"),
    ("GET", "/v1/runs/{id}/webhooks"),
    ("POST", "/v1/runs/{id}/webhooks/msg_1/redeliver"),
]
TRAINING_JOB_ENDPOINTS = [
    ("GET", "/v1/training-jobs/{id}"),
    ("GET", "/v1/training-jobs/{id}/metrics"),
    ("GET", "/v1/training-jobs/{id}/plot.png"),
]
ALL_ENDPOINTS = RUN_ENDPOINTS + [
    ("GET", "/v1/runs"),
    ("GET", "/v1/workflows"),
    ("GET", "/v1/workflows/adder"),
    ("POST", "/v1/workflows"),
    ("POST", "/v1/workflows/adder/runs"),
    ("POST", "/v1/runs/{id}/labels"),
    # (A fork needs `at_step`; tests/api/routes/test_replay.py checks its 404.)
    ("POST", "/v1/runs/{id}/fork"),
    ("POST", "/v1/workflows/adder/replays"),
    ("GET", "/v1/reward-models"),
    ("POST", "/v1/reward-models"),
    ("GET", "/v1/reward-models/rm"),
    ("POST", "/v1/reward-models/rm/evaluations"),
    ("GET", "/v1/reward-models/rm/evaluations/ev"),
    ("GET", "/v1/training-jobs"),
    ("POST", "/v1/training-jobs"),
    *TRAINING_JOB_ENDPOINTS,
]
ADAPTER_ENDPOINTS = [
    ("GET", "/v1/adapters/{id}"),
    ("POST", "/v1/adapters/{id}/promote"),
    ("POST", "/v1/adapters/{id}/rollback"),
]
ALL_ENDPOINTS += ADAPTER_ENDPOINTS + [("GET", "/v1/adapters")]


@pytest.fixture
def two_tenants(tenant_factory):  # type: ignore[no-untyped-def]
    a, b = tenant_factory("alpha"), tenant_factory("beta")
    a.register()
    run_id = a.submit({"a": 7})["id"]
    process_run(run_id)  # waiting for approval: every action would be allowed to its owner
    return a, b, run_id


def _call(tenant, method: str, path: str, headers: dict | None = None):  # type: ignore[no-untyped-def]
    return tenant.client.request(
        method,
        path,
        headers=headers if headers is not None else tenant.headers,
        json={} if method == "POST" else None,
    )


# The matrices loop inside one test each: a fresh database per case would
# cost more than the cases themselves.
def test_other_tenants_run_is_not_found_on_every_run_endpoint(two_tenants):
    a, b, run_id = two_tenants
    for method, template in RUN_ENDPOINTS:
        response = _call(b, method, template.format(id=run_id))
        assert response.status_code == 404, (method, template, response.text)
        assert response.json()["detail"] == f"No run `{run_id}`.", (method, template)
    # ... and the owner's run is untouched.
    assert a.get(f"/v1/runs/{run_id}").json()["status"] == "waiting_approval"


def test_a_diff_with_another_tenants_run_is_not_found_either_way(two_tenants):
    a, b, run_id = two_tenants
    b.register()
    own = b.submit({"a": 1})["id"]
    for path in (f"/v1/runs/{own}/diff/{run_id}", f"/v1/runs/{run_id}/diff/{own}"):
        response = b.get(path)
        assert response.status_code == 404 and response.json()["detail"] == f"No run `{run_id}`."
    assert b.get(f"/v1/runs/{own}/diff/{own}").json()["identical"] is True


def test_other_tenants_lists_and_workflows_are_invisible(two_tenants):
    a, b, run_id = two_tenants
    assert b.get("/v1/runs").json()["items"] == []
    assert b.get("/v1/runs", params={"where": "input.a=7"}).json()["items"] == []
    assert b.get("/v1/runs", params={"reached": "gate"}).json()["items"] == []
    assert [r["id"] for r in a.get("/v1/runs").json()["items"]] == [run_id]
    assert b.get("/v1/workflows/adder").status_code == 404
    assert b.post("/v1/workflows/adder/runs", json={"input": {"a": 1}}).status_code == 404
    # The same Idempotency-Key in two tenants names two different runs.
    key = {"Idempotency-Key": "k"}
    b.register()
    ra = a.post("/v1/workflows/adder/runs", json={"input": {"a": 1}}, headers=key).json()["id"]
    rb = b.post("/v1/workflows/adder/runs", json={"input": {"a": 1}}, headers=key).json()["id"]
    assert ra != rb


def test_other_tenants_training_job_is_not_found(two_tenants, tmp_path):  # type: ignore[no-untyped-def]
    a, b, _ = two_tenants
    reward = shipped_reward_model(a.id)
    body = {"reward_model": reward.id, "base_model": str(fake_model_dir(tmp_path)), "max_steps": 2}
    job_id = a.post("/v1/training-jobs", json=body).json()["id"]
    process_job(job_id, trainer=StandInTrainer())  # metrics and a plot to hide
    for method, template in TRAINING_JOB_ENDPOINTS:
        response = _call(b, method, template.format(id=job_id))
        assert response.status_code == 404, (method, template, response.text)
        assert response.json()["detail"] == f"No training job `{job_id}`.", (method, template)
        assert _call(a, method, template.format(id=job_id)).status_code == 200, template
    assert b.get("/v1/training-jobs").json() == []
    # Nor can another tenant train on alpha's reward model.
    refused = b.post("/v1/training-jobs", json=body)
    assert refused.status_code == 422 and refused.json()["problems"][0]["field"] == "reward_model"


def test_other_tenants_adapter_is_not_found_on_every_adapter_endpoint(two_tenants, tmp_path):
    a, b, _ = two_tenants
    # Active: promote and rollback would both act on it for its owner.
    adapter = candidate(a.id, tmp_path, status="active")
    assert b.get("/v1/adapters").json() == []
    for method, template in ADAPTER_ENDPOINTS:
        response = _call(b, method, template.format(id=adapter.id))
        assert response.status_code == 404, (method, template, response.text)
        assert response.json()["detail"] == f"No adapter `{adapter.id}`.", (method, template)
    assert a.get(f"/v1/adapters/{adapter.id}").json()["status"] == "active"


def test_bad_credentials_are_401_on_every_endpoint(two_tenants):
    a, _, run_id = two_tenants
    credentials = {
        "missing": {},
        "unknown": {"Authorization": "Bearer fy_000000000000_nope"},
        "not-bearer": {"Authorization": f"Basic {a.token}"},
        "revoked": a.headers,  # last: revoked below
    }
    for credential, headers in credentials.items():
        if credential == "revoked":
            revoke_key(a.key_id)
        for method, template in ALL_ENDPOINTS:
            response = _call(a, method, template.format(id=run_id), headers=headers)
            case = (credential, method, template, response.text)
            assert response.status_code == 401, case
            assert response.headers["WWW-Authenticate"] == "Bearer", case
            assert response.json()["detail"], case
