"""Adapters over HTTP: list and show (tenant-scoped), promotion's errors, rollback's.

Promotion itself against the real vLLM is in tests/training/test_adapters.py;
here the answers that decide before the model server is asked, the 202 with
the promotion a worker runs, and a refused promotion's figures.
"""

from __future__ import annotations

import pytest

from forgeyard.records.training import AdapterStatus
from forgeyard.settings import get_settings
from tests.support.adapters import candidate


def test_list_filters_and_show(tenant, tmp_path):
    a = candidate(tenant.id, tmp_path)
    b = candidate(tenant.id, tmp_path, status=AdapterStatus.active, metrics={"reward": 0.7})
    listed = tenant.get("/v1/adapters").json()
    assert [x["id"] for x in listed] == [b.id, a.id]
    active = tenant.get("/v1/adapters", params={"status": "active"}).json()
    assert [x["id"] for x in active] == [b.id]
    assert tenant.get("/v1/adapters", params={"node": "extract"}).json() == []
    assert tenant.get("/v1/adapters", params={"workflow": "nope"}).json() == []
    shown = tenant.get(f"/v1/adapters/{b.id}").json()
    assert shown["served_name"] == f"adapter-{b.id}" and shown["metrics"] == {"reward": 0.7}
    assert "path" not in shown  # the server's file system is not the tenant's business
    bad = tenant.get("/v1/adapters", params={"status": "shiny"})
    assert bad.status_code == 422 and "status" in bad.json()["detail"]


def test_rank_too_large_is_422_naming_rank(tenant, tmp_path):
    a = candidate(tenant.id, tmp_path, rank=64)
    response = tenant.post(f"/v1/adapters/{a.id}/promote")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["problems"][0]["field"] == "rank"
    assert "rank 64" in body["detail"] and "--max-lora-rank" in body["detail"]
    assert tenant.get(f"/v1/adapters/{a.id}").json()["status"] == "candidate"


def test_wrong_status_is_409_unknown_node_422(tenant, tmp_path):
    active = candidate(tenant.id, tmp_path, status=AdapterStatus.active)
    response = tenant.post(f"/v1/adapters/{active.id}/promote")
    assert response.status_code == 409 and "only a candidate" in response.json()["detail"]
    cand = candidate(tenant.id, tmp_path, node="confirm")
    response = tenant.post(f"/v1/adapters/{cand.id}/rollback")
    assert response.status_code == 409 and "only the active" in response.json()["detail"]
    response = tenant.post(f"/v1/adapters/{cand.id}/promote")
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "node"


def test_rollback_without_previous_leaves_the_base_model(tenant, tmp_path, monkeypatch):
    # Unloading from a server that does not hold it is fine (it restarted): no server here.
    monkeypatch.setenv("FORGEYARD_MODEL_BASE_URL", "http://127.0.0.1:9/v1")
    get_settings.cache_clear()
    active = candidate(tenant.id, tmp_path, status=AdapterStatus.active)
    response = tenant.post(f"/v1/adapters/{active.id}/rollback")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["active"] is None and body["retired"]["status"] == "retired"


@pytest.mark.integration
def test_gate_refusal_is_a_failed_promotion_with_its_figures(
    tenant, model_server, tiny_lora_adapter_dir, monkeypatch
):
    from training.promotions import process_promotion

    monkeypatch.setenv("FORGEYARD_MODEL_BASE_URL", model_server.base_url)
    monkeypatch.setenv("FORGEYARD_ADAPTER_GATE_TASKS", "20")
    get_settings.cache_clear()
    a = candidate(tenant.id, tiny_lora_adapter_dir)
    response = tenant.post(f"/v1/adapters/{a.id}/promote")
    assert response.status_code == 202, response.text
    process_promotion(response.json()["id"])  # what the worker does with it
    body = tenant.get(response.headers["Location"]).json()
    assert (body["status"], body["refused"], body["error_field"]) == ("failed", True, "gate")
    assert "was not promoted" in body["error"]
    gate = body["gate"]
    assert gate["passed"] is False and gate["ci_low"] <= 0.0
    assert {"mean_reward", "mean_difference", "ci_high", "hack_pass_rate", "per_task"} <= set(gate)
    stored = tenant.get(f"/v1/adapters/{a.id}").json()
    assert stored["status"] == "candidate" and stored["gate"] == gate
    assert a.served_name not in model_server.served_models()


def test_promote_answers_202_with_a_promotion_to_poll(
    tenant, tenant_factory, tmp_path, monkeypatch
):
    from training.promotions import process_promotion

    monkeypatch.setenv("FORGEYARD_MODEL_BASE_URL", "http://127.0.0.1:9/v1")  # no server
    get_settings.cache_clear()
    other = tenant_factory()
    a = candidate(tenant.id, tmp_path)
    response = tenant.post(f"/v1/adapters/{a.id}/promote")
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["Location"] == body["links"]["self"] == f"/v1/promotions/{body['id']}"
    assert (body["status"], body["adapter_id"], body["refused"]) == ("queued", a.id, False)
    again = tenant.post(f"/v1/adapters/{a.id}/promote").json()
    assert again["id"] == body["id"]  # pending: the same promotion
    assert [p["id"] for p in tenant.get("/v1/promotions", params={"adapter_id": a.id}).json()] == [
        body["id"]
    ]
    assert other.get(body["links"]["self"]).status_code == 404
    assert tenant.get("/v1/promotions/nope").status_code == 404
    # What the worker does with it (no model server here): failed, and why.
    process_promotion(body["id"])
    done = tenant.get(body["links"]["self"]).json()
    assert done["status"] == "failed" and done["error"] and done["finished_at"]
    assert tenant.get(f"/v1/adapters/{a.id}").json()["status"] == "candidate"
