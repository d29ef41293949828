"""Leases with fencing tokens: one holder at a time, and a holder that lost it writes nothing.

A leased row (a run) carries ``lease_owner``, ``lease_expires_at``,
``heartbeat_at`` and ``lease_epoch``.  Taking the lease increments the epoch;
the epoch is the fencing token.  A holder that froze (``SIGSTOP``, a long GC
pause, a partitioned host) past its lease may wake up after another worker
took the row over; every write it makes is conditional on the epoch it was
given (:meth:`Lease.hold`, in the same transaction as the write), so its first
write after waking raises :class:`LeaseLost` and nothing is written.

:meth:`Lease.hold` is a no-op ``UPDATE ... SET lease_epoch = lease_epoch WHERE
id = ? AND lease_epoch = ?``: it checks the epoch *and* locks the row until the
transaction commits (PostgreSQL row lock; SQLite holds its write lock), so a
competing take-over waits for the write instead of slipping in between the
check and the commit.

Every kind of leased job uses the same pieces: runs (``worker/runs.py``),
training jobs, reward evaluations and adapter promotions.  :func:`leased` is
the whole life of a job's lease (take it, heartbeat, give it up);
:meth:`Lease.update` is a fenced write of the job's own row; :func:`sweep_jobs`
is the sweeper of a job table (``status``, ``attempts``, the lease columns and
``enqueued_at``): it sends again a job whose holder's lease expired, or whose
message was lost, and fails one whose holders died ``max_attempts`` times.
The sweeper moving a job increments the epoch too, so a frozen holder that
wakes after it cannot write the job either.

Errors::

    LeaseLost                 another holder has the lease now (a newer epoch)
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlmodel import Session, SQLModel

from forgeyard.db import session_scope
from forgeyard.models import utcnow
from forgeyard.settings import get_settings

__all__ = [
    "Heartbeat",
    "Lease",
    "LeaseLost",
    "acquire",
    "holder_identity",
    "leased",
    "sweep_jobs",
]

log = logging.getLogger("forgeyard.leases")


class LeaseLost(Exception):
    """This holder's epoch is no longer current: it must stop and write nothing more."""


@dataclass(frozen=True)
class Lease:
    """A lease held at one epoch on one row of ``model``.

    ``previous_owner`` is the holder whose lease had expired when this one
    was taken (it died or froze mid-work), or None when the row was free.
    """

    model: type[SQLModel]
    row_id: str
    owner: str
    epoch: int
    previous_owner: str | None = None

    def _current(self) -> ColumnElement[bool]:
        table: Any = self.model
        return (table.id == self.row_id) & (table.lease_epoch == self.epoch)

    def hold(self, session: Session) -> None:
        """Inside ``session``'s transaction: raise :class:`LeaseLost` unless still current.

        Call it before the transaction's writes; the row stays locked until commit.
        """
        table: Any = self.model
        result = session.exec(  # type: ignore[call-overload]
            update(table).where(self._current()).values(lease_epoch=table.lease_epoch)
        )
        if result.rowcount != 1:
            raise LeaseLost(
                f"{table.__tablename__} {self.row_id}: lease epoch {self.epoch} of "
                f"{self.owner} was superseded; stopping without writing"
            )

    def update(self, session: Session | None = None, **values: Any) -> None:
        """Set ``values`` on the leased row, fenced: :class:`LeaseLost` and nothing written.

        In ``session``'s transaction when given (with the caller's other
        writes), else in one of its own.
        """
        if session is None:
            with session_scope() as own:
                self.update(own, **values)
            return
        self.hold(session)
        if values:
            table: Any = self.model
            session.exec(  # type: ignore[call-overload]
                update(table).where(self._current()).values(**values)
            )

    def check(self) -> None:
        """:meth:`hold` in a transaction of its own (before an action outside the database)."""
        with session_scope() as session:
            self.hold(session)

    def renew(self) -> bool:
        """Extend the lease; False when it is no longer ours."""
        table: Any = self.model
        now = utcnow()
        with session_scope() as session:
            result = session.exec(  # type: ignore[call-overload]
                update(table)
                .where(self._current(), table.lease_owner == self.owner)
                .values(lease_expires_at=now + _length(), heartbeat_at=now)
            )
            return bool(result.rowcount == 1)

    def release(self) -> None:
        """Give the lease up (nothing happens when it was lost meanwhile)."""
        table: Any = self.model
        with session_scope() as session:
            session.exec(  # type: ignore[call-overload]
                update(table)
                .where(self._current(), table.lease_owner == self.owner)
                .values(lease_owner=None, lease_expires_at=None)
            )


