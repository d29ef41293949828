"""docs/rewards.md's worked example, as a reader would use it, against a by-hand computation."""

from __future__ import annotations

import json
import re
from pathlib import Path

from scipy import stats
from typer.testing import CliRunner

from forgeyard.app.cli import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "rewards.md"


def block(marker: str) -> str:
    """The fenced block of the doc whose first line is ``# docs-example: <marker>``."""
    for body in re.findall(r"```\w*\n(.*?)```", DOC.read_text(), flags=re.S):
        first, _, rest = body.partition("\n")
        if first.strip() == f"# docs-example: {marker}":
            return rest
    raise AssertionError(f"no docs-example `{marker}` in {DOC}")


def by_hand(output: dict, expected: dict) -> float:
    """The worked example's reward computed independently of the rewards package."""
    answer = 3 * (abs(output["answer"] - expected["answer"]) <= 0.01)
    explained = 1 * bool(re.search("[0-9]", output["explanation"]))
    short = 1 * (len(output["explanation"]) <= 40)
    reward = (answer + explained + short) / 5
    if expected["answer"] > 0 and output["answer"] < 0:
        reward = min(reward, 0.1)
    return reward


def test_worked_example_validates_evaluates_and_matches(sqlite_db, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec, data = tmp_path / "arithmetic_rm.yaml", tmp_path / "arithmetic.jsonl"
    spec.write_text(block("spec"))
    data.write_text(block("dataset"))
    cli = CliRunner()
    assert cli.invoke(app, ["rewards", "validate", str(spec)]).exit_code == 0
    result = cli.invoke(
        app, ["rewards", "eval", str(spec), "--dataset", str(data), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())

    assert [p["line"] for p in report["dataset"]["problems"]] == [3]
    rows = [
        json.loads(line)
        for line in data.read_text().splitlines()
        if line.strip() and not line.startswith('{"id": "q2-a"')
    ]
    examples = [r for r in rows if "id" in r]
    expected = {r["id"]: by_hand(r["output"], r["expected"]) for r in examples}
    assert expected == {"q1-a": 1.0, "q1-b": 0.4, "q2-b": 0.1, "q2-c": 0.8}  # as the doc says
    got = {e["id"]: e["total"] for e in report["per_example"]}
    assert got == expected
    rewards = [expected[r["id"]] for r in examples]
    labels = [r["label"] for r in examples]
    assert report["agreement"]["spearman"] == stats.spearmanr(rewards, labels).statistic
    assert report["agreement"]["kendall"] == stats.kendalltau(rewards, labels).statistic
    prefs = [r for r in rows if "chosen" in r]
    wins = sum(expected[p["chosen"]] > expected[p["rejected"]] for p in prefs) / len(prefs)
    assert report["agreement"]["pairwise_accuracy"] == wins
    assert report["gate"]["passed"] and "now approved" in result.output
