"""Training jobs over HTTP: start one, follow it (status, metrics, plot); every bad body a 422."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import func, select

from forgeyard.db import session_scope
from forgeyard.records.training import TrainingJobRecord
from tests.support.reward_models import register
from tests.support.training import StandInTrainer, fake_model_dir, shipped_reward_model
from training.jobs import process_job

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def ready(tenant, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The tenant with an approved reward model, and a base model directory."""
    reward = shipped_reward_model(tenant.id)
    return tenant, {"reward_model": reward.id, "base_model": str(fake_model_dir(tmp_path))}


def test_start_follow_and_plot_a_job(ready):  # type: ignore[no-untyped-def]
    tenant, body = ready
    created = tenant.post("/v1/training-jobs", json={**body, "max_steps": 3, "save_steps": 1})
    assert created.status_code == 202, created.text
    job = created.json()
    assert created.headers["Location"] == f"/v1/training-jobs/{job['id']}"
    assert (job["status"], job["step"], job["total_steps"]) == ("queued", 0, 3)
    assert job["config"]["tenant"] == tenant.id and job["adapter_id"] is None
    url = job["links"]["self"]
    not_yet = tenant.get(f"{url}/plot.png")
    assert not_yet.status_code == 409 and "no step yet" in not_yet.json()["detail"]

    process_job(job["id"], trainer=StandInTrainer())  # what the training worker does

    done = tenant.get(url).json()
    assert (done["status"], done["step"], done["attempts"]) == ("succeeded", 3, 1)
    assert done["adapter_id"] and done["error"] is None
    assert done["latest_metrics"]["step"] == 3
    assert done["latest_metrics"]["reward_mean"] == pytest.approx(0.3)
    metrics = tenant.get(f"{url}/metrics").json()
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert metrics[0]["values"] == {"learning_rate": 5e-4}
    plot = tenant.get(f"{url}/plot.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png"
    assert plot.content.startswith(PNG_MAGIC)
    assert [j["id"] for j in tenant.get("/v1/training-jobs").json()] == [job["id"]]


def test_every_bad_body_is_a_422_naming_the_field_and_writes_nothing(ready, tmp_path):  # type: ignore[no-untyped-def]
    tenant, body = ready
    draft = register(tenant)  # another reward model of the workflow, not evaluated
    cases = [
        ({"max_step": 3}, "body.max_step", "Extra inputs"),
        ({"tenant": "someone-else"}, "body.tenant", "Extra inputs"),
        ({"output_dir": "/etc"}, "body.output_dir", "Extra inputs"),
        ({"max_steps": "many"}, "body.max_steps", "integer"),
        ({"use_vllm": "yes"}, "body.use_vllm", "boolean"),
        ({"max_steps": 0}, "max_steps", "≥ 1"),
        ({"num_generations": 1}, "num_generations", "≥ 2"),
        ({"lora_rank": 7}, "lora_rank", "cannot be served by vLLM"),
        ({"learning_rate": 3}, "learning_rate", "(0, 1]"),
        ({"save_steps": 0}, "save_steps", "≥ 1"),
        ({"reward_model": ""}, "reward_model", "is required"),
        ({"reward_model": "nope-nope"}, "reward_model", "No reward model `nope-nope`"),
        ({"reward_model": draft["id"]}, "reward_model", "is not approved"),
        ({"workflow": "nope"}, "workflow", "Unknown workflow `nope`"),
        ({"node": "confirm"}, "node", "No training environment"),
        ({"base_model": str(tmp_path / "missing")}, "base_model", "not a model directory"),
    ]
    for change, field, words in cases:
        response = tenant.post("/v1/training-jobs", json={**body, **change})
        assert response.status_code == 422, (change, response.text)
        problems = {p["field"]: p["message"] for p in response.json()["problems"]}
        assert field in problems, (change, problems)
        assert words in problems[field], (change, problems)
    broken = tenant.post(
        "/v1/training-jobs", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    with session_scope() as session:
        assert session.exec(select(func.count()).select_from(TrainingJobRecord)).one() == 0
    # A float field takes a whole number; the defaults fill the rest.
    ok = tenant.post("/v1/training-jobs", json={**body, "learning_rate": 1, "use_vllm": False})
    assert ok.status_code == 202, ok.text
    assert ok.json()["config"]["learning_rate"] == 1 and ok.json()["config"]["max_steps"] == 60


def test_unknown_job_is_404_everywhere(tenant):  # type: ignore[no-untyped-def]
    for suffix in ("", "/metrics", "/plot.png"):
        response = tenant.get(f"/v1/training-jobs/nope{suffix}")
        assert response.status_code == 404, suffix
        assert response.json()["detail"] == "No training job `nope`."
