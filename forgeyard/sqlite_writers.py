"""One SQLite writer per process at a time, in turn.

SQLite has one writer at a time, and its busy handler polls with growing
sleeps: with dozens of threads of a worker contending (each commit an fsync),
one can starve past the busy timeout ("database is locked").  So the writers of
a process queue on :data:`SQLITE_WRITER` first, and only one per process
contends for SQLite's lock (other processes are few: the API, other workers).
The SQLAlchemy engine takes the turn at a transaction's first write and gives
it back at commit, rollback or check-in (:mod:`forgeyard.db`); checkpoint writes
take it with :func:`sqlite_writer`.  A semaphore, not a lock, since a
transaction may end on another thread than it began; waits are bounded, and
past :data:`SQLITE_WRITER_WAIT` a writer goes on to SQLite's own busy handling.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SQLITE_WRITER", "SQLITE_WRITER_WAIT", "WRITES", "sqlite_writer"]

SQLITE_WRITER = threading.BoundedSemaphore(1)
SQLITE_WRITER_WAIT = 60.0
# Statements that open pysqlite's (deferred) transaction.
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@contextmanager
def sqlite_writer() -> Iterator[None]:
    """Hold this process's SQLite writer turn around a write made outside SQLAlchemy."""
    held = SQLITE_WRITER.acquire(timeout=SQLITE_WRITER_WAIT)
    try:
        yield
    finally:
        if held:
            SQLITE_WRITER.release()
