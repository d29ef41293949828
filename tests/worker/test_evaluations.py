"""A reward-model evaluation submitted over HTTP is run by a real worker process."""

from __future__ import annotations

from tests.support.reward_models import dataset_jsonl, register
from tests.support.service import wait_for


def test_a_real_worker_runs_an_evaluation_with_progress(tenant, start_worker):
    start_worker(beat=False)
    rm = register(tenant)
    response = tenant.post(
        f"/v1/reward-models/{rm['id']}/evaluations", json={"dataset": dataset_jsonl()}
    )
    assert response.status_code == 202
    url = response.json()["links"]["self"]
    done = wait_for(
        lambda: (e := tenant.get(url).json())["status"] in ("succeeded", "failed") and e,
        what="the evaluation",
    )
    assert (done["status"], done["progress"], done["passed"]) == ("succeeded", 1.0, True)
    assert done["message"] == "done" and done["report"]["dataset"]["examples"] == 4
    assert tenant.get(f"/v1/reward-models/{rm['id']}").json()["status"] == "approved"
