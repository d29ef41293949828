"""Runs as a service: leases, heartbeats, the sweeper, queued decisions, cancellation.

The database is the truth.  A worker executes a run only while it holds the
run's lease (``lease_owner``, ``lease_expires_at``), which a heartbeat thread
renews; each taking of the lease gets a new ``lease_epoch`` (a fencing token,
:mod:`forgeyard.leases`) and every write of the run's execution is conditional
on it, so a worker that froze past its lease and woke up writes nothing more.
A worker killed mid-run stops renewing; the sweeper then finds the unfinished
run with an expired lease and enqueues it again, and the next worker resumes
it from its last LangGraph checkpoint (side effects are kept to one by the
effects ledger).  The sweeper also enqueues queued runs whose
message never reached a worker, e.g. because Redis restarted.

Errors come from :mod:`agents.runner` (``RunNotFound``, ``RunStateError``);
:class:`~forgeyard.leases.LeaseLost` stops a worker's run and is logged here.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import col, select

from agents.effects import cancelled_output
from agents.runner import RunNotFound, RunStateError, execute_run, get_run
from forgeyard import leases
from forgeyard.db import DATABASE_UNAVAILABLE, session_scope
from forgeyard.leases import Heartbeat, Lease, LeaseLost
from forgeyard.models import Approval, DeliveryStatus, Run, RunStatus, Step, WebhookDelivery, utcnow
from forgeyard.settings import get_settings
from forgeyard.telemetry import context, metrics
from training.adapters import REGISTRY
from worker import messages, webhooks

__all__ = [
    "RunCancelled",
    "acquire_lease",
    "cancel_run",
    "enqueue",
    "announce",
    "enqueue_webhook",
    "process_run",
    "queue_decision",
    "sweep",
]

log = logging.getLogger("forgeyard.worker")

UNFINISHED = (RunStatus.queued, RunStatus.running, RunStatus.waiting_approval)


class RunCancelled(Exception):
    """Raised between steps to stop the graph of a run that was cancelled meanwhile."""


# -- messages -------------------------------------------------------------------
def enqueue(run_id: str) -> bool:
    """Send the run to a worker; False (logged) when the broker is unreachable.

    Callers record the run in the database first, so a failed send only
    delays the run until the sweeper sends it again.
    """
    return messages.send(messages.EXECUTE_RUN, run_id, queue=get_settings().queue, what="run")


def enqueue_webhook(delivery_id: str) -> bool:
    """Send a webhook delivery (by its id) to a worker."""
    return messages.send(
        messages.DELIVER_WEBHOOK, delivery_id, queue=get_settings().queue, what="webhook delivery"
    )


def announce(run_id: str, event: str) -> None:
    """Record the run's webhook event (once) and send its delivery to a worker.

    A lost message only delays it: the sweeper sends deliveries never tried.
    """
    delivery_id = webhooks.announce(run_id, event)
    if delivery_id is not None:
        enqueue_webhook(delivery_id)


# -- lease ------------------------------------------------------------------------
def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire_lease(run_id: str, owner: str) -> Lease | None:
    """Take the run's lease (a new epoch) if it is free or expired and the run can progress."""
    return leases.acquire(
        Run,
        run_id,
        owner,
        col(Run.status).in_([RunStatus.queued, RunStatus.running]),
        executions=Run.executions + 1,
    )


# -- execution --------------------------------------------------------------------
def process_run(run_id: str) -> Run | None:
    """Execute or resume ``run_id`` under its lease; what a worker task does.

    Returns the run as it stands afterwards, or None when there was nothing to
    do here: no such run, already finished, waiting for a decision, held by
    another live worker, or taken over by another worker while this one ran
    (it lost the lease, e.g. frozen past it, and stopped without writing).
    """
    with context.bound(run_id=run_id):
        return _process(run_id)


