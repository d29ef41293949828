"""GRPO training jobs: checked and recorded, run by a worker (or the CLI), swept when orphaned.

:func:`create_job` checks everything a job needs before it writes anything;
:func:`run_job` claims a job, trains it through :func:`training.grpo.train_grpo`
and stores each step's metrics; only once the adapter, its plot and its report
are on disk does one transaction mark the job succeeded *and* register the
adapter as a ``candidate``, so there is never a half-registered adapter.

A job is leased like a run (:mod:`forgeyard.leases`): :func:`claim` takes the
lease (a new epoch, one more of ``attempts``), a heartbeat renews it while the
job trains, and every write of the job (progress, metrics, the final
registration) holds the lease in its own transaction, so a worker that lost
the job (frozen past its lease, then woke up) raises
:class:`~forgeyard.leases.LeaseLost` and writes nothing.  :func:`sweep`
re-enqueues a job whose lease expired (its worker died; ``train_grpo``
resumes from ``output_dir/checkpoints``) and fails it cleanly once
``training_max_attempts`` are used up; a queued job's ``enqueued_at`` is when
it was last sent to a worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from forgeyard import leases
from forgeyard.db import session_scope
from forgeyard.leases import Lease, LeaseLost
from forgeyard.models import Tenant, WorkflowRegistration, new_id, utcnow
from forgeyard.records.rewards import RewardModelRecord, RewardModelStatus
from forgeyard.records.training import (
    AdapterRecord,
    TrainingJobRecord,
    TrainingJobStatus,
    TrainingMetricRecord,
)
from forgeyard.settings import get_settings
from rewards.errors import RewardModelNotFound
from rewards.store import get_version
from training import TrainingError, environment_id
from training.config import GRPOJobConfig, default_model_dir
from training.report import write_report
from workflows.catalog import list_workflows

__all__ = [
    "DEFAULT_TENANT",
    "Progress",
    "Trainer",
    "TrainingJobNotFound",
    "adapter_of",
    "claim",
    "create_job",
    "get_job",
    "job_metrics",
    "list_jobs",
    "process_job",
    "run_job",
    "sweep",
]

log = logging.getLogger("forgeyard.training")

# The installation's own tenant: what the CLI and specs without `tenant:` use.
# It needs no row in `tenants` (runs and reward models of the CLI live there).
DEFAULT_TENANT = "default"
# The step metrics kept in their own columns; the rest go to ``values``.
METRIC_COLUMNS = ("reward_mean", "reward_std", "frac_zero_std", "kl", "loss")

Trainer = Callable[..., Any]  # training.grpo.train_grpo's signature
Progress = Callable[[TrainingJobRecord, dict[str, Any]], None]


class TrainingJobNotFound(LookupError):
    """No training job with that id (for this tenant)."""


# -- creating -----------------------------------------------------------------------
def create_job(config: GRPOJobConfig, *, tenant_id: str | None = None) -> TrainingJobRecord:
    """Check a job's configuration against the database and record it, queued.

    Nothing is written unless every check passes. ``tenant_id`` (the API key's
    tenant) replaces ``config.tenant``; an empty ``base_model`` becomes the
    model server's model and an empty ``output_dir`` a directory of the job's
    own under the data dir; the stored config has both filled in.

    Raises:
        TrainingError: ``field`` names what is unknown or unusable: tenant,
            workflow, node, reward_model (unknown, of another workflow or not
            approved) or base_model (not a model directory).
    """
    tenant = tenant_id or config.tenant
    _require_tenant(tenant)
    _require_workflow(tenant, config.workflow)
    environment_id(config.workflow, config.node)
    reward = resolve_reward_model(config.reward_model, tenant_id=tenant, workflow=config.workflow)
    base_model = resolve_base_model(config.base_model)
    job_id = new_id()
    output_dir = Path(config.output_dir).expanduser() if config.output_dir else None
    output_dir = (output_dir or get_settings().data_dir / "training" / job_id).resolve()
    stored = dataclasses.replace(
        config,
        tenant=tenant,
        base_model=str(base_model),
        output_dir=str(output_dir),
        reward_model=reward.id,
    )
    job = TrainingJobRecord(
        id=job_id,
        tenant_id=tenant,
        workflow=config.workflow,
        node=config.node,
        reward_model_id=reward.id,
        base_model=str(base_model),
        config=stored.to_dict(),
        total_steps=config.max_steps,
        output_dir=str(output_dir),
        message="queued",
        enqueued_at=utcnow(),  # its creator sends it next
    )
    with session_scope() as session:
        session.add(job)
    return job


def _require_tenant(tenant_id: str) -> None:
    if tenant_id == DEFAULT_TENANT:
        return
    with session_scope() as session:
        if session.get(Tenant, tenant_id) is None:
            raise TrainingError(
                f"No tenant `{tenant_id}`; create it with `forgeyard tenants create {tenant_id}` "
                "or see `forgeyard tenants list`.",
                field="tenant",
            )


def _require_workflow(tenant_id: str, workflow: str) -> None:
    """The workflow is one this tenant can run: registered by it, or in the catalog."""
    if workflow in list_workflows():
        return
    with session_scope() as session:
        registered = session.exec(
            select(WorkflowRegistration.id).where(
                WorkflowRegistration.tenant_id == tenant_id,
                WorkflowRegistration.name == workflow,
            )
        ).first()
    if registered is None:
        raise TrainingError(
            f"Unknown workflow `{workflow}` for tenant `{tenant_id}`; "
            "see `forgeyard workflows list` (or register it over the API).",
            field="workflow",
        )


def resolve_reward_model(key: str, *, tenant_id: str, workflow: str) -> RewardModelRecord:
    """The approved reward-model version ``key`` (id, hash prefix, or name: its newest version).

    Raises:
        TrainingError: (field ``reward_model``) unknown for this tenant, made for
            another workflow, or not approved.
    """
    try:
        record = get_version(key, tenant_id=tenant_id)
    except RewardModelNotFound:
        with session_scope() as session:
            record = session.exec(  # type: ignore[assignment]
                select(RewardModelRecord)
                .where(RewardModelRecord.tenant_id == tenant_id, RewardModelRecord.name == key)
                .order_by(col(RewardModelRecord.created_at).desc())
            ).first()
        if record is None:
            raise TrainingError(
                f"No reward model `{key}` for tenant `{tenant_id}` (by id, hash or name); "
                "register one with `forgeyard rewards eval SPEC` or `POST /v1/reward-models`.",
                field="reward_model",
            ) from None
    if record.workflow != workflow:
        raise TrainingError(
            f"Reward model `{record.name}` ({record.id}) scores workflow `{record.workflow}`, "
            f"not `{workflow}`; pick one written for `{workflow}`.",
            field="reward_model",
        )
    if record.status != RewardModelStatus.approved:
        raise TrainingError(
            f"Reward model `{record.name}` version {record.hash[:12]} ({record.id}) is not "
            "approved; evaluate it (`forgeyard rewards eval`) until it meets its thresholds "
            "before training on it.",
            field="reward_model",
        )
    return record


def resolve_base_model(base_model: str) -> Path:
    """The base model directory: the one given, else the model server's (it must exist).

    Raises:
        TrainingError: (field ``base_model``) no model directory there.
    """
    settings = get_settings()
    if base_model:
        path = Path(base_model).expanduser()
        origin = "base_model"
    else:
        path = default_model_dir(settings)
        origin = "the model server's model (FORGEYARD_SERVE_MODEL_PATH)"
    if not (path.is_dir() and (path / "config.json").is_file()):
        raise TrainingError(
            f"base_model: {path} ({origin}) is not a model directory (no config.json there); "
            "build one with `forgeyard model build-tiny` or pass `base_model`.",
            field="base_model",
        )
    return path.resolve()


# -- reading ------------------------------------------------------------------------
def get_job(job_id: str, *, tenant_id: str | None = None) -> TrainingJobRecord:
    """A job by id (of ``tenant_id`` if given).

    Raises:
        TrainingJobNotFound: no such job for this tenant.
    """
    with session_scope() as session:
        job = session.get(TrainingJobRecord, job_id)
    if job is None or (tenant_id is not None and job.tenant_id != tenant_id):
        raise TrainingJobNotFound(f"No training job `{job_id}`.")
    return job


def list_jobs(*, tenant_id: str | None = None, limit: int = 100) -> list[TrainingJobRecord]:
    """Jobs, newest first (of one tenant if given)."""
    with session_scope() as session:
        query = select(TrainingJobRecord).order_by(col(TrainingJobRecord.created_at).desc())
        if tenant_id is not None:
            query = query.where(TrainingJobRecord.tenant_id == tenant_id)
        return list(session.exec(query.limit(limit)))


def adapter_of(job: TrainingJobRecord) -> AdapterRecord | None:
    """The adapter a succeeded job registered (None before that)."""
    if job.adapter_id is None:
        return None
    with session_scope() as session:
        return session.get(AdapterRecord, job.adapter_id)


def job_metrics(job_id: str) -> list[TrainingMetricRecord]:
    """A job's stored step metrics, in step order."""
    with session_scope() as session:
        return list(
            session.exec(
                select(TrainingMetricRecord)
                .where(TrainingMetricRecord.job_id == job_id)
                .order_by(col(TrainingMetricRecord.step))
            )
        )


