"""Settings read from the environment."""

from __future__ import annotations

from pathlib import Path

from forgeyard.settings import Settings


def test_workflow_dirs_as_path_list_or_json(monkeypatch):
    monkeypatch.setenv("FORGEYARD_WORKFLOW_DIRS", "/a/b:/c")
    assert Settings().workflow_dirs == [Path("/a/b"), Path("/c")]
    monkeypatch.setenv("FORGEYARD_WORKFLOW_DIRS", '["/x"]')
    assert Settings().workflow_dirs == [Path("/x")]


def test_database_url_defaults_to_sqlite_under_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("FORGEYARD_DATA_DIR", str(tmp_path))
    assert Settings().resolved_database_url == f"sqlite:///{tmp_path / 'forgeyard.db'}"


def test_libpq_style_postgres_url_gets_the_driver(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/forgeyard")
    assert Settings().resolved_database_url == "postgresql+psycopg://u@db/forgeyard"
