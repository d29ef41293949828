"""Reward-model versions, evaluations as jobs, and the approval gate, in SQL.

A version is the spec's content hash within a tenant.  It is ``approved``
only while its latest succeeded evaluation met the spec's own thresholds; a
later evaluation that misses them sends it back to ``draft``.  Training will
ask :func:`require_approved` before it uses a version.

:func:`run_evaluation` takes ids and a progress callback, so the API's worker
task can be a thin wrapper around it (:func:`process_evaluation`).  An
evaluation is leased like a run (:mod:`forgeyard.leases`): running it takes
the lease (so a redelivered message runs it once), a heartbeat renews it, and
every write of its progress, report and the version's approval holds it, so a
worker that froze past its lease writes nothing when it wakes.
:func:`sweep_evaluations` sends again one whose worker died (or whose message
was lost) and fails it after ``evaluation_max_attempts``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from forgeyard import leases
from forgeyard.db import session_scope
from forgeyard.leases import Lease, LeaseLost
from forgeyard.models import utcnow
from forgeyard.records.rewards import (
    EvaluationRecord,
    EvaluationStatus,
    RewardModelRecord,
    RewardModelStatus,
)
from forgeyard.settings import get_settings
from rewards.dataset import Preference, parse_dataset, read_dataset
from rewards.errors import RewardError, RewardModelNotFound
from rewards.evaluate import Progress, check_size, evaluate
from rewards.labels import apply_labels
from rewards.loader import LoadedRewardSpec, load_reward_spec_text
from rewards.model import RewardModel
from rewards.runs import RunFilter, examples_from_runs, parse_expected, read_expected

__all__ = [
    "EvaluationNotClaimable",
    "create_evaluation",
    "get_evaluation",
    "get_version",
    "list_versions",
    "loaded_spec",
    "process_evaluation",
    "register",
    "require_approved",
    "run_evaluation",
    "sweep_evaluations",
]

log = logging.getLogger("forgeyard.rewards")

# A dataset or tasks file sent as text (over HTTP) is stored with the request,
# so a worker on another machine reads the same lines; this names it in reports.
REQUEST_SOURCE = "<request>"


def register(loaded: LoadedRewardSpec, *, tenant_id: str | None = None) -> RewardModelRecord:
    """Store a spec version (idempotent: the same content gives the same record)."""
    tenant = tenant_id or loaded.spec.tenant
    with session_scope() as session:
        existing = session.exec(
            select(RewardModelRecord).where(
                RewardModelRecord.tenant_id == tenant,
                RewardModelRecord.name == loaded.spec.name,
                RewardModelRecord.hash == loaded.hash,
            )
        ).first()
        if existing is not None:
            return existing
        record = RewardModelRecord(
            tenant_id=tenant,
            workflow=loaded.spec.workflow,
            name=loaded.spec.name,
            version=loaded.spec.version,
            hash=loaded.hash,
            source=loaded.source,
            source_path=loaded.path,
        )
        session.add(record)
    return record


def get_version(key: str, *, tenant_id: str | None = None) -> RewardModelRecord:
    """A version by id or by (a unique prefix of) its hash.

    Raises:
        RewardModelNotFound: no such version for this tenant.
    """
    with session_scope() as session:
        record = session.get(RewardModelRecord, key)
        if record is None and len(key) >= 6:
            query = select(RewardModelRecord).where(col(RewardModelRecord.hash).startswith(key))
            if tenant_id is not None:
                query = query.where(RewardModelRecord.tenant_id == tenant_id)
            matches = list(session.exec(query))
            record = matches[0] if len(matches) == 1 else None
    if record is None or (tenant_id is not None and record.tenant_id != tenant_id):
        raise RewardModelNotFound(f"No reward-model version `{key}`.")
    return record


def list_versions(
    *, tenant_id: str | None = None, workflow: str | None = None
) -> list[RewardModelRecord]:
    with session_scope() as session:
        query = select(RewardModelRecord).order_by(col(RewardModelRecord.created_at).desc())
        if tenant_id is not None:
            query = query.where(RewardModelRecord.tenant_id == tenant_id)
        if workflow is not None:
            query = query.where(RewardModelRecord.workflow == workflow)
        return list(session.exec(query))


def loaded_spec(record: RewardModelRecord) -> LoadedRewardSpec:
    """The spec exactly as stored (relative paths resolve next to its original file)."""
    return load_reward_spec_text(record.source, filename=record.source_path or "<stored spec>")


def require_approved(key: str, *, tenant_id: str | None = None) -> RewardModelRecord:
    """The version, if approved.

    Raises:
        RewardError: it is a draft, naming the evaluation to run.
    """
    record = get_version(key, tenant_id=tenant_id)
    if record.status != RewardModelStatus.approved:
        raise RewardError(
            f"Reward model `{record.name}` version {record.hash[:12]} is not approved; "
            "evaluate it (`forgeyard rewards eval`) until its thresholds are met."
        )
    return record


def create_evaluation(
    reward_model_id: str,
    *,
    dataset: str | Path | None = None,
    runs: str | None = None,
    tasks: str | Path | None = None,
    tenant_id: str | None = None,
    dataset_text: str | None = None,
    tasks_text: str | None = None,
) -> EvaluationRecord:
    """Queue an evaluation of a version on a dataset (file or JSONL text) or on recorded runs.

    ``tasks`` (with ``runs``) is a JSONL file of ``{"input", "expected"}``
    giving the runs their ground truth (see :func:`rewards.runs.read_expected`);
    ``tasks_text`` is the same as text.

    Raises:
        ValueError: not exactly one of a dataset and runs given, or a bad run filter.
        DatasetError: the dataset cannot be read or has fewer than
            :data:`rewards.evaluate.MIN_EXAMPLES` examples; ``tasks_text`` has a
            line that is not an ``{input, expected}`` object.
    """
    sources = [x for x in (dataset, dataset_text, runs) if x is not None]
    if len(sources) != 1:
        raise ValueError("evaluate on exactly one of a dataset file or a run filter")
    if runs is not None:
        RunFilter.parse(runs)  # refuse a bad filter now, not in the worker
    record = get_version(reward_model_id, tenant_id=tenant_id)
    request: dict[str, Any]
    if dataset is not None:
        request = {"dataset": str(Path(dataset).resolve())}
    elif dataset_text is not None:
        request = {"dataset_text": dataset_text}
    else:
        request = {"runs": runs}
    if tasks is not None or tasks_text is not None:
        if runs is None:
            raise ValueError("--tasks gives recorded runs their ground truth; use it with runs")
        if tasks is not None:
            request["tasks"] = str(Path(tasks).resolve())
        else:
            assert tasks_text is not None
            parse_expected(tasks_text.splitlines(), source=REQUEST_SOURCE)  # refuse now
            request["tasks_text"] = tasks_text
    if dataset is not None or dataset_text is not None:
        # Refused before anything is stored; runs are counted when the evaluation runs.
        ds = (
            read_dataset(dataset)
            if dataset is not None
            else parse_dataset((dataset_text or "").splitlines(), source=REQUEST_SOURCE)
        )
        check_size(len(ds.examples), ds.source, len(ds.problems))
    evaluation = EvaluationRecord(
        reward_model_id=record.id,
        tenant_id=record.tenant_id,
        request=request,
        enqueued_at=utcnow(),  # its creator runs or sends it next
    )
    with session_scope() as session:
        session.add(evaluation)
    return evaluation


def get_evaluation(evaluation_id: str, *, tenant_id: str | None = None) -> EvaluationRecord:
    with session_scope() as session:
        record = session.get(EvaluationRecord, evaluation_id)
    if record is None or (tenant_id is not None and record.tenant_id != tenant_id):
        raise RewardModelNotFound(f"No evaluation `{evaluation_id}`.")
    return record


class EvaluationNotClaimable(RewardError):
    """The evaluation is finished, held by a live worker, or out of attempts."""


def process_evaluation(evaluation_id: str) -> EvaluationRecord | None:
    """What a worker does with an evaluation id: run it under its lease, never raise.

    Returns the evaluation afterwards (succeeded or failed, its error stored),
    or None when there was nothing to do: no such evaluation, finished, held
    by another live worker, or lost to another worker while this one ran.
    """
    try:
        return run_evaluation(evaluation_id)
    except (EvaluationNotClaimable, RewardModelNotFound) as exc:
        log.info("evaluation %s: nothing to do (%s)", evaluation_id, exc)
        return None
    except LeaseLost as exc:
        log.warning("evaluation %s: stopped, lease lost (%s)", evaluation_id, exc)
        return None
    except Exception:  # noqa: BLE001 - run_evaluation stored the error on the record
        log.exception("evaluation %s failed", evaluation_id)
        return get_evaluation(evaluation_id)


def run_evaluation(evaluation_id: str, *, progress: Progress | None = None) -> EvaluationRecord:
    """Run a queued evaluation under its lease, store its report, update the version's approval.

    A failure (an unreadable dataset …) marks the evaluation failed with the
    message and is raised again, so a CLI shows it and a worker logs it.

    Raises:
        RewardModelNotFound: no such evaluation.
        EvaluationNotClaimable: finished, running on a live worker, or out of attempts.
        LeaseLost: another worker took it over meanwhile (nothing more was written).
    """
    evaluation = get_evaluation(evaluation_id)
    version = get_version(evaluation.reward_model_id)
    claimable = (
        col(EvaluationRecord.status).in_([EvaluationStatus.queued, EvaluationStatus.running]),
        col(EvaluationRecord.attempts) < get_settings().evaluation_max_attempts,
    )
    with leases.leased(
        EvaluationRecord,
        evaluation_id,
        *claimable,
        status=EvaluationStatus.running,
        attempts=EvaluationRecord.attempts + 1,
        started_at=func.coalesce(EvaluationRecord.started_at, utcnow()),
        error=None,
    ) as lease:
        if lease is None:
            raise EvaluationNotClaimable(
                f"Evaluation `{evaluation_id}` is {get_evaluation(evaluation_id).status.value} "
                "and not claimable (finished, running on a live worker, or out of attempts)."
            )
        return _run_leased(evaluation, version, lease, progress)


def _run_leased(
    evaluation: EvaluationRecord,
    version: RewardModelRecord,
    lease: Lease,
    progress: Progress | None,
) -> EvaluationRecord:
    evaluation_id = evaluation.id

    def notify(fraction: float, message: str) -> None:
        lease.update(progress=round(fraction, 4), message=message[:500])
        if progress is not None:
            progress(fraction, message)

    try:
        model = RewardModel(loaded_spec(version))
        examples, preferences, problems, source = _examples(evaluation, version)
        examples, preferences = apply_labels(
            examples, preferences, tenant_id=version.tenant_id, workflow=version.workflow
        )
        report = evaluate(
            model, examples, preferences, problems=problems, source=source, progress=notify
        )
        report["evaluation_id"] = evaluation_id
    except LeaseLost:
        raise
    except Exception as exc:
        lease.update(
            status=EvaluationStatus.failed,
            error=f"{type(exc).__name__}: {exc}",
            finished_at=utcnow(),
        )
        raise
    passed = bool(report["gate"]["passed"])
    now = utcnow()
    # One fenced transaction: the report and the approval it decides, or neither.
    with session_scope() as session:
        lease.update(
            session,
            status=EvaluationStatus.succeeded,
            report=report,
            passed=passed,
            progress=1.0,
            finished_at=now,
        )
        stored = session.get(RewardModelRecord, version.id)
        assert stored is not None
        stored.latest_evaluation_id = evaluation_id
        stored.status = RewardModelStatus.approved if passed else RewardModelStatus.draft
        stored.approved_at = now if passed else None
        session.add(stored)
    return get_evaluation(evaluation_id)


def sweep_evaluations(enqueue: Callable[[str], bool]) -> list[str]:
    """Send again evaluations no worker holds; fail those whose workers died too often.

    * running, lease expired: its worker died (or froze); queued and sent
      again, or failed once ``evaluation_max_attempts`` leases were taken.
    * queued, last sent longer than ``requeue_after_seconds`` ago: its message
      was lost; sent again.
    ``enqueue`` sends an id to a worker. Returns the ids sent.
    """
    max_attempts = get_settings().evaluation_max_attempts

    def gave_up(evaluation: EvaluationRecord) -> dict[str, Any]:
        return {
            "finished_at": utcnow(),
            "error": f"its worker died {evaluation.attempts} time(s) "
            f"(evaluation_max_attempts = {max_attempts}); evaluate it again",
        }

    def requeued(evaluation: EvaluationRecord) -> dict[str, Any]:
        return {"message": "worker lost; queued again"}

    return leases.sweep_jobs(
        EvaluationRecord,
        EvaluationStatus,
        enqueue,
        max_attempts=max_attempts,
        gave_up=gave_up,
        requeued=requeued,
    )


def _examples(
    evaluation: EvaluationRecord, version: RewardModelRecord
) -> tuple[list[Any], list[Preference], list[Any], str]:
    request = evaluation.request
    if "dataset" in request:
        ds = read_dataset(request["dataset"])
        return ds.examples, ds.preferences, ds.problems, ds.source
    if "dataset_text" in request:
        ds = parse_dataset(request["dataset_text"].splitlines(), source=REQUEST_SOURCE)
        return ds.examples, ds.preferences, ds.problems, ds.source
    run_filter = RunFilter.parse(request["runs"])
    if run_filter.workflow is None:
        run_filter = RunFilter(
            workflow=version.workflow,
            status=run_filter.status,
            since=run_filter.since,
            limit=run_filter.limit,
        )
    expected = None
    if request.get("tasks"):
        expected = read_expected(request["tasks"])
    elif request.get("tasks_text"):
        expected = parse_expected(request["tasks_text"].splitlines(), source=REQUEST_SOURCE)
    examples = examples_from_runs(run_filter, tenant_id=version.tenant_id, expected=expected)
    return examples, [], [], f"runs: {request['runs']}"
