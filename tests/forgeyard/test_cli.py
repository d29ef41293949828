"""The `forgeyard` command line: runs, traces and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from forgeyard.app.cli import app
from forgeyard.db import session_scope
from forgeyard.models import Run, RunStatus
from tests.support.specs import spec_yaml

cli = CliRunner()


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "adder.yaml"
    path.write_text(spec_yaml())
    return path


def write_json(tmp_path: Path, data, name="input.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def runs() -> list[Run]:
    with session_scope() as session:
        return list(session.exec(select(Run)))


def test_run_with_approve_prints_steps_and_output(sqlite_db, spec_file, tmp_path):
    result = cli.invoke(
        app,
        [
            "run",
            str(spec_file),
            "-i",
            str(write_json(tmp_path, {"a": 7})),
            "--approve",
            "--by",
            "ops",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "approval needed: Pay 7?" in result.output
    assert "succeeded" in result.output
    for node in ("add", "check", "pay", "gate", "done"):
        assert node in result.output
    (run,) = runs()
    assert run.status == RunStatus.succeeded and run.output["paid"] == 7

    shown = cli.invoke(app, ["runs", "show", run.id])
    assert shown.exit_code == 0
    assert "trace (6 steps)" in shown.output
    assert '"by": "ops"' in shown.output
    as_json = json.loads(cli.invoke(app, ["runs", "show", run.id, "--json"]).output)
    assert [s["node"] for s in as_json["steps"]] == ["add", "check", "pay", "gate", "gate", "done"]


def test_run_without_terminal_leaves_the_run_waiting_then_approve(sqlite_db, spec_file, tmp_path):
    result = cli.invoke(app, ["run", str(spec_file), "-i", str(write_json(tmp_path, {"a": 7}))])
    assert result.exit_code == 0, result.output
    (run,) = runs()
    assert run.status == RunStatus.waiting_approval
    assert f"forgeyard runs approve {run.id}" in result.output

    decided = cli.invoke(app, ["runs", "approve", run.id, "--reject", "--comment", "no"])
    assert decided.exit_code == 0, decided.output
    (run,) = runs()
    assert run.output == {"end": "too_big", "rejected": 7}
    again = cli.invoke(app, ["runs", "approve", run.id])
    assert again.exit_code == 2
    assert "is succeeded, not waiting for an approval" in again.output


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"a": "x"}, "input.a: 'x' is not of type 'number'"),
        ({}, "'a' is a required property"),
        ('{"a": 1,', "input.json:1:9: not valid JSON"),
    ],
)
def test_bad_input_is_named_and_creates_no_run(sqlite_db, spec_file, tmp_path, content, expected):
    result = cli.invoke(app, ["run", str(spec_file), "-i", str(write_json(tmp_path, content))])
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output
    assert runs() == []


def test_unknown_workflow_and_missing_files(sqlite_db, spec_file, tmp_path):
    result = cli.invoke(app, ["run", "no_such_flow", "-i", str(write_json(tmp_path, {}))])
    assert result.exit_code == 2
    assert "Unknown workflow `no_such_flow`" in result.output
    assert "logistics_booking" in result.output
    result = cli.invoke(app, ["run", str(spec_file), "-i", str(tmp_path / "nope.json")])
    assert result.exit_code == 2 and "cannot read input file" in result.output


def test_invalid_spec_refused_before_any_run(sqlite_db, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(spec_yaml(start="nowhere"))
    result = cli.invoke(app, ["run", str(bad), "-i", str(write_json(tmp_path, {"a": 1}))])
    assert result.exit_code == 2
    assert f"{bad}:" in result.output and "unknown node `nowhere`" in result.output
    assert runs() == []


def test_unknown_run_id(sqlite_db):
    result = cli.invoke(app, ["runs", "show", "deadbeef"])
    assert result.exit_code == 2 and "No run `deadbeef`" in result.output


def test_schema_command_prints_the_checked_in_schema():
    from workflows.schema import SCHEMA_FILE

    result = cli.invoke(app, ["workflows", "schema"])
    assert json.loads(result.output) == json.loads(SCHEMA_FILE.read_text())
