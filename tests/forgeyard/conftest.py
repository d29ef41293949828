"""Fixtures of the kernel and CLI tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from forgeyard.settings import get_settings
from tests.conftest import PG_ADMIN_URL


@pytest.fixture
def empty_postgres(tmp_path, monkeypatch) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A PostgreSQL database with no schema (the shared fixtures migrate theirs)."""
    name = f"forgeyard_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(PG_ADMIN_URL, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://{PG_ADMIN_URL.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("FORGEYARD_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()
