"""Console training pages: jobs with their metrics plot; adapters with gate, promote, rollback."""

from __future__ import annotations

import pytest

from forgeyard.records.training import AdapterStatus
from forgeyard.settings import get_settings
from tests.support.adapters import candidate
from tests.support.console import login
from tests.support.training import StandInTrainer, fake_model_dir, shipped_reward_model
from training.jobs import process_job

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_job_page_shows_its_progress_and_plot(tenant, tmp_path):
    reward = shipped_reward_model(tenant.id)
    body = {"reward_model": reward.id, "base_model": str(fake_model_dir(tmp_path))}
    job = tenant.post("/v1/training-jobs", json={**body, "max_steps": 3, "save_steps": 1}).json()
    login(tenant.client, tenant.token)
    queued = tenant.client.get(f"/ui/training-jobs/{job['id']}")
    assert "No step logged yet" in queued.text and "plot.png" not in queued.text
    process_job(job["id"], trainer=StandInTrainer())

    listing = tenant.client.get("/ui/training-jobs")
    assert job["id"] in listing.text and "3 / 3" in listing.text
    assert 'badge-succeeded">succeeded' in listing.text
    shown = tenant.client.get(f"/ui/training-jobs/{job['id']}")
    assert "At step 3: reward mean 0.3" in shown.text
    plot = tenant.client.get(f"/ui/training-jobs/{job['id']}/plot.png")
    assert plot.headers["content-type"] == "image/png" and plot.content.startswith(PNG_MAGIC)
    assert tenant.client.get("/ui/training-jobs/nope").status_code == 404


def test_adapters_show_gate_figures_and_roll_back(tenant, tmp_path, monkeypatch):
    monkeypatch.setenv("FORGEYARD_MODEL_BASE_URL", "http://127.0.0.1:9/v1")  # no server
    get_settings.cache_clear()
    gate = {"passed": True, "reason": "better", "mean_difference": 0.19712, "ci_low": 0.136}
    active = candidate(tenant.id, tmp_path, status=AdapterStatus.active, gate=gate)
    cand = candidate(tenant.id, tmp_path, rank=64)
    csrf = login(tenant.client, tenant.token)
    listing = tenant.client.get("/ui/adapters").text
    assert "Promotion gate: passed — better" in listing
    assert "<th>mean_difference</th><td>0.1971</td>" in listing
    assert f"/ui/adapters/{active.id}/rollback" in listing
    assert f"/ui/adapters/{cand.id}/promote" in listing

    refused = tenant.client.post(f"/ui/adapters/{cand.id}/promote", data={"csrf": csrf})
    assert refused.status_code == 422 and "rank 64" in refused.text
    assert tenant.client.post(f"/ui/adapters/{active.id}/rollback").status_code == 403
    done = tenant.client.post(f"/ui/adapters/{active.id}/rollback", data={"csrf": csrf})
    assert done.status_code == 200
    assert "the base model answers again" in done.text
    assert tenant.get(f"/v1/adapters/{active.id}").json()["status"] == "retired"


@pytest.mark.parametrize("path", ["/ui/training-jobs", "/ui/adapters"])
def test_training_pages_need_a_login(client, path):
    assert client.get(path, follow_redirects=False).status_code == 303
