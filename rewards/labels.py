"""Human labels: a score of one answer, or a preference between two answers to one task.

An answer is a recorded run or a dataset example.  Labels live in SQL and
travel as JSONL (one label per line, the fields of :class:`LabelRecord`)::

    {"kind": "score", "run_id": "…", "score": 0.8, "by": "ana"}
    {"kind": "preference", "example_id": "ex-1", "rejected_example_id": "ex-2", "by": "ana"}
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from forgeyard.db import session_scope
from forgeyard.models import Run
from forgeyard.records.rewards import LabelKind, LabelRecord
from rewards.dataset import LineProblem, Preference
from rewards.errors import DatasetError, LabelError
from rewards.example import Example
from rewards.runs import task_key

__all__ = [
    "LabelImport",
    "add_preference",
    "add_score",
    "apply_labels",
    "export_labels",
    "import_labels",
    "list_labels",
]

_FIELDS = (
    "kind", "workflow", "run_id", "example_id", "score", "rejected_run_id",
    "rejected_example_id", "by", "note",
)  # fmt: skip


def _run(run_id: str, tenant_id: str) -> Run:
    with session_scope() as session:
        run = session.get(Run, run_id)
    if run is None or run.tenant_id != tenant_id:
        raise LabelError(f"No run `{run_id}` for tenant `{tenant_id}`.")
    return run


def add_score(
    *,
    score: float,
    by: str,
    run_id: str | None = None,
    example_id: str | None = None,
    tenant_id: str = "default",
    workflow: str | None = None,
    note: str | None = None,
) -> LabelRecord:
    """Record a person's score in [0, 1] of one run or one example.

    Raises:
        LabelError: not exactly one answer named, an unknown run, or a score outside [0, 1].
    """
    return _save(
        _score_label(
            score=score,
            by=by,
            run_id=run_id,
            example_id=example_id,
            tenant_id=tenant_id,
            workflow=workflow,
            note=note,
        )
    )


def _score_label(
    *,
    score: float,
    by: str,
    run_id: str | None,
    example_id: str | None,
    tenant_id: str,
    workflow: str | None,
    note: str | None,
) -> LabelRecord:
    if (run_id is None) == (example_id is None):
        raise LabelError("label exactly one of a run (run_id) or an example (example_id)")
    if isinstance(score, bool) or not math.isfinite(score) or not 0.0 <= score <= 1.0:
        raise LabelError(f"a score must be between 0 and 1, got {score}")
    if run_id is not None:
        workflow = _run(run_id, tenant_id).workflow
    return LabelRecord(
        kind=LabelKind.score,
        tenant_id=tenant_id,
        workflow=workflow,
        run_id=run_id,
        example_id=example_id,
        score=float(score),
        by=by,
        note=note,
    )


def add_preference(
    *,
    chosen: str,
    rejected: str,
    by: str,
    runs: bool = True,
    tenant_id: str = "default",
    workflow: str | None = None,
    note: str | None = None,
) -> LabelRecord:
    """Record that a person preferred ``chosen`` over ``rejected`` (runs, or example ids).

    Raises:
        LabelError: the same answer twice, an unknown run, or runs of different tasks
            (a preference only means something between answers to one task).
    """
    return _save(
        _preference_label(
            chosen=chosen,
            rejected=rejected,
            by=by,
            runs=runs,
            tenant_id=tenant_id,
            workflow=workflow,
            note=note,
        )
    )


def _preference_label(
    *,
    chosen: str,
    rejected: str,
    by: str,
    runs: bool,
    tenant_id: str,
    workflow: str | None,
    note: str | None,
) -> LabelRecord:
    if chosen == rejected:
        raise LabelError(f"a preference compares two answers; got `{chosen}` twice")
    if runs:
        a, b = _run(chosen, tenant_id), _run(rejected, tenant_id)
        if a.workflow != b.workflow or task_key(a.input) != task_key(b.input):
            raise LabelError(
                f"runs `{chosen}` and `{rejected}` answer different tasks; "
                "compare two runs of the same workflow and input"
            )
        workflow = a.workflow
        record = LabelRecord(
            kind=LabelKind.preference,
            tenant_id=tenant_id,
            workflow=workflow,
            run_id=chosen,
            rejected_run_id=rejected,
            by=by,
            note=note,
        )
    else:
        record = LabelRecord(
            kind=LabelKind.preference,
            tenant_id=tenant_id,
            workflow=workflow,
            example_id=chosen,
            rejected_example_id=rejected,
            by=by,
            note=note,
        )
    return record


def _save(record: LabelRecord) -> LabelRecord:
    with session_scope() as session:
        session.add(record)
        session.flush()
        session.refresh(record)
    return record


# What makes two labels the same judgement (the row id and time aside).
_IDENTITY = (
    "tenant_id", "kind", "workflow", "run_id", "example_id", "score", "rejected_run_id",
    "rejected_example_id", "by", "note",
)  # fmt: skip


def _save_new(record: LabelRecord) -> bool:
    """Store ``record`` unless the tenant has the same label already; whether it was new."""
    conditions = [
        col(getattr(LabelRecord, name)).is_(None)
        if getattr(record, name) is None
        else col(getattr(LabelRecord, name)) == getattr(record, name)
        for name in _IDENTITY
    ]
    with session_scope() as session:
        if session.exec(select(LabelRecord.id).where(*conditions)).first() is not None:
            return False
        session.add(record)
    return True


def list_labels(*, tenant_id: str = "default", workflow: str | None = None) -> list[LabelRecord]:
    """A tenant's labels (of one workflow, and those not tied to any), oldest first."""
    with session_scope() as session:
        query = select(LabelRecord).where(LabelRecord.tenant_id == tenant_id)
        if workflow is not None:
            query = query.where(
                (col(LabelRecord.workflow) == workflow) | col(LabelRecord.workflow).is_(None)
            )
        return list(session.exec(query.order_by(col(LabelRecord.id))))


