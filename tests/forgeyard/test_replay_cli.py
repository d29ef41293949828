"""`forgeyard runs replay | fork | replay-all` on the test spec."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlmodel import select
from typer.testing import CliRunner

from agents.runner import execute_run, start_run
from forgeyard.app.cli import app
from forgeyard.db import session_scope
from forgeyard.models import Run, RunKind
from tests.support.service import purge_queue  # also: this session's own broker queue
from tests.support.specs import spec_yaml
from workflows.loader import load_spec_text
from workflows.tools import Tool, registry

cli = CliRunner()


def finished(run_input: dict) -> str:
    return execute_run(start_run(load_spec_text(spec_yaml()), run_input).id).id


def runs_of(kind: RunKind) -> list[Run]:
    with session_scope() as session:
        return list(session.exec(select(Run).where(Run.kind == kind.value)))


def test_replay_wait_prints_identical(sqlite_db):
    source = finished({"a": 2, "b": 1})
    result = cli.invoke(app, ["runs", "replay", source, "--wait"])
    assert result.exit_code == 0, result.output
    assert f"replay_recorded of {source}" in result.output
    assert "identical (5 steps compared)" in result.output
    (replay,) = runs_of(RunKind.replay_recorded)
    assert replay.parent_run_id == source


def test_replay_without_wait_leaves_it_to_the_workers(sqlite_db):
    source = finished({"a": 2, "b": 1})
    result = cli.invoke(app, ["runs", "replay", source])
    assert result.exit_code == 0, result.output
    (replay,) = runs_of(RunKind.replay_recorded)
    assert replay.status == "queued" and replay.enqueued_at is not None
    assert f"forgeyard runs show {replay.id}" in result.output
    purge_queue()


def test_fork_with_patch_file_and_step_name(sqlite_db, tmp_path: Path):
    source = finished({"a": 2, "b": 1})
    patch = tmp_path / "patch.json"
    patch.write_text(json.dumps([{"op": "replace", "path": "/total/sum", "value": 4}]))
    result = cli.invoke(
        app, ["runs", "fork", source, "--at", "add", "--patch", str(patch), "--wait"]
    )
    assert result.exit_code == 0, result.output
    assert '"paid": 4' in result.output and f"fork of {source}" in result.output
    inline = cli.invoke(app, ["runs", "fork", source, "--at", "1", "--patch", "[]"])
    assert inline.exit_code == 0, inline.output
    assert len(runs_of(RunKind.fork)) == 2
    purge_queue()


def test_bad_fork_and_replay_are_errors_with_exit_2(sqlite_db):
    source = finished({"a": 2, "b": 1})
    bad = cli.invoke(app, ["runs", "fork", source, "--at", "9"])
    assert bad.exit_code == 2 and "at_step: run" in bad.output
    bad = cli.invoke(app, ["runs", "fork", source, "--at", "1", "--patch", "{nope"])
    assert bad.exit_code == 2 and "not JSON" in bad.output
    bad = cli.invoke(app, ["runs", "replay", "nope"])
    assert bad.exit_code == 2 and "No run `nope`" in bad.output
    assert runs_of(RunKind.fork) == []


def test_replay_all_counts_and_exits_1_on_divergence(sqlite_db, monkeypatch):
    for a in (1, 2, 3):
        finished({"a": a})
    result = cli.invoke(app, ["runs", "replay-all", "adder", "--last", "2"])
    assert result.exit_code == 0, result.output
    assert "2 replayed: 2 identical, 0 diverged" in result.output
    monkeypatch.setitem(
        registry._tools, "test.add", Tool("test.add", lambda a, b=0: {"sum": 0}, False, "")
    )
    result = cli.invoke(app, ["runs", "replay-all", "adder", "--last", "3"])
    assert result.exit_code == 1
    assert "3 replayed: 0 identical, 3 diverged" in result.output
    assert len(re.findall(r"replay diverged at step 1 \(node `add`", result.output)) == 3