def _process(run_id: str) -> Run | None:
    try:
        run = get_run(run_id)
    except RunNotFound:
        log.warning("run %s: not in the database, message dropped", run_id)
        return None
    if run.status.finished or run.status == RunStatus.waiting_approval:
        log.info("run %s is %s: nothing to do", run_id, run.status.value)
        return None
    lease = acquire_lease(run_id, worker_identity())
    if lease is None:
        log.info("run %s: held by another worker or no longer runnable", run_id)
        return None
    heartbeat = Heartbeat(lease)
    heartbeat.start()
    keep_lease = False
    log.info(
        "run %s (%s): executing as %s, lease epoch %d%s",
        run_id,
        run.workflow,
        lease.owner,
        lease.epoch,
        f", taken over from {lease.previous_owner}" if lease.previous_owner else "",
    )
    try:
        decision = _pending_decision(run_id)
        resume = None
        if decision is not None:
            resume = {"approved": decision.approved, "by": decision.by, "comment": decision.comment}
        result = execute_run(
            run_id,
            resume=resume,
            adapter_source=REGISTRY,
            on_step=_stop_if_cancelled,
            fence=lease,
        )
        if decision is not None:
            _consume(decision)
        # Announced by whoever finished it: a cancelled run's by cancel_run.
        event = None
        if result.status in (RunStatus.succeeded, RunStatus.failed):
            event = webhooks.EVENT_FINISHED
        elif result.status == RunStatus.waiting_approval:
            # What needs a person is announced too, not only the end.
            event = webhooks.EVENT_WAITING_APPROVAL
        if event is not None and result.webhook_url:
            lease.check()
            announce(run_id, event)
    except LeaseLost as exc:
        log.warning("run %s: stopped, lease lost (%s)", run_id, exc)
        return None
    except DATABASE_UNAVAILABLE as exc:
        # As if this worker had died here: the lease is kept, so it expires and
        # the sweeper sends the run again, resumed from its last checkpoint.
        log.warning(
            "run %s: database unavailable (%s: %s); left to its lease's expiry and the sweeper",
            run_id,
            type(exc).__name__,
            exc,
        )
        keep_lease = True
        return None
    finally:
        heartbeat.stop()
        if not keep_lease:
            lease.release()
    log.info(
        "run %s: %s%s", run_id, result.status.value, f" ({result.error})" if result.error else ""
    )
    return result


def _stop_if_cancelled(step: Step) -> None:
    with session_scope() as session:
        status = session.exec(select(Run.status).where(Run.id == step.run_id)).one()
    if status == RunStatus.cancelled:
        raise RunCancelled(f"run {step.run_id} was cancelled")


def _pending_decision(run_id: str) -> Approval | None:
    with session_scope() as session:
        return session.exec(
            select(Approval)
            .where(Approval.run_id == run_id, col(Approval.consumed_at).is_(None))
            .order_by(col(Approval.id).desc())
        ).first()


def _consume(decision: Approval) -> None:
    with session_scope() as session:
        session.exec(  # type: ignore[call-overload]
            update(Approval).where(col(Approval.id) == decision.id).values(consumed_at=utcnow())
        )


# -- requests from the API ------------------------------------------------------------
def queue_decision(
    run_id: str, *, tenant_id: str, approved: bool, by: str, comment: str | None = None
) -> Run:
    """Record an approval decision and hand the run to a worker to carry it out.

    Raises:
        RunNotFound: no such run for this tenant.
        RunStateError: the run is not waiting for an approval (or was just decided).
    """
    now = utcnow()
    with session_scope() as session:
        run = session.get(Run, run_id)
        if run is None or run.tenant_id != tenant_id:
            raise RunNotFound(f"No run `{run_id}`.")
        node = (run.pending_approval or {}).get("node")
        # Conditional on the state, so of two racing decisions exactly one wins.
        result = session.exec(  # type: ignore[call-overload]
            update(Run)
            .where(col(Run.id) == run_id, col(Run.status) == RunStatus.waiting_approval)
            .values(status=RunStatus.queued, enqueued_at=now, updated_at=now)
        )
        if result.rowcount != 1:
            raise RunStateError(
                f"Run `{run_id}` is {run.status.value}, not waiting for an approval."
            )
        session.exec(  # type: ignore[call-overload]
            update(Approval)
            .where(col(Approval.run_id) == run_id, col(Approval.consumed_at).is_(None))
            .values(consumed_at=now)
        )
        session.add(Approval(run_id=run_id, node=node, approved=approved, by=by, comment=comment))
    enqueue(run_id)
    return get_run(run_id)


