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

Errors::

    LeaseLost                 another holder has the lease now (a newer epoch)
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlmodel import Session, SQLModel

from forgeyard.db import session_scope
from forgeyard.models import utcnow
from forgeyard.settings import get_settings

__all__ = ["Heartbeat", "Lease", "LeaseLost", "acquire"]

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
