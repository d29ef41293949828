"""Promotions as worker jobs: a request to promote a candidate, run by a worker under a lease.

``POST /v1/adapters/{id}/promote`` records a :class:`PromotionRecord`
(:func:`create_promotion`, which refuses at once what needs no model server:
not a candidate, rank too large, unknown node or reward model) and sends its
id to a worker; the gate (:func:`training.adapters.promote`, tens of seconds)
runs there, never inside the HTTP request.  The caller polls the promotion.

A promotion is leased like a run (:mod:`forgeyard.leases`): :func:`run_promotion`
takes the lease, a heartbeat renews it, and the gate's decision, the
adapter's activation and the promotion's outcome are written in one
transaction that holds it, so a worker that froze past its lease and woke up
writes nothing and the adapter becomes active only from the lease holder.
:func:`sweep_promotions` sends again a promotion whose worker died (the gate
runs again: nothing was written) or whose message was lost, and fails it once
``promotion_max_attempts`` leases were taken.

Errors (all :class:`~training.TrainingError`)::

    TrainingError
    ├── PromotionNotFound        no such promotion for this tenant
    └── PromotionNotClaimable    finished, held by a live worker, or out of attempts
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from agents.model_client import ModelClient
from forgeyard import leases
from forgeyard.db import session_scope
from forgeyard.leases import Lease, LeaseLost
from forgeyard.models import utcnow
from forgeyard.records.training import PromotionRecord, PromotionStatus
from forgeyard.settings import get_settings
from training import TrainingError
from training.adapters import PromotionRefused, check_promotable, get_adapter, promote

__all__ = [
    "PromotionNotClaimable",
    "PromotionNotFound",
    "create_promotion",
    "get_promotion",
    "list_promotions",
    "process_promotion",
    "run_promotion",
    "sweep_promotions",
]

log = logging.getLogger("forgeyard.training")


class PromotionNotFound(TrainingError, LookupError):
    """No promotion with that id for this tenant."""


class PromotionNotClaimable(TrainingError):
    """The promotion is finished, running on a live worker, or out of attempts."""


def create_promotion(
    adapter_id: str,
    *,
    tenant_id: str,
    held_out: int | None = None,
    held_out_seed: int | None = None,
    margin: float | None = None,
) -> PromotionRecord:
    """Record a queued promotion of candidate ``adapter_id`` (its creator sends it to a worker).

    An unfinished promotion of the same adapter is returned instead of a
    second one, so a retried request starts one gate.

    Raises:
        AdapterNotFound: no such adapter for this tenant.
        AdapterStateError: it is not a candidate.
        AdapterRankTooLarge: its rank exceeds the server's.
        TrainingError: its workflow, node or reward model is unknown.
    """
    adapter = get_adapter(adapter_id, tenant_id=tenant_id)
    check_promotable(adapter)
    options = {
        key: value
        for key, value in (
            ("held_out", held_out),
            ("held_out_seed", held_out_seed),
            ("margin", margin),
        )
        if value is not None
    }
    with session_scope() as session:
        pending = session.exec(
            select(PromotionRecord).where(
                PromotionRecord.adapter_id == adapter.id,
                col(PromotionRecord.status).in_([PromotionStatus.queued, PromotionStatus.running]),
            )
        ).first()
        if pending is not None:
            return pending
        record = PromotionRecord(
            tenant_id=tenant_id,
            adapter_id=adapter.id,
            options=options,
            message="queued: a worker runs the gate",
            enqueued_at=utcnow(),
        )
        session.add(record)
    return record


def get_promotion(promotion_id: str, *, tenant_id: str | None = None) -> PromotionRecord:
    """The promotion ``promotion_id`` (of ``tenant_id``, when given).

    Raises:
        PromotionNotFound: there is none, or it belongs to another tenant.
    """
    with session_scope() as session:
        record = session.get(PromotionRecord, promotion_id)
    if record is None or (tenant_id is not None and record.tenant_id != tenant_id):
        raise PromotionNotFound(f"No promotion `{promotion_id}`.", field="promotion_id")
    return record


def list_promotions(
    *, tenant_id: str | None = None, adapter_id: str | None = None, limit: int = 100
) -> list[PromotionRecord]:
    """Promotions, newest first (of one tenant or adapter, if given)."""
    query = select(PromotionRecord).order_by(col(PromotionRecord.created_at).desc())
    if tenant_id is not None:
        query = query.where(PromotionRecord.tenant_id == tenant_id)
    if adapter_id is not None:
        query = query.where(PromotionRecord.adapter_id == adapter_id)
    with session_scope() as session:
        return list(session.exec(query.limit(limit)))


def run_promotion(promotion_id: str, *, client: ModelClient | None = None) -> PromotionRecord:
    """Run the gate of a queued promotion under its lease; the promotion afterwards.

    Its outcome is stored on it: ``succeeded`` (the adapter is active, the
    decision in ``gate``) or ``failed`` (``error`` and ``error_field``;
    ``gate`` when the gate refused it).

    Raises:
        PromotionNotFound: no such promotion.
        PromotionNotClaimable: finished, running on a live worker, or out of attempts.
        LeaseLost: another worker took it over meanwhile (nothing more was written).
    """
    promotion = get_promotion(promotion_id)
    claimable = (
        col(PromotionRecord.status).in_([PromotionStatus.queued, PromotionStatus.running]),
        col(PromotionRecord.attempts) < get_settings().promotion_max_attempts,
    )
    with leases.leased(
        PromotionRecord,
        promotion_id,
        *claimable,
        status=PromotionStatus.running,
        attempts=PromotionRecord.attempts + 1,
        started_at=func.coalesce(PromotionRecord.started_at, utcnow()),
        message="running the gate: the candidate and what serves now on held-out tasks",
    ) as lease:
        if lease is None:
            raise PromotionNotClaimable(
                f"Promotion `{promotion_id}` is {get_promotion(promotion_id).status.value} and "
                "not claimable (finished, running on a live worker, or out of attempts).",
                field="promotion",
            )
        log.info(
            "promotion %s of adapter %s: lease epoch %d%s",
            promotion_id,
            promotion.adapter_id,
            lease.epoch,
            f", taken over from {lease.previous_owner}" if lease.previous_owner else "",
        )
        _run_leased(promotion, lease, client)
    return get_promotion(promotion_id)


def _run_leased(promotion: PromotionRecord, lease: Lease, client: ModelClient | None) -> None:
    def record(session: Session, decision: dict[str, Any]) -> None:
        # In the transaction that stores the decision (and activates the adapter).
        passed = bool(decision["passed"])
        lease.update(
            session,
            status=PromotionStatus.succeeded if passed else PromotionStatus.failed,
            gate=decision,
            message=f"adapter {promotion.adapter_id} is active"
            if passed
            else "refused by the gate",
            error=None
            if passed
            else f"Adapter `{promotion.adapter_id}` was not promoted: {decision['reason']}.",
            error_field=None if passed else "gate",
            finished_at=utcnow(),
        )

    options = promotion.options or {}
    try:
        promote(
            promotion.adapter_id,
            tenant_id=promotion.tenant_id,
            client=client,
            held_out=options.get("held_out"),
            held_out_seed=options.get("held_out_seed"),
            margin=options.get("margin"),
            fence=lease,
            on_decision=record,
        )
    except PromotionRefused:
        log.info("promotion %s: refused by the gate", promotion.id)
    except LeaseLost:
        raise
    except Exception as exc:  # noqa: BLE001 - stored on the promotion for its caller
        log.warning("promotion %s failed: %s", promotion.id, exc)
        lease.update(
            status=PromotionStatus.failed,
            error=str(exc) or type(exc).__name__,
            error_field=getattr(exc, "field", None) or type(exc).__name__,
            message="failed",
            finished_at=utcnow(),
        )


def process_promotion(
    promotion_id: str, *, client: ModelClient | None = None
) -> PromotionRecord | None:
    """What a worker does with a promotion id: run it under its lease, never raise.

    Returns the promotion afterwards, or None when there was nothing to do (no
    such promotion, finished, held by a live worker, or lost meanwhile).
    """
    try:
        return run_promotion(promotion_id, client=client)
    except (PromotionNotFound, PromotionNotClaimable) as exc:
        log.info("promotion %s: nothing to do (%s)", promotion_id, exc)
    except LeaseLost as exc:
        log.warning("promotion %s: stopped, lease lost (%s)", promotion_id, exc)
    except Exception:  # noqa: BLE001 - a database failure while recording: the sweeper retries
        log.exception("promotion %s failed", promotion_id)
    return None


def sweep_promotions(enqueue: Callable[[str], bool]) -> list[str]:
    """Send again promotions no worker holds; fail those whose workers died too often.

    * running, lease expired: its worker died (or froze) before the decision
      was stored; queued and sent again (the gate runs again), or failed
      once ``promotion_max_attempts`` leases were taken (the adapter stays a
      candidate).
    * queued, last sent longer than ``requeue_after_seconds`` ago: sent again.
    Returns the ids sent.
    """
    max_attempts = get_settings().promotion_max_attempts

    def gave_up(promotion: PromotionRecord) -> dict[str, Any]:
        return {
            "finished_at": utcnow(),
            "message": "failed",
            "error": f"its worker died {promotion.attempts} time(s) (promotion_max_attempts = "
            f"{max_attempts}); adapter {promotion.adapter_id} is still a candidate, "
            "promote it again",
            "error_field": "worker",
        }

    def requeued(promotion: PromotionRecord) -> dict[str, Any]:
        return {"message": "worker lost; queued to run the gate again"}

    return leases.sweep_jobs(
        PromotionRecord,
        PromotionStatus,
        enqueue,
        max_attempts=max_attempts,
        gave_up=gave_up,
        requeued=requeued,
    )