# -- running ------------------------------------------------------------------------
def _claimable() -> tuple[Any, ...]:
    settings = get_settings()
    return (
        col(TrainingJobRecord.status).in_([TrainingJobStatus.queued, TrainingJobStatus.running]),
        col(TrainingJobRecord.attempts) < settings.training_max_attempts,
    )


def _claim_values() -> dict[str, Any]:
    return {
        "status": TrainingJobStatus.running,
        "attempts": TrainingJobRecord.attempts + 1,
        "started_at": func.coalesce(TrainingJobRecord.started_at, utcnow()),
        "error": None,
    }


def claim(job_id: str, *, owner: str | None = None) -> Lease | None:
    """Take the job's lease and mark it running; None when it is not claimable.

    Claimable: queued, or running with an expired lease (its worker died), and
    fewer than ``training_max_attempts`` leases taken.  The caller renews the
    lease (:class:`~forgeyard.leases.Heartbeat`) and releases it; :func:`run_job`
    does both.
    """
    lease = leases.acquire(
        TrainingJobRecord,
        job_id,
        owner or leases.holder_identity(),
        *_claimable(),
        **_claim_values(),
    )
    if lease is not None:
        lease.update(message=f"starting (attempt {get_job(job_id).attempts})")
    return lease


@contextlib.contextmanager
def _claimed(job_id: str) -> Iterator[Lease | None]:
    with leases.leased(TrainingJobRecord, job_id, *_claimable(), **_claim_values()) as lease:
        if lease is not None:
            lease.update(message=f"starting (attempt {get_job(job_id).attempts})")
        yield lease


