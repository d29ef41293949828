"""`forgeyard train …`: options from the config, bad input exits 2 naming the option, a run
with progress, --queue, and `train jobs list|show`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

import training.jobs
from forgeyard.app.cli import app
from forgeyard.db import session_scope
from forgeyard.records.training import AdapterRecord, TrainingJobRecord
from tests.support.service import purge_queue
from tests.support.training import StandInTrainer, fake_model_dir, shipped_reward_model
from training.config import field_help

cli = CliRunner()


def _jobs() -> int:
    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(TrainingJobRecord)).one())


@pytest.fixture
def args(sqlite_db, tmp_path: Path) -> list[str]:  # type: ignore[no-untyped-def]
    reward = shipped_reward_model()
    return [
        "train",
        "grpo",
        "--tenant",
        "default",
        "--workflow",
        "logistics_booking",
        "--node",
        "choose",
        "--reward",
        reward.id,
        "--base-model",
        str(fake_model_dir(tmp_path)),
    ]


def test_every_config_field_is_an_option_with_its_help() -> None:
    result = cli.invoke(app, ["train", "grpo", "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    for name, help_text in field_help().items():
        option = "--reward" if name == "reward_model" else f"--{name.replace('_', '-')}"
        assert option in result.output, name
        assert help_text.split("(")[0].split(";")[0].strip()[:30] in result.output, name


def test_bad_values_print_every_problem_and_exit_2(args) -> None:  # type: ignore[no-untyped-def]
    result = cli.invoke(app, [*args, "--max-steps", "0", "--num-generations", "1"])
    assert result.exit_code == 2, result.output
    assert "--max-steps: must be a whole number ≥ 1" in result.output
    assert "--num-generations: must be ≥ 2" in result.output
    assert _jobs() == 0


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--tenant", "nobody", "--tenant: No tenant `nobody`"),
        ("--workflow", "nope", "--workflow: Unknown workflow `nope`"),
        ("--node", "confirm", "--node: No training environment for node `confirm`"),
        ("--reward", "no-such-model", "--reward: No reward model `no-such-model`"),
        ("--base-model", "/no/such/dir", "--base-model: /no/such/dir is not a model directory"),
    ],
)
def test_unknown_names_exit_2_naming_the_option(args, option, value, words) -> None:  # type: ignore[no-untyped-def]
    result = cli.invoke(app, [*args, option, value], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.split())
    assert _jobs() == 0


def test_an_unapproved_reward_model_is_refused(args) -> None:  # type: ignore[no-untyped-def]
    shipped_reward_model(approved=False)
    result = cli.invoke(app, args, env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "is not approved" in result.output
    assert _jobs() == 0


def test_a_job_runs_here_with_progress_then_shows(args, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(training.jobs, "_default_trainer", lambda: StandInTrainer())
    result = cli.invoke(app, [*args, "--max-steps", "3", "--save-steps", "1"])
    assert result.exit_code == 0, result.output
    with session_scope() as session:
        job = session.exec(select(TrainingJobRecord)).one()
        adapter = session.exec(select(AdapterRecord)).one()
    assert job.status == "succeeded" and job.adapter_id == adapter.id
    assert f"adapter {adapter.id} (candidate)" in result.output
    assert "3/3" in result.output and "reward 0.300" in result.output
    assert f"plot:    {Path(job.output_dir or '') / 'metrics.png'}" in result.output

    listed = cli.invoke(app, ["train", "jobs", "list"])
    assert job.id in listed.output and "succeeded" in listed.output
    shown = cli.invoke(app, ["train", "jobs", "show", job.id, "--json"])
    payload = json.loads(shown.stdout)
    assert payload["job"]["adapter_id"] == adapter.id
    assert [m["step"] for m in payload["metrics"]] == [1, 2, 3]
    assert cli.invoke(app, ["train", "jobs", "show", "nope"]).exit_code == 2


def test_a_failed_job_exits_1_with_its_error(args, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def boom(step: int) -> None:
        raise RuntimeError("the GPU caught fire")

    monkeypatch.setattr(training.jobs, "_default_trainer", lambda: StandInTrainer(boom))
    result = cli.invoke(app, args)
    assert result.exit_code == 1 and "the GPU caught fire" in result.output


def test_queue_sends_the_job_to_a_training_worker(args) -> None:  # type: ignore[no-untyped-def]
    try:
        result = cli.invoke(app, [*args, "--queue"])
    finally:
        purge_queue()
    assert result.exit_code == 0, result.output
    assert "sent to a training worker" in result.output
    with session_scope() as session:
        assert session.exec(select(TrainingJobRecord)).one().status == "queued"
