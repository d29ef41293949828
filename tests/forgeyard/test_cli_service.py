"""The service commands' command lines: `worker` sweeps only when asked, `beat` only sweeps."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from forgeyard.app.cli import app
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
