"""Examples from recorded runs: the run's output, its final state and its steps.

The final state is rebuilt from the trace: each successful step's output is
what its node wrote ``into`` the state (the pinned spec says where).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from forgeyard.db import session_scope
from forgeyard.models import Run, RunStatus, Step, StepStatus

__all__ = [
    "RunFilter",
    "example_from_run",
    "examples_from_runs",
    "load_run_example",
    "parse_expected",
    "read_expected",
    "task_key",
]


def task_key(run_input: Any) -> str:
    """Runs with the same input answer the same task: their GRPO group and pairing key."""
    canonical = json.dumps(run_input, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def read_expected(path: str | Path) -> dict[str, dict[str, Any]]:
    """Ground truth for runs, by :func:`task_key` of the input, from a tasks JSONL file.

    Each line holds ``input`` (exactly what a run was started with) and
    ``expected`` — e.g. the logistics task generator's ``to_jsonl`` output.

    Raises:
        DatasetError: the file cannot be read, or a line is not such an object
            (naming its line number).
    """
    from rewards.errors import DatasetError

    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read tasks {path}: {exc.strerror or exc}") from None
    return parse_expected(lines, source=str(path))


def parse_expected(lines: Iterable[str], *, source: str = "<tasks>") -> dict[str, dict[str, Any]]:
    """:func:`read_expected` on JSONL lines already in memory (e.g. sent over HTTP).

    Raises:
        DatasetError: a line is not an object with ``input`` and ``expected``,
            naming its line number.
    """
    from rewards.errors import DatasetError

    out: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{source}:{number}: not valid JSON: {exc.msg}") from None
        if (
            not isinstance(raw, dict)
            or "input" not in raw
            or not isinstance(raw.get("expected"), dict)
        ):
            raise DatasetError(f"{source}:{number}: expected an object with `input` and `expected`")
        out[task_key(raw["input"])] = raw["expected"]
    return out


@dataclass(frozen=True)
class RunFilter:
    """Which runs to score: ``workflow=logistics_booking,status=succeeded,limit=200``."""

    workflow: str | None = None
    status: str | None = None
    since: datetime | None = None
    limit: int = 500

    @classmethod
    def parse(cls, text: str) -> RunFilter:
        """Parse ``key=value`` pairs separated by commas.

        Raises:
            ValueError: an unknown key or a bad value, naming it.
        """
        values: dict[str, Any] = {}
        for pair in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"run filter expects key=value, got `{pair}`")
            if key == "limit":
                values["limit"] = int(value)
            elif key == "since":
                values["since"] = datetime.fromisoformat(value)
            elif key == "status":
                values["status"] = RunStatus(value).value
            elif key == "workflow":
                values["workflow"] = value
            else:
                raise ValueError(f"unknown run filter `{key}`; use workflow, status, since, limit")
        return cls(**values)


def _state_writes(run: Run) -> dict[str, str]:
    """Node name → the state field it writes, from the run's pinned spec."""
    from agents.runner import pinned_spec

    writes: dict[str, str] = {}
    for name, node in pinned_spec(run).spec.nodes.items():
        into = getattr(node, "into", None) or getattr(getattr(node, "output", None), "into", None)
        if isinstance(into, str):
            writes[name] = into
    return writes


def example_from_run(run: Run, steps: list[Step], expected: dict[str, Any] | None = None) -> Any:
    """The example of one recorded run (output, final state, steps)."""
    from rewards.example import Example

    writes = _state_writes(run)
    state: dict[str, Any] = {"input": run.input, "config": run.config}
    for step in steps:
        if step.status == StepStatus.ok and step.node in writes:
            state[writes[step.node]] = step.output
    prompt = next((s.prompt for s in steps if s.prompt), None)
    completion = next((s.completion for s in reversed(steps) if s.completion), None)
    return Example(
        id=run.id,
        output=run.output,
        state=state,
        expected=expected,
        input=run.input,
        prompt=json.dumps(prompt) if prompt else None,
        completion=json.dumps(run.output) if run.output is not None else completion,
        steps=[
            {
                "node": s.node,
                "kind": s.kind,
                "status": s.status.value,
                "output": s.output,
                "error": s.error,
            }
            for s in steps
        ],
        task={"run_status": run.status.value, "workflow": run.workflow},
        group=task_key(run.input),
    )


def load_run_example(
    run_id: str, *, tenant_id: str | None = None, expected: dict[str, Any] | None = None
) -> Any:
    """The example of one recorded run, by id (tenant-scoped when ``tenant_id`` is given).

    Raises:
        RunNotFound: no such run for the tenant.
    """
    from agents.runner import get_run
    from agents.trace import load_trace

    run = get_run(run_id, tenant_id=tenant_id)
    return example_from_run(run, load_trace(run_id), expected)


def examples_from_runs(
    run_filter: RunFilter,
    *,
    tenant_id: str | None = None,
    expected: dict[str, dict[str, Any]] | None = None,
) -> list[Any]:
    """Examples of the finished runs matching ``run_filter`` (newest first).

    Args:
        run_filter: Which runs.
        tenant_id: Only this tenant's runs (``None``: all, for operators).
        expected: Ground truth by :func:`task_key` of the run input, when known.
    """
    with session_scope() as session:
        query = select(Run).order_by(col(Run.created_at).desc()).limit(run_filter.limit)
        if tenant_id is not None:
            query = query.where(Run.tenant_id == tenant_id)
        if run_filter.workflow:
            query = query.where(Run.workflow == run_filter.workflow)
        if run_filter.status:
            query = query.where(Run.status == run_filter.status)
        else:
            done = [RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled]
            query = query.where(col(Run.status).in_(done))
        if run_filter.since:
            query = query.where(Run.created_at >= run_filter.since)
        runs = list(session.exec(query))
        steps: dict[str, list[Step]] = {r.id: [] for r in runs}
        if runs:
            rows = session.exec(
                select(Step).where(col(Step.run_id).in_(list(steps))).order_by(col(Step.seq))
            )
            for step in rows:
                steps[step.run_id].append(step)
    expected = expected or {}
    return [example_from_run(run, steps[run.id], expected.get(task_key(run.input))) for run in runs]
