"""One place and one lock for the schema: concurrent upgrades, first uses, waiting for head."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from agents.runner import execute_run, start_run
from forgeyard import db
from forgeyard.checkpoints import open_checkpointer
from forgeyard.models import RunStatus
from forgeyard.settings import get_settings
from tests.conftest import PG_ADMIN_URL
from tests.support.specs import spec_yaml
from workflows.loader import load_spec_text

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_postgres(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """An empty PostgreSQL database (no tables at all), dropped afterwards."""
    name = f"forgeyard_fresh_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("FORGEYARD_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    yield url
    db.get_engine().dispose()
    db.get_engine.cache_clear()
    get_settings.cache_clear()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _cli(url: str, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "forgeyard", *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "DATABASE_URL": url, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_concurrent_db_upgrades_on_a_fresh_postgres_all_succeed(fresh_postgres):
    upgrades = [_cli(fresh_postgres, "db", "upgrade") for _ in range(3)]
    results = [(p.wait(timeout=180), p.stdout.read()) for p in upgrades]  # type: ignore[union-attr]
    assert [code for code, _ in results] == [0, 0, 0], results
    assert db.schema_problem(fresh_postgres) is None


def test_the_schema_lock_serialises_upgrades(fresh_postgres):
    done = threading.Event()

    def upgrade() -> None:
        db.upgrade(fresh_postgres)
        done.set()

    with db.schema_lock(fresh_postgres):
        thread = threading.Thread(target=upgrade)
        thread.start()
        time.sleep(1.5)
        assert not done.is_set()  # waiting for the lock, not migrating beside its holder
    thread.join(timeout=120)
    assert done.is_set() and db.schema_problem(fresh_postgres) is None


def test_sqlite_upgrades_at_once_are_serialised_by_a_file_lock(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrades = [_cli(url, "db", "upgrade") for _ in range(3)]
    results = [(p.wait(timeout=180), p.stdout.read()) for p in upgrades]  # type: ignore[union-attr]
    assert [code for code, _ in results] == [0, 0, 0], results
    assert db.schema_problem(url) is None
    assert (tmp_path / "fresh.db.schema.lock").exists()


def test_first_runs_at_the_same_instant_on_a_fresh_postgres(fresh_postgres):
    # Four workers' first runs: nothing on the first-use path creates tables any more.
    db.upgrade(fresh_postgres)
    loaded = load_spec_text(spec_yaml())
    run_ids = [start_run(loaded, {"a": 1}).id for _ in range(8)]
    barrier = threading.Barrier(len(run_ids))

    def first_use(run_id: str) -> RunStatus:
        barrier.wait()
        with open_checkpointer() as saver:
            list(saver.list({"configurable": {"thread_id": run_id}}))
        return execute_run(run_id).status

    with ThreadPoolExecutor(len(run_ids)) as pool:
        statuses = list(pool.map(first_use, run_ids))
    assert statuses == [RunStatus.succeeded] * len(run_ids)


def test_waiting_for_the_schema_ends_at_head_or_names_the_command(fresh_postgres):
    with pytest.raises(db.SchemaNotReady, match=r"no schema.*run `forgeyard db upgrade`"):
        db.wait_for_schema(timeout=0.5)
    waited: list[float] = []

    def wait() -> None:
        started = time.monotonic()
        db.wait_for_schema(timeout=120)
        waited.append(time.monotonic() - started)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(1.0)
    db.upgrade(fresh_postgres)
    thread.join(timeout=130)
    assert waited and waited[0] >= 1.0  # it waited, then saw the upgrade


def test_a_worker_on_an_unmigrated_database_exits_naming_the_upgrade(tmp_path):
    url = f"sqlite:///{tmp_path / 'never-migrated.db'}"
    worker = _cli(
        url,
        "worker",
        "--no-beat",
        FORGEYARD_MIGRATE_ON_START="false",
        FORGEYARD_SCHEMA_WAIT_SECONDS="1",
    )
    code = worker.wait(timeout=120)
    output = worker.stdout.read()  # type: ignore[union-attr]
    assert code == 2, output
    assert "run `forgeyard db upgrade`" in output and "Traceback" not in output
