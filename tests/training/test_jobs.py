"""The job layer around the trainer: checks before anything is written, metrics, the report,
the adapter registered only with success, resume after a dead worker, the sweeper.

The trainer here is a stand-in keeping ``train_grpo``'s contract (tests/support/training.py);
the real one runs in tests/worker/test_training.py.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from forgeyard.db import session_scope
from forgeyard.models import utcnow
from forgeyard.records.training import AdapterRecord, TrainingJobRecord, TrainingJobStatus
from forgeyard.settings import get_settings
from forgeyard.tenants import create_tenant
from tests.support.training import (
    StandInTrainer,
    fake_model_dir,
    job_config,
    shipped_reward_model,
    step_metrics,
)
from training import TrainingError
from training.config import ConfigError
from training.jobs import claim, create_job, get_job, job_metrics, run_job, store_metrics, sweep
from training.report import PLOT_NAME, REPORT_NAME

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _count(model: type) -> int:
    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def _stale(job_id: str) -> None:
    """As if the job's worker died (or froze): its lease expired."""
    past = utcnow() - timedelta(seconds=5)
    with session_scope() as session:
        session.exec(  # type: ignore[call-overload]
            update(TrainingJobRecord)
            .where(col(TrainingJobRecord.id) == job_id)
            .values(lease_expires_at=past, heartbeat_at=past)
        )


def _attempt(job_id: str) -> int | None:
    """Claim the job as another worker would; its attempt number (None: not claimable)."""
    lease = claim(job_id)
    return None if lease is None else get_job(job_id).attempts


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return fake_model_dir(tmp_path)


@pytest.fixture
def reward(sqlite_db):  # type: ignore[no-untyped-def]
    return shipped_reward_model()


# -- create_job: every bad input names its field, and nothing is written ----------------
@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"tenant": "nobody"}, "tenant", "No tenant `nobody`"),
        ({"workflow": "no_such_flow"}, "workflow", "Unknown workflow `no_such_flow`"),
        ({"node": "confirm"}, "node", "No training environment for node `confirm`"),
        ({"reward_model": "no-such-rm"}, "reward_model", "No reward model `no-such-rm`"),
        ({"base_model": "__missing__"}, "base_model", "is not a model directory"),
    ],
)
def test_bad_names_are_refused_naming_the_field(
    reward, model_dir, tmp_path, overrides, field, words
):  # type: ignore[no-untyped-def]
    if overrides.get("base_model") == "__missing__":
        # Past the config's own check (a directory with a config.json), gone when the job is made.
        overrides = {"base_model": str(model_dir)}
        (model_dir / "config.json").unlink()
        model_dir.rmdir()
    values = {"reward_model": reward.id, "base_model": str(model_dir), **overrides}
    with pytest.raises((TrainingError, ConfigError)) as caught:
        create_job(job_config(**values))
    exc = caught.value
    fields = exc.problems if isinstance(exc, ConfigError) else {exc.field: str(exc)}
    assert field in fields, fields
    assert words in fields[field]
    assert _count(TrainingJobRecord) == 0


def test_unapproved_or_foreign_reward_models_are_refused(sqlite_db, model_dir):  # type: ignore[no-untyped-def]
    draft = shipped_reward_model(approved=False)
    with pytest.raises(TrainingError, match="is not approved") as caught:
        create_job(job_config(reward_model=draft.id, base_model=str(model_dir)))
    assert caught.value.field == "reward_model"
    # Another tenant's approved version is unknown to this one.
    create_tenant("other")
    theirs = shipped_reward_model("other")
    create_tenant("mine")
    with pytest.raises(TrainingError, match="No reward model") as caught:
        create_job(job_config(tenant="mine", reward_model=theirs.id, base_model=str(model_dir)))
    assert caught.value.field == "reward_model"
    assert _count(TrainingJobRecord) == 0