def holder_identity() -> str:
    """A lease owner name unique to this process and call: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _length() -> timedelta:
    return timedelta(seconds=get_settings().lease_seconds)


def acquire(
    model: type[SQLModel], row_id: str, owner: str, *conditions: Any, **values: Any
) -> Lease | None:
    """Take the lease on ``row_id`` if it is free or expired (and ``conditions`` hold).

    The epoch is incremented in the same statement; ``values`` are further
    columns set with it.  Returns the lease, or None when another holder's is live.
    """
    table: Any = model
    now = utcnow()
    with session_scope() as session:
        before = session.exec(  # type: ignore[call-overload]
            select(table.lease_owner, table.lease_expires_at).where(table.id == row_id)
        ).first()
        if before is None:
            return None
        result = session.exec(  # type: ignore[call-overload]
            update(table)
            .where(
                table.id == row_id,
                or_(table.lease_owner.is_(None), table.lease_expires_at < now),
                *conditions,
            )
            .values(
                lease_owner=owner,
                lease_expires_at=now + _length(),
                heartbeat_at=now,
                lease_epoch=table.lease_epoch + 1,
                **values,
            )
        )
        if result.rowcount != 1:
            return None
        # Read back inside the same transaction: the row is ours (locked) until commit.
        epoch = session.exec(  # type: ignore[call-overload]
            select(table.lease_epoch).where(table.id == row_id)
        ).one()[0]
    return Lease(model, row_id, owner, int(epoch), previous_owner=before[0])


class Heartbeat(threading.Thread):
    """Renews a lease every third of its length until stopped, or until it is lost.

    ``lost`` is set once a renewal finds another holder; the holder's next
    fenced write raises :class:`LeaseLost` either way.
    """

    def __init__(self, lease: Lease) -> None:
        super().__init__(name=f"forgeyard-heartbeat-{lease.row_id}", daemon=True)
        self.lease = lease
        self.stopped = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        interval = get_settings().lease_seconds / 3
        while not self.stopped.wait(interval):
            try:
                if not self.lease.renew():
                    self.lost.set()
                    log.error(
                        "%s %s: lease (epoch %d) lost to another worker; its next write stops it",
                        self.lease.model.__tablename__,
                        self.lease.row_id,
                        self.lease.epoch,
                    )
                    return
            except Exception:  # noqa: BLE001 - a database blip; try again next beat
                log.exception("%s: heartbeat failed", self.lease.row_id)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


@contextmanager
def leased(
    model: type[SQLModel], row_id: str, *conditions: Any, owner: str | None = None, **values: Any
) -> Iterator[Lease | None]:
    """The life of a job's lease: :func:`acquire`, a :class:`Heartbeat`, then release.

    Yields the lease, or None when it was not free (another holder's is live,
    or ``conditions`` do not hold); the body then has nothing to do.  The
    heartbeat is stopped and the lease given up however the body ends
    (a lost lease's release changes nothing).
    """
    lease = acquire(model, row_id, owner or holder_identity(), *conditions, **values)
    if lease is None:
        yield None
        return
    heartbeat = Heartbeat(lease)
    heartbeat.start()
    try:
        yield lease
    finally:
        heartbeat.stop()
        lease.release()


def sweep_jobs(
    model: type[SQLModel],
    statuses: type[StrEnum],
    enqueue: Callable[[str], bool],
    *,
    max_attempts: int,
    gave_up: Callable[[Any], dict[str, Any]],
    requeued: Callable[[Any], dict[str, Any]] | None = None,
    limit: int = 500,
) -> list[str]:
    """Send again the jobs of ``model`` no holder works on; fail those tried too often.

    The table has ``status`` (``statuses`` has ``queued``, ``running`` and
    ``failed``), ``attempts`` (counted by whoever takes the lease), the lease
    columns and ``enqueued_at`` (when it was last sent).

    * running, lease expired: its holder died (or froze).  With fewer than
      ``max_attempts`` attempts it is queued again (``requeued(row)`` adds
      columns to set), else failed (``gave_up(row)``: the error, the finish
      time).  Either way the epoch moves on: the old holder is fenced out.
    * queued, lease free, sent longer than ``requeue_after_seconds`` ago (or
      never): its message was lost; sent again.

    Returns the ids sent.
    """
    table: Any = model
    settings = get_settings()
    now = utcnow()
    resend_since = now - timedelta(seconds=settings.requeue_after_seconds)
    expired = or_(table.lease_expires_at.is_(None), table.lease_expires_at < now)
    queued, running, failed = statuses("queued"), statuses("running"), statuses("failed")
    with session_scope() as session:
        dead = list(
            session.exec(  # type: ignore[call-overload]
                select(table.id, table.attempts, table.lease_epoch)
                .where(table.status == running, expired)
                .limit(limit)
            )
        )
        lost = [
            row[0]
            for row in session.exec(  # type: ignore[call-overload]
                select(table.id)
                .where(
                    table.status == queued,
                    or_(table.lease_owner.is_(None), table.lease_expires_at < now),
                    or_(table.enqueued_at.is_(None), table.enqueued_at < resend_since),
                )
                .limit(limit)
            )
        ]
    send: list[str] = list(lost)
    for row_id, attempts, epoch in dead:
        stop = attempts >= max_attempts
        row = _row(model, row_id)
        if row is None:
            continue
        values = gave_up(row) | {"status": failed} if stop else {"status": queued}
        if not stop and requeued is not None:
            values |= requeued(row)
        with session_scope() as session:
            moved = session.exec(  # type: ignore[call-overload]
                update(table)
                .where(
                    table.id == row_id,
                    table.lease_epoch == epoch,
                    and_(table.status == running, expired),
                )
                .values(
                    lease_epoch=table.lease_epoch + 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    enqueued_at=now,
                    **values,
                )
            ).rowcount
        if moved != 1:
            continue  # taken over (or finished) meanwhile
        if stop:
            log.error(
                "sweeper: %s %s failed: its holder died %d time(s)",
                table.__tablename__,
                row_id,
                attempts,
            )
        else:
            log.warning("sweeper: %s %s re-enqueued (lease expired)", table.__tablename__, row_id)
            send.append(row_id)
    if lost:
        with session_scope() as session:
            session.exec(  # type: ignore[call-overload]
                update(table).where(table.id.in_(lost)).values(enqueued_at=now)
            )
        for row_id in lost:
            log.warning(
                "sweeper: %s %s re-enqueued (message not picked up)", table.__tablename__, row_id
            )
    for row_id in send:
        enqueue(row_id)
    return send


def _row(model: type[SQLModel], row_id: str) -> Any:
    """The row ``row_id`` of ``model`` as stored now (None if there is none)."""
    with session_scope() as session:
        return session.get(model, row_id)
