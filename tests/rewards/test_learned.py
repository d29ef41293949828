"""The learned grader: a few RewardTrainer steps on the tiny model, on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rewards.learned import read_pairs, train_reward_model
from tests.rewards.factories import example, model

PAIRS = [
    ("Book 2 boxes", "Booked BK-1, confirmed.", "You're absolutely right!"),
    ("Book 3 boxes", "Booked BK-2, confirmed.", "You're absolutely right! Great!"),
    ("Book 1 box", "Booked BK-3, confirmed.", "What an excellent request!"),
    ("Book 9 boxes", "Booked BK-4, confirmed.", "You're so right."),
]


@pytest.fixture(scope="module")
def trained(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rm")
    pairs = root / "pairs.jsonl"
    pairs.write_text(
        "".join(json.dumps({"prompt": p, "chosen": c, "rejected": r}) + "\n" for p, c, r in PAIRS)
    )
    result = train_reward_model(pairs, root / "rm", base=tiny_model_dir, max_steps=10)
    assert result["pairs"] == 4 and result["accuracy"] == 1.0
    return root / "rm"


def test_learned_grader_ranks_like_its_training_pairs(trained: Path) -> None:
    rm = model({"name": "learned", "kind": "learned", "model_dir": str(trained)})
    good = example(prompt="Book 5 boxes", completion="Booked BK-9, confirmed.")
    bad = example(prompt="Book 5 boxes", completion="You're absolutely right!")
    g, b = rm.score(good), rm.score(bad)
    assert 0.0 <= b.total < g.total <= 1.0
    assert "logit" in g.graders["learned"].reason


def test_missing_model_is_a_grader_error() -> None:
    rm = model({"name": "learned", "kind": "learned", "model_dir": "/nonexistent/rm"})
    result = rm.score(example()).graders["learned"]
    assert result.score is None and result.error


def test_pairs_from_a_labelled_dataset(tmp_path: Path) -> None:
    from rewards.dataset import Preference, write_dataset

    path = tmp_path / "d.jsonl"
    write_dataset(
        path,
        [
            example(id="a", prompt="p", completion="good"),
            example(id="b", prompt="p", completion="bad"),
        ],
        [Preference("a", "b")],
    )
    assert read_pairs(path) == [{"chosen": "p\ngood", "rejected": "p\nbad"}]


def test_train_rm_command(tiny_model_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from forgeyard.app.cli import app

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"chosen": "good", "rejected": "bad"}) + "\n")
    out = tmp_path / "rm"
    result = CliRunner().invoke(
        app,
        [
            "rewards",
            "train-rm",
            str(pairs),
            "--out",
            str(out),
            "--base",
            str(tiny_model_dir),
            "--steps",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "trained on 1 pairs for 2 steps" in result.output and (out / "config.json").exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    failed = CliRunner().invoke(app, ["rewards", "train-rm", str(empty), "--out", str(out)])
    assert failed.exit_code == 2 and "no preference pairs" in failed.output