def apply_labels(
    examples: Sequence[Example],
    preferences: Sequence[Preference],
    *,
    tenant_id: str = "default",
    workflow: str | None = None,
) -> tuple[list[Example], list[Preference]]:
    """Add stored labels to examples (by run or example id).

    An example's label becomes the mean of its dataset label and every stored
    score; stored preferences between two of the examples join ``preferences``.
    """
    by_id = {ex.id: ex for ex in examples}
    scores: dict[str, list[float]] = defaultdict(list)
    extra: list[Preference] = []
    for label in list_labels(tenant_id=tenant_id, workflow=workflow):
        subject = label.run_id or label.example_id
        if label.kind == LabelKind.score and subject in by_id and label.score is not None:
            scores[subject].append(label.score)
        elif label.kind == LabelKind.preference:
            rejected = label.rejected_run_id or label.rejected_example_id
            if subject in by_id and rejected in by_id:
                extra.append(Preference(str(subject), str(rejected)))
    for ex_id, values in scores.items():
        ex = by_id[ex_id]
        all_values = values + ([ex.label] if ex.label is not None else [])
        ex.label = sum(all_values) / len(all_values)
    return list(examples), [*preferences, *extra]


def export_labels(
    path: str | Path, *, tenant_id: str = "default", workflow: str | None = None
) -> int:
    """Write the tenant's labels as JSONL; returns how many."""
    labels = list_labels(tenant_id=tenant_id, workflow=workflow)
    with Path(path).open("w", encoding="utf-8") as f:
        for label in labels:
            row = {k: getattr(label, k) for k in _FIELDS if getattr(label, k) is not None}
            row["created_at"] = label.created_at.isoformat()
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(labels)


@dataclass(frozen=True)
class LabelImport:
    """What :func:`import_labels` did: labels stored, labels already there, bad lines."""

    imported: int
    duplicates: int
    problems: list[LineProblem]


def import_labels(path: str | Path, *, tenant_id: str = "default") -> LabelImport:
    """Read labels from JSONL; a bad line is reported with its number, the rest imported.

    Idempotent: a label the tenant already has (same kind, answers, score, `by`
    and note; an earlier import of the same file, or its own export) is skipped
    and counted in ``duplicates``, so importing twice never doubles a person's
    weight in :func:`apply_labels`.

    Raises:
        DatasetError: the file cannot be read.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read labels {path}: {exc.strerror or exc}") from None
    imported, duplicates, problems = 0, 0, []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if _save_new(_label(raw, tenant_id)):
                imported += 1
            else:
                duplicates += 1
        except json.JSONDecodeError as exc:
            problems.append(LineProblem(str(path), number, f"not valid JSON: {exc.msg}"))
        except (LabelError, KeyError, TypeError, ValueError) as exc:
            problems.append(LineProblem(str(path), number, str(exc)))
    return LabelImport(imported, duplicates, problems)


def _label(raw: Any, tenant_id: str) -> LabelRecord:
    """The label a JSONL line describes, checked as if a person entered it now."""
    if not isinstance(raw, dict):
        raise LabelError("expected a JSON object")
    by = raw.get("by")
    if not isinstance(by, str) or not by:
        raise LabelError("missing `by` (who labelled)")
    common: dict[str, Any] = {"by": by, "tenant_id": tenant_id, "note": raw.get("note")}
    if raw.get("kind") == "score":
        score = raw.get("score")
        if not isinstance(score, int | float):
            raise LabelError("a score label needs a numeric `score`")
        return _score_label(
            score=float(score),
            run_id=raw.get("run_id"),
            example_id=raw.get("example_id"),
            workflow=raw.get("workflow"),
            **common,
        )
    if raw.get("kind") == "preference":
        runs = raw.get("run_id") is not None
        chosen = raw.get("run_id") if runs else raw.get("example_id")
        rejected = raw.get("rejected_run_id") if runs else raw.get("rejected_example_id")
        if not isinstance(chosen, str) or not isinstance(rejected, str):
            raise LabelError("a preference needs the chosen and the rejected answer")
        return _preference_label(
            chosen=chosen, rejected=rejected, runs=runs, workflow=raw.get("workflow"), **common
        )
    raise LabelError("`kind` must be `score` or `preference`")
