from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forgeyard.app.cli import app
from rewards.dataset import write_dataset
from tests.rewards.factories import example, spec_yaml
from tests.rewards.runs_support import adder_run

cli = CliRunner()


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "rm.yaml"
    path.write_text(spec_yaml(thresholds={"spearman": 0.5, "min_labelled": 3}))
    return path


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "d.jsonl"
    examples = [
        example({"quote_id": q}, id=f"e{i}", label=lab)
        for i, (q, lab) in enumerate([("Q1", 1.0), ("Q2", 0.0), ("Q1", 0.9)])
    ]
    write_dataset(path, examples)
    with path.open("a") as f:
        f.write("{broken\n")
    return path


def test_validate_ok_and_bad(spec_file: Path, tmp_path: Path) -> None:
    ok = cli.invoke(app, ["rewards", "validate", str(spec_file)])
    assert ok.exit_code == 0 and "✓" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nworkflow: w\ngraders:\n  - name: a\n    kind: nope\n")
    result = cli.invoke(app, ["rewards", "validate", str(bad)])
    assert result.exit_code == 2 and f"{bad}:5" in result.output


def test_eval_that_fails_its_gate_exits_nonzero(sqlite_db, data_file, tmp_path) -> None:  # type: ignore[no-untyped-def]
    strict = tmp_path / "strict.yaml"
    strict.write_text(spec_yaml(thresholds={"min_labelled": 100}))
    result = cli.invoke(app, ["rewards", "eval", str(strict), "--dataset", str(data_file)])
    assert result.exit_code == 1, result.output
    assert "✗ min_labelled" in result.output and "now draft" in result.output


def test_eval_writes_reports_and_approves(sqlite_db, spec_file, data_file, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "report"
    result = cli.invoke(
        app, ["rewards", "eval", str(spec_file), "--dataset", str(data_file), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"{data_file}:4" in result.output  # the broken line, reported; the rest evaluated
    assert "now approved" in result.output
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"]["examples"] == 3
    assert (out / "report.html").read_text().startswith("<!doctype html>")
    listed = cli.invoke(app, ["rewards", "show"])
    assert "approved" in listed.output
    shown = cli.invoke(app, ["rewards", "show", str(spec_file), "--html", str(tmp_path / "r.html")])
    assert shown.exit_code == 0 and (tmp_path / "r.html").exists()


def test_eval_bad_input(sqlite_db, spec_file, tmp_path) -> None:  # type: ignore[no-untyped-def]
    both = cli.invoke(app, ["rewards", "eval", str(spec_file)])
    assert both.exit_code == 2 and "exactly one" in both.output
    unknown = cli.invoke(app, ["rewards", "eval", "deadbeef99", "--runs", "limit=3"])
    assert unknown.exit_code == 2 and "No reward-model version" in unknown.output


def test_label_and_labels_round_trip(sqlite_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = adder_run(1, 2), adder_run(1, 2)
    assert (
        cli.invoke(app, ["rewards", "label", a.id, "--score", "0.8", "--by", "ana"]).exit_code == 0
    )
    pref = cli.invoke(app, ["rewards", "label", a.id, "--over", b.id, "--by", "ana"])
    assert pref.exit_code == 0, pref.output
    bad = cli.invoke(app, ["rewards", "label", a.id, "--score", "2", "--by", "ana"])
    assert bad.exit_code == 2 and "between 0 and 1" in bad.output
    path = tmp_path / "labels.jsonl"
    assert "exported 2" in cli.invoke(app, ["rewards", "labels", "export", str(path)]).output
    imported = cli.invoke(app, ["rewards", "labels", "import", str(path)])
    assert "imported 0 labels, 2 already present" in imported.output  # its own labels
