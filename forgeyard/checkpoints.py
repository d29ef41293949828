"""LangGraph checkpointers, chosen by database URL (SQLite or PostgreSQL).

Runs use :func:`shared_saver`: one saver object per process that compiled
graphs keep, backed by one connection pool per process and database (SQLite:
connections opened once and lent a call at a time; PostgreSQL: a
``psycopg_pool``), so a run opens no connection of its own.  Its checkpoint writes are fenced by the
lease the run passes in its config (:data:`FENCE_KEY`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from forgeyard.settings import get_settings
from forgeyard.sqlite_writers import sqlite_writer

__all__ = [
    "FENCE_KEY",
    "close_shared",
    "open_checkpointer",
    "setup_tables",
    "shared_saver",
    "tables_ready",
]

# The key of ``config["configurable"]`` that carries a run's fence (an object
# whose ``check()`` raises when the lease is lost); LangGraph hands that config to
# every checkpoint write, and keeps only plain values of it in checkpoint
# metadata, so the fence is not stored.
FENCE_KEY = "forgeyard_fence"


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


def _sqlite_connect(url: str) -> sqlite3.Connection:
    path = url.split("///", 1)[-1] or ":memory:"
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


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

        conn = _sqlite_connect(url)
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


class _Pool:
    """The checkpoint connections of one process to one database, lent a call at a time.

    Each call borrows a saver and gives it back, so there are as many savers as
    calls at once (LangGraph writes checkpoints from short-lived executor
    threads, so savers cannot belong to threads).  SQLite: each saver has its
    connection, opened once (WAL, busy timeout).  PostgreSQL: the savers share
    one ``psycopg_pool`` (a ``PostgresSaver`` serialises its calls on a lock, so
    one saver for all runs would serialise every run's checkpoints).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.Lock()
        self.free: list[BaseCheckpointSaver] = []
        self.sqlite_conns: list[sqlite3.Connection] = []
        self.pg_pool: Any = None
        if url.startswith("postgresql"):
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool

            self.pg_pool = ConnectionPool(
                _pg_conninfo(url),
                min_size=1,
                max_size=get_settings().checkpoint_pool_size,
                kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
                # A connection the server closed (restart, outage) is replaced
                # when lent, not handed to a run to fail on.
                check=ConnectionPool.check_connection,
                open=True,
                name="forgeyard-checkpoints",
            )
        elif not url.startswith("sqlite"):
            raise ValueError(
                f"unsupported database URL for checkpoints: {url.split(':', 1)[0]}://…"
            )

    @contextmanager
    def writer(self) -> Iterator[None]:
        """Around a checkpoint write: SQLite writers of the process take turns."""
        if self.pg_pool is not None:
            yield
        else:
            with sqlite_writer():
                yield

    @contextmanager
    def saver(self) -> Iterator[BaseCheckpointSaver]:
        with self.lock:
            saver = self.free.pop() if self.free else None
        if saver is None:
            saver = self._new_saver()
        try:
            yield saver
        finally:
            with self.lock:
                self.free.append(saver)

    def _new_saver(self) -> BaseCheckpointSaver:
        if self.pg_pool is not None:
            from langgraph.checkpoint.postgres import PostgresSaver

            return PostgresSaver(self.pg_pool)
        from langgraph.checkpoint.sqlite import SqliteSaver

        conn = _sqlite_connect(self.url)
        with self.lock:
            self.sqlite_conns.append(conn)
        return SqliteSaver(conn)

    def close(self) -> None:
        with self.lock:
            conns, self.sqlite_conns, self.free = self.sqlite_conns, [], []
        for conn in conns:
            conn.close()
        if self.pg_pool is not None:
            self.pg_pool.close()


_pools: dict[tuple[int, str], _Pool] = {}
_pools_lock = threading.Lock()


def _pool() -> _Pool:
    # By process as well: a forked child must not use its parent's connections.
    key = (os.getpid(), get_settings().resolved_database_url)
    pool = _pools.get(key)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = _Pool(key[1])
    return pool


def close_shared() -> None:
    """Close this process's checkpoint connections (tests switching databases, restore)."""
    with _pools_lock:
        pools = [p for (pid, _), p in _pools.items() if pid == os.getpid()]
        _pools.clear()
    for pool in pools:
        pool.close()


def _fence_of(config: RunnableConfig) -> None:
    fence = (config.get("configurable") or {}).get(FENCE_KEY)
    if fence is not None:
        fence.check()  # raises (LeaseLost) when the run's lease is no longer this holder's


class SharedSaver(BaseCheckpointSaver):
    """The process's checkpointer as graphs see it: delegates to the configured database.

    Compiled graphs are cached across runs and tests switch databases, so the
    saver a graph holds looks up the pool for the current database URL on each
    call.  ``put`` and ``put_writes`` first check the lease in the run's
    config, as :func:`open_checkpointer`'s ``before_write`` does.
    """

    def __init__(self, allowlist: Collection[tuple[str, ...]] | None = None) -> None:
        super().__init__()
        self.allowlist = allowlist

    @contextmanager
    def _target(self, *, write: bool = False) -> Iterator[BaseCheckpointSaver]:
        pool = _pool()
        with pool.writer() if write else contextlib.nullcontext(), pool.saver() as saver:
            yield saver if self.allowlist is None else saver.with_allowlist(self.allowlist)

    def with_allowlist(self, extra_allowlist: Collection[tuple[str, ...]]) -> SharedSaver:
        return SharedSaver({*(self.allowlist or ()), *extra_allowlist})

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        with self._target() as saver:
            return saver.get_tuple(config)

    def list(self, config: RunnableConfig | None, **kwargs: Any) -> Iterator[CheckpointTuple]:
        # Read to the end before the saver goes back to the pool.
        with self._target() as saver:
            return iter(list(saver.list(config, **kwargs)))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        _fence_of(config)
        with self._target(write=True) as saver:
            return saver.put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        _fence_of(config)
        with self._target(write=True) as saver:
            saver.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        with self._target(write=True) as saver:
            saver.delete_thread(thread_id)

    def get_next_version(self, current: Any, channel: None) -> Any:
        with self._target() as saver:
            return saver.get_next_version(current, channel)


_SHARED = SharedSaver()


def shared_saver() -> SharedSaver:
    """The process-wide checkpointer (pooled connections; writes fenced per run)."""
    return _SHARED
