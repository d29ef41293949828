"""A throw-away database for side effects that must not happen for real.

Used wherever a workflow runs "as if": a what-if replay, a fork without live
effects, a training environment.  Side-effecting tools write through an
effects ledger bound to a temporary SQLite file with every Forgeyard table
(bookings included), so nothing reaches the configured database.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine, func, select

import forgeyard.models  # noqa: F401 - registers the tables create_all makes
from agents.effects import EffectsLedger

__all__ = ["SandboxDatabase"]


class SandboxDatabase:
    """A temporary SQLite database with every table, and a ledger writing into it."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="forgeyard-sandbox-")
        self.url = f"sqlite:///{Path(self._dir.name) / 'sandbox.db'}"
        # Plain SQLite, foreign keys not enforced: the ledger's entries name a
        # run that does not exist in this database.
        self.engine: Engine = create_engine(self.url, connect_args={"check_same_thread": False})
        # Tool modules define their tables (bookings) on import; the workflow
        # spec is loaded before a sandbox is made, so create_all sees them.
        SQLModel.metadata.create_all(self.engine)

    def ledger(self) -> EffectsLedger:
        """An effects ledger recording into the sandbox."""
        return EffectsLedger(self.engine)

    def count(self, table: type[SQLModel]) -> int:
        """How many rows ``table`` holds in the sandbox."""
        with Session(self.engine) as session:
            return int(session.exec(select(func.count()).select_from(table)).one())

    def close(self) -> None:
        self.engine.dispose()
        self._dir.cleanup()