def store_metrics(job_id: str, metrics: dict[str, Any], *, fence: Lease | None = None) -> bool:
    """Store one step's metrics; False (and nothing written) when that step is stored already.

    A resumed job logs again the steps after its checkpoint it had logged
    before dying; the first record of each step stays.  With ``fence``, the
    insert holds that lease (:class:`~forgeyard.leases.LeaseLost` otherwise).
    """
    step = int(metrics["step"])
    reward_mean, reward_std, frac_zero_std, kl, loss = (
        _number(metrics.get(name)) for name in METRIC_COLUMNS
    )
    skip = {"step", "total", *METRIC_COLUMNS}
    values = {k: v for k, v in metrics.items() if k not in skip and _jsonable(v)}
    with session_scope() as session:
        exists = session.exec(
            select(TrainingMetricRecord.id).where(
                TrainingMetricRecord.job_id == job_id, TrainingMetricRecord.step == step
            )
        ).first()
        if exists is not None:
            return False
    try:
        with session_scope() as session:
            if fence is not None:
                fence.hold(session)
            session.add(
                TrainingMetricRecord(
                    job_id=job_id,
                    step=step,
                    reward_mean=reward_mean,
                    reward_std=reward_std,
                    frac_zero_std=frac_zero_std,
                    kl=kl,
                    loss=loss,
                    values=values,
                )
            )
    except IntegrityError:  # a concurrent writer of the same step won
        return False
    return True


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def run_job(
    job_id: str, *, trainer: Trainer | None = None, on_progress: Progress | None = None
) -> TrainingJobRecord:
    """Claim a job and train it to the end; what the CLI calls (a worker: :func:`process_job`).

    ``trainer`` defaults to :func:`training.grpo.train_grpo` (tests pass a
    stand-in); ``on_progress`` gets the job and each step's metrics.
    A failure marks the job failed with the error and is raised again; no
    adapter is registered then.

    Raises:
        TrainingJobNotFound: no such job.
        TrainingError: the job is not claimable (finished, or another worker runs it).
    """
    job = get_job(job_id)
    trainer = trainer or _default_trainer()
    with _claimed(job_id) as lease:
        if lease is None:
            raise TrainingError(
                f"Training job `{job_id}` is {job.status.value} and not claimable "
                "(finished, running on a live worker, or out of attempts).",
                field="job",
            )
        return _run_leased(job_id, lease, trainer, on_progress)