def test_empty_base_model_means_the_served_model(reward, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FORGEYARD_SERVE_MODEL_PATH", str(tmp_path / "not-built"))
    get_settings.cache_clear()
    with pytest.raises(TrainingError, match="FORGEYARD_SERVE_MODEL_PATH") as caught:
        create_job(job_config(reward_model=reward.id))
    assert caught.value.field == "base_model"
    monkeypatch.setenv("FORGEYARD_SERVE_MODEL_PATH", str(fake_model_dir(tmp_path)))
    get_settings.cache_clear()
    job = create_job(job_config(reward_model=reward.name))  # by name: its newest version
    assert job.base_model == str((tmp_path / "fake-model").resolve())
    assert job.reward_model_id == reward.id and job.config["reward_model"] == reward.id


def test_a_job_is_recorded_queued_with_its_full_config(any_db, tmp_path):  # type: ignore[no-untyped-def]
    reward = shipped_reward_model()
    model = fake_model_dir(tmp_path)
    job = create_job(job_config(reward_model=reward.hash[:12], base_model=str(model)))
    stored = get_job(job.id)
    assert (stored.status, stored.step, stored.total_steps, stored.attempts) == (
        TrainingJobStatus.queued,
        0,
        4,
        0,
    )
    assert stored.output_dir == str((tmp_path / "training" / job.id).resolve())
    assert stored.config["output_dir"] == stored.output_dir
    assert stored.config["base_model"] == str(model.resolve())


# -- run_job ---------------------------------------------------------------------------
def _job(reward, model_dir, **overrides):  # type: ignore[no-untyped-def]
    return create_job(job_config(reward_model=reward.id, base_model=str(model_dir), **overrides))


def test_a_successful_job_stores_metrics_plot_report_and_one_candidate_adapter(any_db, tmp_path):  # type: ignore[no-untyped-def]
    reward = shipped_reward_model()
    job = _job(reward, fake_model_dir(tmp_path))
    seen: list[tuple[int, float]] = []
    done = run_job(
        job.id,
        trainer=StandInTrainer(),
        on_progress=lambda j, m: seen.append((j.step, m["reward_mean"])),
    )
    assert done.status == TrainingJobStatus.succeeded and done.attempts == 1
    assert [s for s, _ in seen] == [1, 2, 3, 4]
    rows = job_metrics(job.id)
    assert [r.step for r in rows] == [1, 2, 3, 4]
    assert rows[-1].kl == pytest.approx(0.04) and rows[-1].values == {"learning_rate": 5e-4}
    out = Path(done.output_dir or "")
    assert (out / PLOT_NAME).read_bytes().startswith(PNG_MAGIC)
    report = json.loads((out / REPORT_NAME).read_text())
    assert [m["step"] for m in report["metrics"]] == [1, 2, 3, 4]
    with session_scope() as session:
        adapters = list(session.exec(select(AdapterRecord)))
    assert len(adapters) == 1
    adapter = adapters[0]
    assert done.adapter_id == adapter.id and adapter.status == "candidate"
    assert (adapter.tenant_id, adapter.workflow, adapter.node) == (
        "default",
        "logistics_booking",
        "choose",
    )
    assert adapter.path == str((out / "adapter").resolve()) and adapter.rank == 8
    assert adapter.reward_model_id == reward.id and adapter.training_job_id == job.id
    assert adapter.metrics["final"]["reward_mean"] == pytest.approx(0.4)
    assert done.summary and done.summary["plot"] == str(out / PLOT_NAME)


def test_a_failing_trainer_fails_the_job_and_registers_nothing(reward, model_dir):  # type: ignore[no-untyped-def]
    def boom(step: int) -> None:
        if step == 3:
            raise RuntimeError("CUDA out of memory")

    job = _job(reward, model_dir)
    with pytest.raises(RuntimeError, match="out of memory"):
        run_job(job.id, trainer=StandInTrainer(boom))
    failed = get_job(job.id)
    assert failed.status == TrainingJobStatus.failed
    assert failed.error == "RuntimeError: CUDA out of memory"
    assert failed.adapter_id is None and _count(AdapterRecord) == 0
    assert [r.step for r in job_metrics(job.id)] == [1, 2]  # what it did is kept


def test_no_adapter_on_disk_means_no_adapter_row(reward, model_dir):  # type: ignore[no-untyped-def]
    job = _job(reward, model_dir)
    with pytest.raises(TrainingError, match="no adapter_config.json"):
        run_job(job.id, trainer=StandInTrainer(adapter=False))
    assert get_job(job.id).status == TrainingJobStatus.failed and _count(AdapterRecord) == 0


def test_a_reward_model_withdrawn_after_the_job_was_queued_fails_it(reward, model_dir):  # type: ignore[no-untyped-def]
    job = _job(reward, model_dir)
    shipped_reward_model(approved=False)  # a later evaluation sent it back to draft
    trainer = StandInTrainer()
    with pytest.raises(TrainingError, match="no longer approved"):
        run_job(job.id, trainer=trainer)
    assert trainer.calls == [] and get_job(job.id).status == TrainingJobStatus.failed


def test_a_finished_job_is_not_run_again(reward, model_dir):  # type: ignore[no-untyped-def]
    job = _job(reward, model_dir)
    run_job(job.id, trainer=StandInTrainer())
    with pytest.raises(TrainingError, match="not claimable"):
        run_job(job.id, trainer=StandInTrainer())
    assert _count(AdapterRecord) == 1


# -- a dead worker: resume, give up, never half-registered --------------------------------
def _die_after(job_id: str, steps: int) -> None:
    """What a worker killed after logging ``steps`` steps (checkpoint at 2) leaves behind."""
    assert _attempt(job_id) == 1
    job = get_job(job_id)
    for step in range(1, steps + 1):
        store_metrics(job_id, {**step_metrics(step, 4), "reward_mean": -1.0})
    (Path(job.output_dir or "") / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    _stale(job_id)


def test_a_dead_workers_job_is_requeued_and_resumes_without_duplicate_metrics(reward, model_dir):  # type: ignore[no-untyped-def]
    job = _job(reward, model_dir)
    _die_after(job.id, 3)
    sent: list[str] = []
    assert sweep(enqueue=lambda j: sent.append(j) or True) == [job.id] and sent == [job.id]
    assert get_job(job.id).status == TrainingJobStatus.queued
    trainer = StandInTrainer()
    done = run_job(job.id, trainer=trainer)
    assert trainer.calls == [2]  # resumed from checkpoint-2, re-logging step 3
    assert done.status == TrainingJobStatus.succeeded and done.attempts == 2
    rows = job_metrics(job.id)
    assert [r.step for r in rows] == [1, 2, 3, 4]
    # The first record of a step stays: steps 1-3 are the dead attempt's.
    assert [r.reward_mean for r in rows] == [-1.0, -1.0, -1.0, pytest.approx(0.4)]
    assert _count(AdapterRecord) == 1


def test_a_job_whose_workers_keep_dying_is_failed_cleanly(reward, model_dir, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FORGEYARD_TRAINING_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    job = _job(reward, model_dir)
    _die_after(job.id, 3)
    sent: list[str] = []
    assert sweep(enqueue=lambda j: sent.append(j) or True) == [] and sent == []
    failed = get_job(job.id)
    assert failed.status == TrainingJobStatus.failed and "died 1 time(s)" in (failed.error or "")
    assert failed.adapter_id is None and _count(AdapterRecord) == 0


def test_a_live_job_and_a_recently_sent_one_are_left_alone(reward, model_dir):  # type: ignore[no-untyped-def]
    queued, running = _job(reward, model_dir), _job(reward, model_dir)
    assert _attempt(running.id) == 1
    assert sweep(enqueue=lambda j: True) == []
    assert _attempt(running.id) is None  # a live heartbeat: no second worker
    assert get_job(queued.id).status == TrainingJobStatus.queued


def test_a_worker_that_lost_its_job_registers_no_adapter(reward, model_dir):  # type: ignore[no-untyped-def]
    job = _job(reward, model_dir)

    def taken_over(step: int) -> None:
        if step == 4:  # declared dead after step 3, and another worker claimed it
            _stale(job.id)
            assert _attempt(job.id) == 2

    result = run_job(job.id, trainer=StandInTrainer(taken_over))
    assert result.status == TrainingJobStatus.running and result.attempts == 2
    assert result.adapter_id is None and _count(AdapterRecord) == 0


def test_losing_the_job_at_the_last_moment_rolls_the_adapter_back(reward, model_dir, monkeypatch):  # type: ignore[no-untyped-def]
    import training.jobs as jobs

    job = _job(reward, model_dir)
    real_write = jobs.write_report

    def write_then_lose(*args, **kwargs):  # type: ignore[no-untyped-def]
        paths = real_write(*args, **kwargs)
        _stale(job.id)
        assert _attempt(job.id) == 2  # between the report and the registration
        return paths

    monkeypatch.setattr(jobs, "write_report", write_then_lose)
    result = run_job(job.id, trainer=StandInTrainer())
    assert result.status == TrainingJobStatus.running and result.adapter_id is None
    assert _count(AdapterRecord) == 0  # inserted, then rolled back with the job update


def test_metrics_are_stored_once_per_step_and_bad_numbers_become_null(reward, model_dir):  # type: ignore[no-untyped-def]
    job = _job(reward, model_dir)
    assert store_metrics(job.id, {"step": 1, "kl": float("nan"), "loss": "x", "odd": object()})
    assert not store_metrics(job.id, {"step": 1, "kl": 0.5})
    (row,) = job_metrics(job.id)
    assert (row.kl, row.loss, row.values) == (None, None, {})


def test_a_frozen_holders_late_writes_raise_lease_lost_and_write_nothing(any_db, tmp_path):  # type: ignore[no-untyped-def]
    from forgeyard.leases import LeaseLost

    job = _job(shipped_reward_model(), fake_model_dir(tmp_path))
    frozen = claim(job.id)
    assert frozen is not None
    _stale(job.id)  # it froze past its lease ...
    assert sweep(enqueue=lambda j: True) == [job.id]  # ... the sweeper moved the epoch on
    with pytest.raises(LeaseLost):
        frozen.update(step=3, message="late")
    successor = claim(job.id)
    assert successor is not None and successor.epoch > frozen.epoch
    with pytest.raises(LeaseLost):
        store_metrics(job.id, step_metrics(1, 4), fence=frozen)
    assert job_metrics(job.id) == []
    stored = get_job(job.id)
    assert (stored.step, stored.attempts, stored.status) == (0, 2, TrainingJobStatus.running)
    assert stored.message != "late"