def cancel_run(run_id: str, *, tenant_id: str, by: str) -> Run:
    """Cancel an unfinished run; a worker executing it stops after its current step.

    A cancel cannot undo what the run already did: its output lists every side
    effect committed so far (``{"cancelled": true, "effects": [...]}``, each with
    the tool's response, e.g. a booking reference), and the worker adds one its
    current step commits before it stops.

    Raises:
        RunNotFound: no such run for this tenant.
        RunStateError: the run has already finished.
    """
    now = utcnow()
    with session_scope() as session:
        output = cancelled_output(session, run_id)
        result = session.exec(  # type: ignore[call-overload]
            update(Run)
            .where(
                col(Run.id) == run_id,
                col(Run.tenant_id) == tenant_id,
                col(Run.status).in_(UNFINISHED),
            )
            .values(
                status=RunStatus.cancelled,
                error=f"cancelled by {by}",
                output=output,
                pending_approval=None,
                finished_at=now,
                updated_at=now,
            )
        )
        cancelled = result.rowcount == 1
    run = get_run(run_id, tenant_id=tenant_id)
    if not cancelled:
        raise RunStateError(
            f"Run `{run_id}` is already {run.status.value}; only queued, running or "
            "waiting runs can be cancelled."
        )
    if run.webhook_url:
        announce(run_id, webhooks.EVENT_FINISHED)
    return run


# -- sweeper ------------------------------------------------------------------------
def sweep() -> list[str]:
    """Enqueue every run that should be executing but that no worker holds.

    * running, lease expired: its worker died; enqueued once per expiry.
    * queued, no live lease, last enqueued long ago: its message was lost.
    Returns the ids enqueued.
    """
    settings = get_settings()
    now = utcnow()
    stale = now - timedelta(seconds=settings.requeue_after_seconds)
    lease_free = or_(col(Run.lease_owner).is_(None), col(Run.lease_expires_at) < now)
    not_sent_since = or_(
        col(Run.enqueued_at).is_(None),
        col(Run.enqueued_at) < stale,
        col(Run.enqueued_at) < col(Run.lease_expires_at),
    )
    dead_worker = and_(
        col(Run.status) == RunStatus.running,
        col(Run.lease_owner).is_not(None),
        col(Run.lease_expires_at) < now,
        not_sent_since,
    )
    lost_message = and_(
        col(Run.status) == RunStatus.queued,
        lease_free,
        or_(
            and_(col(Run.enqueued_at).is_(None), col(Run.created_at) < stale),
            col(Run.enqueued_at) < stale,
            col(Run.enqueued_at) < col(Run.lease_expires_at),
        ),
    )
    with session_scope() as session:
        rows: list[Any] = list(
            session.exec(
                select(Run.id, Run.status).where(or_(dead_worker, lost_message)).limit(500)
            )
        )
        if rows:
            session.exec(  # type: ignore[call-overload]
                update(Run).where(col(Run.id).in_([r[0] for r in rows])).values(enqueued_at=now)
            )
        # Events recorded but never tried: their message was lost.
        unsent = list(
            session.exec(
                select(WebhookDelivery.id)
                .where(
                    col(WebhookDelivery.status) == DeliveryStatus.pending,
                    WebhookDelivery.attempts == 0,
                    col(WebhookDelivery.created_at) < stale,
                )
                .limit(500)
            )
        )
    for run_id, status in rows:
        why = "worker lease expired" if status == RunStatus.running else "message not picked up"
        log.warning("sweeper: run %s re-enqueued (%s)", run_id, why)
        metrics.REQUEUED.labels(
            "lease_expired" if status == RunStatus.running else "not_picked_up"
        ).inc()
        enqueue(run_id)
    for delivery_id in unsent:
        log.warning("sweeper: webhook delivery %s re-enqueued", delivery_id)
        enqueue_webhook(delivery_id)
    return [r[0] for r in rows]
