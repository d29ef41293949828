"""LangGraph checkpointers, chosen by database URL (SQLite or PostgreSQL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from forgeyard.settings import get_settings


def _pg_conninfo(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def setup_tables(url: str) -> None:
    """Create or migrate LangGraph's checkpoint tables; part of ``forgeyard db upgrade``.

    Their layout belongs to LangGraph (its own migrations, run by the saver's
    ``setup()``), so they are not in our Alembic scripts; :func:`forgeyard.db.upgrade`
    calls this under the schema lock, since two ``setup()`` at once on
    PostgreSQL collide on ``checkpoint_migrations``.
    """
    if url.startswith("sqlite"):
        with open_checkpointer(url) as saver:
            saver.setup()  # type: ignore[attr-defined]
    elif url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(_pg_conninfo(url)) as saver:
            saver.setup()
    else:
        raise ValueError(f"unsupported database URL for checkpoints: {url.split(':', 1)[0]}://…")


def tables_ready(url: str) -> bool:
    """Whether LangGraph's checkpoint tables are at the installed saver's newest migration."""
    if not url.startswith("postgresql"):
        # SQLite's saver creates its tables itself, idempotently, under SQLite's lock.
        return True
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver

    with psycopg.connect(_pg_conninfo(url), autocommit=True) as conn:
        try:
            row = conn.execute("SELECT max(v) FROM checkpoint_migrations").fetchone()
        except psycopg.errors.UndefinedTable:
            return False
    return row is not None and row[0] == len(PostgresSaver.MIGRATIONS) - 1


def _fence_writes(saver: BaseCheckpointSaver, before_write: Callable[[], None]) -> None:
    # Instance attributes shadow the saver's methods, so every checkpoint write
    # LangGraph makes is preceded by the check (a worker that lost its run's
    # lease must not write checkpoints); reads stay untouched.
    put, put_writes = saver.put, saver.put_writes

    def fenced_put(*args: Any, **kwargs: Any) -> Any:
        before_write()
        return put(*args, **kwargs)

    def fenced_put_writes(*args: Any, **kwargs: Any) -> Any:
        before_write()
        return put_writes(*args, **kwargs)

    saver.put = fenced_put  # type: ignore[method-assign]
    saver.put_writes = fenced_put_writes  # type: ignore[method-assign]


@contextmanager
def open_checkpointer(
    url: str | None = None, *, before_write: Callable[[], None] | None = None
) -> Iterator[BaseCheckpointSaver]:
    """A checkpointer on the same database as the run records (tables made by upgrade).

    ``before_write`` is called before each checkpoint write and may raise to
    stop it (the run's lease check).

    Its tables are created by :func:`setup_tables` (``forgeyard db upgrade``),
    never on first use: first uses race each other.
    """
    url = url or get_settings().resolved_database_url
    if url.startswith("sqlite"):
        from langgraph.checkpoint.sqlite import SqliteSaver

        path = url.split("///", 1)[-1] or ":memory:"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        try:
            saver = SqliteSaver(conn)
            if before_write is not None:
                _fence_writes(saver, before_write)
            yield saver
        finally:
            conn.close()
    elif url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver

        with PostgresSaver.from_conn_string(_pg_conninfo(url)) as pg_saver:
            if before_write is not None:
                _fence_writes(pg_saver, before_write)
            yield pg_saver
    else:
        raise ValueError(f"unsupported database URL for checkpoints: {url.split(':', 1)[0]}://…")
