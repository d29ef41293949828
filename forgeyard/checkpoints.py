"""LangGraph checkpointers, chosen by database URL (SQLite or PostgreSQL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from forgeyard.settings import get_settings

_set_up: set[str] = set()


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
    """A checkpointer on the same database as the run records.

    ``before_write`` is called before each checkpoint write and may raise to
    stop it (the run's lease check).

    Its tables are created by the saver's own ``setup()`` (once per process),
    since their layout belongs to LangGraph, not to our migrations.
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
            if url not in _set_up:
                saver.setup()
                _set_up.add(url)
            if before_write is not None:
                _fence_writes(saver, before_write)
            yield saver
        finally:
            conn.close()
    elif url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver

        conninfo = "postgresql://" + url.split("://", 1)[1]
        with PostgresSaver.from_conn_string(conninfo) as pg_saver:
            if url not in _set_up:
                pg_saver.setup()
                _set_up.add(url)
            if before_write is not None:
                _fence_writes(pg_saver, before_write)
            yield pg_saver
    else:
        raise ValueError(f"unsupported database URL for checkpoints: {url.split(':', 1)[0]}://…")
