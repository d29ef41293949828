"""Database engine, sessions and schema migrations (SQLite or PostgreSQL, same code)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from forgeyard.settings import get_settings

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so workers can share it."""
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1]
    if url.startswith("sqlite") and path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for the configured database."""
    return make_engine(get_settings().resolved_database_url)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@dataclass(frozen=True)
class Revision:
    """One schema migration."""

    id: str
    down: str | None
    message: str
    is_head: bool


def _alembic_config(url: str, output_buffer: TextIO | None = None) -> Config:
    from alembic.config import Config

    cfg = Config(output_buffer=output_buffer)
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logger"] = False
    return cfg


# Any constant shared by every Forgeyard process: the key of the advisory lock
# that serialises schema upgrades on PostgreSQL.
_UPGRADE_LOCK = 0x466F72_6765  # "Forge"


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database schema to the newest migration, or ``revision`` (idempotent).

    Safe to call from many processes at once (a site's API, workers and
    migration Job all start together): on PostgreSQL they take turns under an
    advisory lock, and each finds the work done by the first.  SQLite
    serialises writers itself.
    """
    from alembic import command

    url = url or get_settings().resolved_database_url
    _ensure_sqlite_dir(url)
    if url.startswith("sqlite"):
        command.upgrade(_alembic_config(url), revision)
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        # Autocommit: the lock's session must not sit idle in a transaction
        # (sites may time those out) while the migrations run on their own.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock:
            lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _UPGRADE_LOCK})
            try:
                command.upgrade(_alembic_config(url), revision)
            finally:
                lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _UPGRADE_LOCK})
    finally:
        engine.dispose()


def upgrade_sql(url: str | None = None) -> str:
    """The SQL that :func:`upgrade` would run on this database now; changes nothing.

    It starts at the database's current revision (read from it), so a DBA
    reviews exactly this upgrade; an empty database gets the whole schema.
    PostgreSQL only (a ValueError on SQLite).
    """
    from alembic import command

    url = url or get_settings().resolved_database_url
    if url.startswith("sqlite"):
        # SQLite migrations rebuild tables (batch mode) by reflecting the live
        # ones, which Alembic's offline mode cannot do.
        raise ValueError(
            "--sql needs PostgreSQL: SQLite migrations copy tables from the live "
            "database; back up the SQLite file and run `forgeyard db upgrade` instead"
        )
    start = current_revision(url)
    if start == head_revision():
        return ""
    buffer = io.StringIO()
    command.upgrade(_alembic_config(url, buffer), f"{start}:head" if start else "head", sql=True)
    return buffer.getvalue()


def current_revision(url: str | None = None) -> str | None:
    """The schema revision the database is at; None for a database with no schema yet."""
    from alembic.runtime.migration import MigrationContext

    url = url or get_settings().resolved_database_url
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
    finally:
        engine.dispose()
    # The migrations are one line (no branches), so there is at most one head.
    return heads[0] if heads else None


def history() -> list[Revision]:
    """Every migration, newest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    heads = set(scripts.get_heads())
    return [
        Revision(
            id=script.revision,
            down=script.down_revision if isinstance(script.down_revision, str) else None,
            message=(script.doc or "").strip(),
            is_head=script.revision in heads,
        )
        for script in scripts.walk_revisions()
    ]


def head_revision() -> str:
    """The newest migration's revision."""
    (newest, *_) = history()
    return newest.id
