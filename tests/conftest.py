"""Shared fixtures: a fresh database per test (SQLite, or PostgreSQL on 127.0.0.1)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from forgeyard.settings import apply_offline_environment

apply_offline_environment()

from forgeyard import checkpoints, db  # noqa: E402
from forgeyard.settings import get_settings  # noqa: E402

# The model-server fixtures: the tiny model, one vLLM per session, a LoRA adapter.
pytest_plugins = ["tests.model_server_fixture"]

# The PostgreSQL server the integration tests use; CI and dev machines run one
# on 127.0.0.1 with trust authentication.
PG_ADMIN_URL = os.environ.get(
    "FORGEYARD_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _use_database(monkeypatch: pytest.MonkeyPatch, url: str, data_dir: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("FORGEYARD_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    db.upgrade(url)


def _forget_database() -> None:
    checkpoints.close_shared()
    db.get_engine().dispose()
    db.get_engine.cache_clear()
    get_settings.cache_clear()


@pytest.fixture
def sqlite_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite database in a temporary directory."""
    url = f"sqlite:///{tmp_path / 'forgeyard.db'}"
    _use_database(monkeypatch, url, tmp_path)
    yield url
    _forget_database()


@pytest.fixture
def postgres_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated, freshly created PostgreSQL database, dropped afterwards."""
    import psycopg

    name = f"forgeyard_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}")
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    url = f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    _use_database(monkeypatch, url, tmp_path)
    yield url
    _forget_database()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request: pytest.FixtureRequest) -> str:
    """Each test using it runs on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_db")
