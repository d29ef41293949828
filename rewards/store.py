"""Reward-model versions, evaluations as jobs, and the approval gate, in SQL.

A version is the spec's content hash within a tenant.  It is ``approved``
only while its latest succeeded evaluation met the spec's own thresholds; a
later evaluation that misses them sends it back to ``draft``.  Training will
ask :func:`require_approved` before it uses a version.

:func:`run_evaluation` takes ids and a progress callback, so the API's worker
task can be a thin wrapper around it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import col, select

from forgeyard.db import session_scope
from forgeyard.models import utcnow
from rewards.dataset import Preference, read_dataset
from rewards.errors import RewardError, RewardModelNotFound
from rewards.evaluate import Progress, evaluate
from rewards.labels import apply_labels
from rewards.loader import LoadedRewardSpec, load_reward_spec_text
from rewards.model import RewardModel
from rewards.records import (
    EvaluationRecord,
    EvaluationStatus,
    RewardModelRecord,
    RewardModelStatus,
)
from rewards.runs import RunFilter, examples_from_runs, read_expected

__all__ = [
    "create_evaluation",
    "get_evaluation",
    "get_version",
    "list_versions",
    "loaded_spec",
    "register",
    "require_approved",
    "run_evaluation",
]


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
) -> EvaluationRecord:
    """Queue an evaluation of a version on a dataset file or on recorded runs.

    ``tasks`` (with ``runs``) is a JSONL file of ``{"input", "expected"}``
    giving the runs their ground truth (see :func:`rewards.runs.read_expected`).

    Raises:
        ValueError: neither or both of ``dataset`` and ``runs`` given, or a bad run filter.
    """
    if (dataset is None) == (runs is None):
        raise ValueError("evaluate on exactly one of a dataset file or a run filter")
    if runs is not None:
        RunFilter.parse(runs)  # refuse a bad filter now, not in the worker
    record = get_version(reward_model_id, tenant_id=tenant_id)
    request: dict[str, Any] = (
        {"dataset": str(Path(dataset).resolve())} if dataset is not None else {"runs": runs}
    )
    if tasks is not None:
        if runs is None:
            raise ValueError("--tasks gives recorded runs their ground truth; use it with runs")
        request["tasks"] = str(Path(tasks).resolve())
    evaluation = EvaluationRecord(
        reward_model_id=record.id, tenant_id=record.tenant_id, request=request
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


def _update(evaluation_id: str, **values: Any) -> EvaluationRecord:
    with session_scope() as session:
        record = session.get(EvaluationRecord, evaluation_id)
        assert record is not None
        for key, value in values.items():
            setattr(record, key, value)
        session.add(record)
    return record


def run_evaluation(evaluation_id: str, *, progress: Progress | None = None) -> EvaluationRecord:
    """Run a queued evaluation, store its report and update the version's approval.

    A failure (an unreadable dataset …) marks the evaluation failed with the
    message and is raised again, so a CLI shows it and a worker logs it.
    """
    evaluation = get_evaluation(evaluation_id)
    version = get_version(evaluation.reward_model_id)
    _update(evaluation_id, status=EvaluationStatus.running, started_at=utcnow())

    def notify(fraction: float, message: str) -> None:
        _update(evaluation_id, progress=round(fraction, 4), message=message[:500])
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
    except Exception as exc:
        _update(
            evaluation_id,
            status=EvaluationStatus.failed,
            error=f"{type(exc).__name__}: {exc}",
            finished_at=utcnow(),
        )
        raise
    passed = bool(report["gate"]["passed"])
    record = _update(
        evaluation_id,
        status=EvaluationStatus.succeeded,
        report=report,
        passed=passed,
        progress=1.0,
        finished_at=utcnow(),
    )
    with session_scope() as session:
        stored = session.get(RewardModelRecord, version.id)
        assert stored is not None
        stored.latest_evaluation_id = evaluation_id
        stored.status = RewardModelStatus.approved if passed else RewardModelStatus.draft
        stored.approved_at = utcnow() if passed else None
        session.add(stored)
    return record


def _examples(
    evaluation: EvaluationRecord, version: RewardModelRecord
) -> tuple[list[Any], list[Preference], list[Any], str]:
    request = evaluation.request
    if "dataset" in request:
        ds = read_dataset(request["dataset"])
        return ds.examples, ds.preferences, ds.problems, ds.source
    run_filter = RunFilter.parse(request["runs"])
    if run_filter.workflow is None:
        run_filter = RunFilter(
            workflow=version.workflow,
            status=run_filter.status,
            since=run_filter.since,
            limit=run_filter.limit,
        )
    expected = read_expected(request["tasks"]) if request.get("tasks") else None
    examples = examples_from_runs(run_filter, tenant_id=version.tenant_id, expected=expected)
    return examples, [], [], f"runs: {request['runs']}"