def _run_leased(
    job_id: str, lease: Lease, trainer: Trainer, on_progress: Progress | None
) -> TrainingJobRecord:
    log.info(
        "training job %s: attempt %d (lease epoch %d)",
        job_id,
        get_job(job_id).attempts,
        lease.epoch,
    )
    try:
        return _train(get_job(job_id), lease, trainer, on_progress)
    except LeaseLost:
        log.warning("training job %s: lease epoch %d lost; results dropped", job_id, lease.epoch)
        return get_job(job_id)
    except BaseException as exc:
        why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}"
        error = f"{why}: {exc}" if str(exc) else why
        with contextlib.suppress(LeaseLost):  # another attempt owns it now: leave it
            lease.update(
                status=TrainingJobStatus.failed,
                error=error,
                message=f"failed at step {get_job(job_id).step}",
                finished_at=utcnow(),
            )
        raise


def _default_trainer() -> Trainer:
    # Imported when a job runs: TRL and torch are heavy for the API and the sweeper.
    from training.grpo import train_grpo

    return train_grpo


def _train(
    job: TrainingJobRecord, lease: Lease, trainer: Trainer, on_progress: Progress | None
) -> TrainingJobRecord:
    config = GRPOJobConfig.from_dict(job.config)
    reward = get_version(job.reward_model_id)
    if reward.status != RewardModelStatus.approved:
        # Approved when the job was created; a later evaluation can withdraw it.
        raise TrainingError(
            f"Reward model `{reward.name}` version {reward.hash[:12]} is no longer approved; "
            "evaluate it again or start a job with an approved one.",
            field="reward_model",
        )
    from training.envs import reward_model_reward

    output_dir = Path(job.output_dir or config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    def on_step(metrics: dict[str, Any]) -> None:
        store_metrics(job.id, metrics, fence=lease)
        step, total = int(metrics["step"]), int(metrics.get("total") or config.max_steps)
        lease.update(
            step=step,
            total_steps=total,
            heartbeat_at=utcnow(),
            message=_step_message(metrics, total),
        )
        if on_progress is not None:
            on_progress(get_job(job.id), metrics)

    outcome = trainer(
        config,
        reward_fn=reward_model_reward.from_record(reward),
        output_dir=output_dir,
        on_step=on_step,
    )
    for metrics in outcome.metrics:  # whatever on_step did not see
        store_metrics(job.id, metrics, fence=lease)
    adapter_dir = Path(outcome.adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise TrainingError(
            f"The trainer reported an adapter at {adapter_dir}, but there is no "
            "adapter_config.json there; nothing was registered.",
            field="adapter",
        )
    rows = job_metrics(job.id)
    summary = _summary(rows, outcome)
    summary.update(write_report(job, rows, summary, output_dir))
    _register(job, lease, outcome, adapter_dir, summary)
    log.info("training job %s: succeeded, adapter at %s", job.id, adapter_dir)
    return get_job(job.id)


def _step_message(metrics: dict[str, Any], total: int) -> str:
    parts = [f"step {metrics['step']}/{total}"]
    for name in ("reward_mean", "kl", "loss"):
        value = _number(metrics.get(name))
        if value is not None:
            parts.append(f"{name} {value:.4g}")
    return ", ".join(parts)


def _summary(rows: list[TrainingMetricRecord], outcome: Any) -> dict[str, Any]:
    last = rows[-1] if rows else None
    final = {name: getattr(last, name) for name in METRIC_COLUMNS} if last else {}
    first_reward = next((r.reward_mean for r in rows if r.reward_mean is not None), None)
    return {
        "steps": outcome.steps,
        "logged_steps": len(rows),
        "resumed_from_step": outcome.resumed_from_step,
        "final": final,
        "first_reward_mean": first_reward,
    }


def _register(
    job: TrainingJobRecord,
    lease: Lease,
    outcome: Any,
    adapter_dir: Path,
    summary: dict[str, Any],
) -> None:
    """In one transaction: the job succeeded and its adapter is a candidate, or neither."""
    now = utcnow()
    adapter = AdapterRecord(
        tenant_id=job.tenant_id,
        workflow=job.workflow,
        node=job.node,
        base_model=job.base_model,
        reward_model_id=job.reward_model_id,
        training_job_id=job.id,
        path=str(adapter_dir.resolve()),
        rank=int(outcome.rank),
        metrics=summary,
    )
    with session_scope() as session:
        lease.hold(session)  # before the insert: a lost lease writes no adapter row
        session.add(adapter)
        session.flush()
        lease.update(
            session,
            status=TrainingJobStatus.succeeded,
            step=outcome.steps,
            adapter_id=adapter.id,
            summary=summary,
            message=f"done: adapter {adapter.id} (candidate)",
            finished_at=now,
        )


def process_job(job_id: str, *, trainer: Trainer | None = None) -> TrainingJobRecord | None:
    """What a worker does with a job id: run it if claimable, never raise.

    Returns the job afterwards (its error stored if it failed), or None when
    there was nothing to do: no such job, finished, or running on a live worker.
    """
    try:
        job = get_job(job_id)
    except TrainingJobNotFound:
        log.warning("training job %s: not in the database, message dropped", job_id)
        return None
    if job.status.finished:
        log.info("training job %s is %s: nothing to do", job_id, job.status.value)
        return None
    try:
        return run_job(job_id, trainer=trainer)
    except TrainingError as exc:
        if exc.field == "job":
            log.info("%s", exc)
            return None
        log.error("training job %s failed: %s", job_id, exc)
    except Exception:  # noqa: BLE001 - run_job stored the error on the job
        log.exception("training job %s failed", job_id)
    return get_job(job_id)


# -- sweeper ------------------------------------------------------------------------
def sweep(enqueue: Callable[[str], bool]) -> list[str]:
    """Re-enqueue jobs no worker holds; fail those whose workers died too often.

    * running, lease expired: its worker died. Fewer than
      ``training_max_attempts`` attempts: queued again (the next attempt
      resumes from the last checkpoint); otherwise failed, with no adapter.
    * queued, last sent longer than ``requeue_after_seconds`` ago: its message
      was lost (or no training worker listens); sent again.
    ``enqueue`` sends a job id to the training queue (the worker layer passes
    its own). Returns the ids enqueued.
    """
    max_attempts = get_settings().training_max_attempts

    def gave_up(job: TrainingJobRecord) -> dict[str, Any]:
        return {
            "finished_at": utcnow(),
            "error": f"its worker died {job.attempts} time(s) (training_max_attempts "
            f"= {max_attempts}); checkpoints are kept in {job.output_dir}",
            "message": f"failed at step {job.step}",
        }

    def requeued(job: TrainingJobRecord) -> dict[str, Any]:
        return {"message": f"worker lost at step {job.step}; queued to resume"}

    return leases.sweep_jobs(
        TrainingJobRecord,
        TrainingJobStatus,
        enqueue,
        max_attempts=max_attempts,
        gave_up=gave_up,
        requeued=requeued,
    )
