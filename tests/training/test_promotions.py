"""Promotions as leased worker jobs: recorded before the gate, fenced, swept.

The gate itself against a real vLLM is in tests/training/test_adapters.py; a
promotion run by a real Celery worker in tests/worker/test_promotions.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from forgeyard import leases
from forgeyard.db import session_scope
from forgeyard.leases import LeaseLost
from forgeyard.models import utcnow
from forgeyard.records.training import AdapterStatus, PromotionRecord, PromotionStatus
from forgeyard.settings import get_settings
from tests.support.adapters import candidate
from training import TrainingError, adapters
from training.adapters import AdapterRankTooLarge, AdapterStateError, get_adapter
from training.promotions import (
    create_promotion,
    get_promotion,
    process_promotion,
    run_promotion,
    sweep_promotions,
)

DECISION = {"passed": True, "reason": "better", "current_adapter_id": None}


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORGEYARD_MODEL_BASE_URL", "http://127.0.0.1:9/v1")
    get_settings.cache_clear()


def _take(promotion_id: str) -> leases.Lease:
    """Take the promotion's lease as a worker starting it does."""
    lease = leases.acquire(
        PromotionRecord,
        promotion_id,
        leases.holder_identity(),
        status=PromotionStatus.running,
        attempts=PromotionRecord.attempts + 1,
    )
    assert lease is not None
    return lease


def _expire(promotion_id: str) -> None:
    with session_scope() as session:
        session.exec(  # type: ignore[call-overload]
            update(PromotionRecord)
            .where(PromotionRecord.id == promotion_id)  # type: ignore[arg-type]
            .values(lease_expires_at=utcnow() - timedelta(seconds=5))
        )


def test_what_needs_no_server_is_refused_before_anything_is_recorded(any_db, tmp_path: Path):
    with pytest.raises(AdapterRankTooLarge):
        create_promotion(candidate("acme", tmp_path, rank=64).id, tenant_id="acme")
    with pytest.raises(AdapterStateError, match="only a candidate"):
        create_promotion(
            candidate("acme", tmp_path, status=AdapterStatus.active).id, tenant_id="acme"
        )
    with pytest.raises(TrainingError) as err:
        create_promotion(candidate("acme", tmp_path, node="confirm").id, tenant_id="acme")
    assert err.value.field == "node"
    cand = candidate("acme", tmp_path)
    with pytest.raises(adapters.AdapterNotFound):
        create_promotion(cand.id, tenant_id="globex")
    first = create_promotion(cand.id, tenant_id="acme", margin=0.1)
    assert (first.status, first.options) == (PromotionStatus.queued, {"margin": 0.1})
    # A retried request while it is pending gets the same promotion, not a second gate.
    assert create_promotion(cand.id, tenant_id="acme").id == first.id


def test_an_unreachable_model_server_fails_the_promotion_and_leaves_a_candidate(
    any_db, tmp_path: Path, no_server: None
):
    cand = candidate("acme", tmp_path)
    done = run_promotion(create_promotion(cand.id, tenant_id="acme").id)
    assert done.status == PromotionStatus.failed and done.attempts == 1
    assert done.error and done.error_field == "ModelServerError" and done.lease_owner is None
    assert get_adapter(cand.id).status == AdapterStatus.candidate
    assert process_promotion(done.id) is None  # finished: a redelivered message does nothing


def test_a_frozen_promoters_late_writes_raise_lease_lost_and_activate_nothing(
    any_db, tmp_path: Path
):
    cand = candidate("acme", tmp_path)
    promotion = create_promotion(cand.id, tenant_id="acme")
    frozen = _take(promotion.id)
    assert process_promotion(promotion.id) is None  # a live lease: nobody else runs the gate
    _expire(promotion.id)  # it froze past its lease; the sweeper sends it again
    sent: list[str] = []
    assert sweep_promotions(lambda p: sent.append(p) or True) == [promotion.id] == sent
    assert get_promotion(promotion.id).status == PromotionStatus.queued

    # The frozen worker wakes with a passing decision: neither the decision,
    # nor the activation, nor the promotion's outcome is written.
    def record(session, decision):  # type: ignore[no-untyped-def]
        frozen.update(session, status=PromotionStatus.succeeded, gate=decision)

    with pytest.raises(LeaseLost):
        adapters._activate(cand.id, DECISION, replaces=None, fence=frozen, on_decision=record)
    with pytest.raises(LeaseLost):
        adapters._store_gate(cand.id, DECISION, fence=frozen, on_decision=record)
    stored = get_adapter(cand.id)
    assert (stored.status, stored.gate) == (AdapterStatus.candidate, None)
    again = get_promotion(promotion.id)
    assert (again.status, again.gate, again.attempts) == (PromotionStatus.queued, None, 1)

    # The new holder's activation goes through, with its outcome in the same transaction.
    successor = _take(promotion.id)
    adapters._activate(
        cand.id,
        DECISION,
        replaces=None,
        fence=successor,
        on_decision=lambda s, d: successor.update(s, status=PromotionStatus.succeeded, gate=d),
    )
    assert get_adapter(cand.id).status == AdapterStatus.active
    assert get_promotion(promotion.id).status == PromotionStatus.succeeded


def test_a_promotion_whose_workers_keep_dying_is_failed_cleanly(
    any_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FORGEYARD_PROMOTION_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    cand = candidate("acme", tmp_path)
    promotion = create_promotion(cand.id, tenant_id="acme")
    _take(promotion.id)
    _expire(promotion.id)
    assert sweep_promotions(lambda p: True) == []
    failed = get_promotion(promotion.id)
    assert failed.status == PromotionStatus.failed and failed.error_field == "worker"
    assert "died 1 time(s)" in (failed.error or "") and failed.finished_at is not None
    assert get_adapter(cand.id).status == AdapterStatus.candidate
    # Finished: a new request records a new promotion.
    assert create_promotion(cand.id, tenant_id="acme").id != promotion.id


def test_the_cli_runs_the_promotion_itself_and_says_why_it_failed(
    sqlite_db, tmp_path: Path, no_server: None
):
    from typer.testing import CliRunner

    from forgeyard.app.cli import app

    cand = candidate("acme", tmp_path)
    result = CliRunner().invoke(app, ["adapters", "promote", cand.id, "--tenant", "acme"])
    assert result.exit_code == 2, result.output
    assert "failed" in result.output
    (promotion,) = [p for p in _promotions() if p.adapter_id == cand.id]
    assert promotion.status == PromotionStatus.failed and promotion.lease_owner is None
    assert get_adapter(cand.id).status == AdapterStatus.candidate


def _promotions() -> list[PromotionRecord]:
    from training.promotions import list_promotions

    return list_promotions()
