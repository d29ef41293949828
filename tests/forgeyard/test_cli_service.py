"""The operations commands: `worker` sweeps only when asked, `beat` only sweeps, `db`
current/history/upgrade --sql, `config show`."""

from __future__ import annotations

import json

import psycopg
import pytest
from typer.testing import CliRunner

from forgeyard import db
from forgeyard.app.cli import app
from forgeyard.settings import Settings, get_settings
from worker.app import app as celery_app

cli = CliRunner()


@pytest.fixture
def celery_argv(monkeypatch, sqlite_db) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """The argv each command hands to Celery, instead of starting it."""
    calls: list[list[str]] = []
    monkeypatch.setattr(celery_app, "worker_main", lambda argv: calls.append(argv))
    monkeypatch.setattr(celery_app, "start", lambda argv: calls.append(argv))
    return calls


def test_worker_runs_no_sweeper_by_default(celery_argv):
    result = cli.invoke(app, ["worker", "--queues", "runs,training"])
    assert result.exit_code == 0, result.output
    (argv,) = celery_argv
    assert argv[0] == "worker" and "--beat" not in argv
    assert "sweeper off" in result.output


def test_worker_with_beat_runs_the_sweeper(celery_argv):
    result = cli.invoke(app, ["worker", "--beat"])
    assert result.exit_code == 0, result.output
    (argv,) = celery_argv
    assert "--beat" in argv and any(a.startswith("--schedule=") for a in argv)


def test_beat_runs_only_celery_beat(celery_argv):
    result = cli.invoke(app, ["beat", "--loglevel", "DEBUG"])
    assert result.exit_code == 0, result.output
    (argv,) = celery_argv
    assert argv[0] == "beat" and "--loglevel=DEBUG" in argv
    assert "a sweep every 10 s" in result.output


# -- db ------------------------------------------------------------------------------
def _history(output: str) -> dict[str, str]:
    return {line.split()[0]: line.split()[1] for line in output.splitlines() if line[:1].isdigit()}


@pytest.mark.integration
def test_db_current_history_and_reviewed_sql_upgrade_on_postgres(empty_postgres):
    # The chain of migrations, oldest first, as the code has it (not hard-coded).
    chain = [r.id for r in reversed(db.history())]
    head, older, newer = chain[-1], chain[:2], chain[2:]
    current = cli.invoke(app, ["db", "current"])
    assert current.exit_code == 0, current.output
    assert f"no schema yet ({len(chain)} migrations to apply)" in current.output
    assert set(_history(cli.invoke(app, ["db", "history"]).output).values()) == {"pending"}

    # --sql prints the whole schema for an empty database and changes nothing.
    full = cli.invoke(app, ["db", "upgrade", "--sql"])
    assert full.exit_code == 0, full.output
    assert "CREATE TABLE runs" in full.stdout and f"version_num='{head}'" in full.stdout
    assert db.current_revision() is None

    # From a database at the second migration: only the later ones.
    db.upgrade(empty_postgres, older[-1])
    current = cli.invoke(app, ["db", "current"])
    assert f"at {older[-1]} ({len(newer)} migration(s) to apply)" in current.output
    assert _history(cli.invoke(app, ["db", "history"]).output) == {
        **{rev: "applied" for rev in older},
        **{rev: "pending" for rev in newer},
    }
    script = cli.invoke(app, ["db", "upgrade", "--sql"]).stdout
    steps = list(zip(chain[1:-1], chain[2:], strict=True))
    assert all(f"Running upgrade {a} -> {b}" in script for a, b in steps)
    assert "CREATE TABLE runs" not in script

    # A DBA runs the reviewed script: the database is then at the newest schema.
    with psycopg.connect(empty_postgres.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(script)  # type: ignore[call-overload]
    assert f"at {head} (head)" in cli.invoke(app, ["db", "current"]).output
    nothing = cli.invoke(app, ["db", "upgrade", "--sql"])
    assert nothing.exit_code == 0 and nothing.stdout == ""
    assert "nothing to do" in nothing.output


def test_db_upgrade_sql_on_sqlite_is_refused_with_the_way_forward(sqlite_db):
    result = cli.invoke(app, ["db", "upgrade", "--sql"])
    assert result.exit_code == 2
    assert "--sql needs PostgreSQL" in result.output and "forgeyard db upgrade" in result.output


def test_an_unreachable_database_is_named_without_its_password(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", "postgresql://ops:hunter2@127.0.0.1:9/forgeyard")
    get_settings.cache_clear()
    for command in (["db", "current"], ["db", "upgrade"]):
        result = cli.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "cannot use the database postgresql+psycopg://ops:***@127.0.0.1:9" in result.output
        assert "hunter2" not in result.output
    history = cli.invoke(app, ["db", "history"])  # still lists the migrations
    assert history.exit_code == 0 and set(_history(history.output).values()) == {"?"}
    get_settings.cache_clear()


# -- config ----------------------------------------------------------------------------
def test_config_show_gives_every_setting_its_source_and_masks_secrets(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "FORGEYARD_QUEUE=from-dotenv\nFORGEYARD_MODEL_API_KEY=dotenv-key-123\n"
        "FORGEYARD_LEASE_SECONDS=45\n"
    )
    monkeypatch.setenv("FORGEYARD_LEASE_SECONDS", "12")  # the environment wins over .env
    monkeypatch.setenv("FORGEYARD_WEBHOOK_SECRET", "env-secret-456")
    monkeypatch.setenv("DATABASE_URL", "postgresql://ops:hunter2@db.internal/forgeyard")
    monkeypatch.delenv("FORGEYARD_QUEUE", raising=False)
    get_settings.cache_clear()
    try:
        result = cli.invoke(app, ["config", "show", "--json"])
        table = cli.invoke(app, ["config", "show"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    shown = {row["variable"]: row for row in json.loads(result.stdout)}
    assert [row["field"] for row in shown.values()] == list(Settings.model_fields)
    assert shown["FORGEYARD_QUEUE"]["value"] == "from-dotenv"
    assert shown["FORGEYARD_QUEUE"]["source"] == ".env"
    assert (
        shown["FORGEYARD_LEASE_SECONDS"]["value"],
        shown["FORGEYARD_LEASE_SECONDS"]["source"],
    ) == (
        "12.0",
        "environment",
    )
    assert shown["FORGEYARD_MODEL_API_KEY"] == {
        "field": "model_api_key",
        "variable": "FORGEYARD_MODEL_API_KEY",
        "value": "********",
        "source": ".env",
        "secret": True,
    }
    assert shown["FORGEYARD_WEBHOOK_SECRET"]["source"] == "environment"
    assert shown["FORGEYARD_WEBHOOK_SECRET"]["secret"] is True
    assert (
        shown["DATABASE_URL"]["value"] == "postgresql+psycopg://ops:********@db.internal/forgeyard"
    )
    assert shown["FORGEYARD_API_PORT"]["source"] == "default"
    assert table.exit_code == 0
    for output in (result.output, table.output):
        for leaked in ("dotenv-key-123", "env-secret-456", "hunter2"):
            assert leaked not in output
    assert "from-dotenv" in table.output and "FORGEYARD_WEBHOOK_SECRET" in table.output


def test_config_show_reports_settings_that_do_not_validate(monkeypatch):
    monkeypatch.setenv("FORGEYARD_ENVIRONMENT", "production")
    monkeypatch.delenv("FORGEYARD_WEBHOOK_SECRET", raising=False)
    get_settings.cache_clear()
    try:
        result = cli.invoke(app, ["config", "show"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "FORGEYARD_WEBHOOK_SECRET is the placeholder" in result.output
