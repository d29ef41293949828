"""Database engine, sessions and schema migrations (SQLite or PostgreSQL, same code).

The schema has one place and one lock: :func:`upgrade` (``forgeyard db
upgrade``) creates every table, LangGraph's checkpoint tables included, while
holding a PostgreSQL advisory lock (SQLite: a file lock next to the database),
so any number of upgrades may start at once.  Processes that only use the
database call :func:`wait_for_schema`.

Errors::

    SchemaNotReady            the database is not at the schema this code needs
"""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import psycopg
from sqlalchemy import event, inspect, pool, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from forgeyard.settings import get_settings
from forgeyard.sqlite_writers import SQLITE_WRITER, SQLITE_WRITER_WAIT, WRITES

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The pg_advisory_lock key every `forgeyard db upgrade` of an installation
# takes ("Forgeyrd" as 8 bytes); one database, one key.
SCHEMA_LOCK_KEY = int.from_bytes(b"Forgeyrd", "big")

# Errors meaning "the database cannot be reached right now", not "this work is
# wrong": the API answers 503 for them, and a run worker leaves the run to its
# lease's expiry (as if it had died) rather than failing it.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,  # connection refused, server restarting, SQLite locked
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no pooled connection came free
    psycopg.OperationalError,  # the checkpointer's own connections (AdminShutdown, PoolTimeout)
    psycopg.InterfaceError,
    sqlite3.OperationalError,
)


class SchemaNotReady(RuntimeError):
    """The database's schema is not the one this code needs (run `forgeyard db upgrade`)."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL and a busy timeout so workers can share it."""
    # Sized for a threads worker: each run in flight (and its heartbeat) may
    # hold a connection for a moment; a pool too small makes them queue.
    sizes = {"pool_size": get_settings().database_pool_size, "max_overflow": 10}
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # An in-memory database has one connection per thread, no pool to size.
            **(sizes if _sqlite_path(url) else {}),
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        _queue_sqlite_writers(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **sizes)


def _queue_sqlite_writers(engine: Engine) -> None:
    """Writers of this process take turns (forgeyard.sqlite_writers) before SQLite's lock."""

    def release(conn_info: dict) -> None:  # type: ignore[type-arg]
        if conn_info.pop("forgeyard_writer", False):
            SQLITE_WRITER.release()

    @event.listens_for(engine, "before_cursor_execute")
    def _take_turn(conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        # pysqlite opens the transaction at the first write; take the turn there.
        first_write = statement.lstrip()[:7].upper().startswith(WRITES)
        if (
            first_write
            and not conn.info.get("forgeyard_writer")
            and SQLITE_WRITER.acquire(timeout=SQLITE_WRITER_WAIT)
        ):
            conn.info["forgeyard_writer"] = True

    @event.listens_for(engine, "commit")
    def _after_commit(conn):  # type: ignore[no-untyped-def]
        release(conn.info)

    @event.listens_for(engine, "rollback")
    def _after_rollback(conn):  # type: ignore[no-untyped-def]
        release(conn.info)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn, record):  # type: ignore[no-untyped-def]
        release(record.info)


def _ensure_sqlite_dir(url: str) -> None:
    path = _sqlite_path(url)
    if path is not None:
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


def _sqlite_path(url: str) -> str | None:
    path = url.split("///", 1)[-1]
    return path if url.startswith("sqlite") and path and path != ":memory:" else None


@contextmanager
def schema_lock(url: str) -> Iterator[None]:
    """Hold the installation's schema lock: one schema change at a time, across machines."""
    if url.startswith("postgresql"):
        engine = create_engine(url, poolclass=pool.NullPool)
        try:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                # Session-level: held until unlocked or the connection closes (a
                # killed upgrader's lock goes with its connection).  Polled, not
                # waited for in one statement: LangGraph's CREATE INDEX CONCURRENTLY
                # under the lock waits for every running transaction to end,
                # a blocked pg_advisory_lock() included (a deadlock).
                while not conn.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY}
                ).scalar():
                    time.sleep(0.2)
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK_KEY})
        finally:
            engine.dispose()
    elif (path := _sqlite_path(url)) is not None:
        from filelock import FileLock

        with FileLock(path + ".schema.lock"):
            yield
    else:
        yield  # an in-memory database belongs to one process


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring every table to the newest schema (ours and LangGraph's), under the schema lock.

    Idempotent, and safe to run from several processes at once. ``revision``
    stops at an older migration (restoring an old backup, tests of a migration).
    """
    from alembic import command

    from forgeyard import checkpoints

    url = url or get_settings().resolved_database_url
    _ensure_sqlite_dir(url)
    with schema_lock(url):
        command.upgrade(_alembic_config(url), revision)
        checkpoints.setup_tables(url)
        if revision == "head":
            _package_migrations(url)


#: Installed packages (tool packages) bring their own tables through this
#: entry-point group: ``[project.entry-points."forgeyard.migrations"]
#: claims = "claims_tools.migrations:upgrade"``, a function ``upgrade(url)`` that
#: ``forgeyard db upgrade`` calls after Forgeyard's own migrations, under the
#: schema lock.  It must be idempotent (it runs on every upgrade): its own
#: Alembic environment, or ``metadata.create_all``.
MIGRATIONS_GROUP = "forgeyard.migrations"


def _package_migrations(url: str) -> None:
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=MIGRATIONS_GROUP), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        package = f"`{dist.name}`" if dist is not None else "an installed package"
        try:
            hook = ep.load()
        except Exception as exc:  # a package half-uninstalled, or broken
            raise SchemaNotReady(
                f"the migration hook `{ep.name}` ({ep.value}) of {package} cannot be "
                f"loaded: {type(exc).__name__}: {exc}; reinstall or uninstall that "
                "package, then run `forgeyard db upgrade`"
            ) from exc
        hook(url)


def schema_problem(url: str | None = None) -> str | None:
    """What keeps the database from being at the schema this code needs; None when it is."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from forgeyard import checkpoints

    url = url or get_settings().resolved_database_url
    heads = set(ScriptDirectory.from_config(_alembic_config(url)).get_heads())
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
            has_tables = inspect(conn).has_table("alembic_version")
    finally:
        engine.dispose()
    if current != heads:
        at = ", ".join(sorted(current)) if has_tables and current else "no schema"
        return f"the database is at {at}; this code needs {', '.join(sorted(heads))}"
    if not checkpoints.tables_ready(url):
        return "LangGraph's checkpoint tables are missing or out of date"
    return None


def wait_for_schema(timeout: float | None = None, url: str | None = None) -> None:
    """Return once the database is at the newest schema; wait up to ``timeout`` seconds.

    Raises:
        SchemaNotReady: still not at head after ``timeout`` (default:
            ``schema_wait_seconds``); the message names the command to run.
    """
    settings = get_settings()
    url = url or settings.resolved_database_url
    timeout = settings.schema_wait_seconds if timeout is None else timeout
    deadline = time.monotonic() + timeout
    while True:
        try:
            problem = schema_problem(url)
        except Exception as exc:  # noqa: BLE001 - unreachable is "not ready yet" too
            problem = f"the database is unreachable ({type(exc).__name__}: {exc})"
        if problem is None:
            return
        if time.monotonic() >= deadline:
            raise SchemaNotReady(
                f"{problem} (waited {timeout:g} s); run `forgeyard db upgrade` "
                "against this database, then start again"
            )
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


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
