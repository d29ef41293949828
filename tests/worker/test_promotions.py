"""Promotions and evaluations as worker jobs, run by real worker processes.

The model server is unreachable here (the gate against a real vLLM is in
tests/training/test_adapters.py): what is shown is the job's path, a POST
answered at once and finished by a worker, and a dead worker's job re-sent by
the sweeper and finished by another.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from forgeyard import leases
from forgeyard.db import session_scope
from forgeyard.models import utcnow
from forgeyard.records.rewards import EvaluationRecord, EvaluationStatus
from forgeyard.records.training import PromotionRecord, PromotionStatus
from tests.support.adapters import candidate
from tests.support.reward_models import dataset_jsonl, register
from tests.support.service import purge_queue, wait_for

NO_SERVER = {"FORGEYARD_MODEL_BASE_URL": "http://127.0.0.1:9/v1"}


def _died_holding(model: Any, row_id: str, status: Any) -> None:
    """As if a worker took the job's lease, then died: running, its lease expired."""
    lease = leases.acquire(
        model, row_id, "dead-worker:1:0", status=status, attempts=model.attempts + 1
    )
    assert lease is not None
    with session_scope() as session:
        session.exec(  # type: ignore[call-overload]
            update(model)
            .where(model.id == row_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=5))
        )
    purge_queue()  # its message went with it


def _finished(tenant, url: str) -> dict:  # type: ignore[no-untyped-def]
    return wait_for(
        lambda: (p := tenant.get(url).json())["status"] in ("succeeded", "failed") and p,
        what=url,
    )


def test_a_promotion_posted_over_http_is_finished_by_a_worker(tenant, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    start_worker(beat=False, **NO_SERVER)
    a = candidate(tenant.id, tmp_path)
    response = tenant.post(f"/v1/adapters/{a.id}/promote")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    done = _finished(tenant, response.headers["Location"])
    assert (done["status"], done["error_field"], done["attempts"]) == (
        "failed",
        "ModelServerError",
        1,
    )
    assert tenant.get(f"/v1/adapters/{a.id}").json()["status"] == "candidate"


def test_the_sweeper_resends_a_dead_workers_promotion_and_evaluation(
    tenant, start_worker, tmp_path
):  # type: ignore[no-untyped-def]
    a = candidate(tenant.id, tmp_path)
    promotion = tenant.post(f"/v1/adapters/{a.id}/promote").json()
    rm = register(tenant)
    evaluation = tenant.post(
        f"/v1/reward-models/{rm['id']}/evaluations", json={"dataset": dataset_jsonl()}
    ).json()
    _died_holding(PromotionRecord, promotion["id"], PromotionStatus.running)
    _died_holding(EvaluationRecord, evaluation["id"], EvaluationStatus.running)

    start_worker(beat=True, **NO_SERVER)  # its sweeper finds both and sends them again
    done = _finished(tenant, evaluation["links"]["self"])
    assert (done["status"], done["passed"], done["progress"]) == ("succeeded", True, 1.0)
    with session_scope() as session:
        stored = session.get(EvaluationRecord, evaluation["id"])
        assert stored is not None and stored.attempts == 2 and stored.lease_owner is None
    promoted = _finished(tenant, promotion["links"]["self"])
    assert (promoted["status"], promoted["attempts"]) == ("failed", 2)
    assert promoted["error_field"] == "ModelServerError"
