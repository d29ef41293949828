"""Comparing two recorded runs: steps aligned by node and visit, the first divergence.

The n-th visit of a node in one run is paired with the n-th visit of the same
node in the other; of a visit tried several times, the final attempt is
compared and the attempts are counted. Structural differences of inputs,
outputs, prompts and completions come from DeepDiff, so nested JSON is
compared field by field, numbers by value (``1 == 1.0``), lists in order.

Each run's own id counts as the same id: it appears in the idempotency keys of
side effects (``RUN:pay:0``), and two runs that did the same thing are no
different for having been two runs. Runs of different workflows can be
compared (a fork may run an edited spec); the result says ``same_workflow: false``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from deepdiff import DeepDiff
from deepdiff.helper import notpresent

from agents.runner import get_run
from agents.trace import jsonable, load_trace
from forgeyard.models import Run, Step

__all__ = ["Change", "Divergence", "RunDiff", "StepDiff", "diff_runs"]

# What is compared on the final attempt of a visit, in the order a divergence
# names them. Timings, token ids and usage differ between any two executions
# and are not a difference in behaviour.
STEP_FIELDS = (
    "kind",
    "status",
    "error",
    "model",
    "adapter",
    "input",
    "prompt",
    "completion",
    "output",
)

ChangeKind = Literal["changed", "added", "removed"]


@dataclass(frozen=True)
class Change:
    """One difference: ``path`` in the dotted form search uses (``output.carrier``)."""

    path: str
    change: ChangeKind
    a: Any = None
    b: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "change": self.change, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class StepDiff:
    """One aligned visit: the final attempt in each run (None where a run lacks it)."""

    index: int
    node: str
    visit: int
    a: Step | None
    b: Step | None
    attempts_a: int
    attempts_b: int
    changes: list[Change] = field(default_factory=list)

    @property
    def fields(self) -> list[str]:
        """The step fields that differ (``step`` when one run has no such visit)."""
        if self.a is None or self.b is None:
            return ["step"]
        return list(dict.fromkeys(c.path.split(".", 1)[0] for c in self.changes))

    @property
    def same(self) -> bool:
        return self.a is not None and self.b is not None and not self.changes

    def summary(self) -> str:
        where = f"`{self.node}` (visit {self.visit})"
        if self.a is None:
            return f"{where} ran only in b"
        if self.b is None:
            return f"{where} ran only in a"
        first = self.changes[0]
        return f"{where} differs in {', '.join(self.fields)}: {first.path} {_pair(first)}"

    def to_json(self) -> dict[str, Any]:
        def side(step: Step | None) -> dict[str, Any] | None:
            if step is None:
                return None
            return {"seq": step.seq, "attempt": step.attempt, "status": step.status.value}

        return {
            "index": self.index,
            "node": self.node,
            "visit": self.visit,
            "same": self.same,
            "fields": [] if self.same else self.fields,
            "a": side(self.a),
            "b": side(self.b),
            "attempts": {"a": self.attempts_a, "b": self.attempts_b},
            "changes": [c.to_json() for c in self.changes],
        }


@dataclass(frozen=True)
class Divergence:
    """Where two runs first behave differently."""

    index: int
    node: str
    visit: int
    fields: list[str]
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "node": self.node,
            "visit": self.visit,
            "fields": self.fields,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class RunDiff:
    """The comparison of run ``a`` with run ``b``; :meth:`to_json` is what the API returns."""

    a: Run
    b: Run
    steps: list[StepDiff]
    input: list[Change]
    output: list[Change]

    @property
    def same_workflow(self) -> bool:
        return self.a.workflow == self.b.workflow

    @property
    def same_spec(self) -> bool:
        return self.a.spec_hash == self.b.spec_hash

    @property
    def first_divergence(self) -> Divergence | None:
        for step in self.steps:
            if not step.same:
                return Divergence(step.index, step.node, step.visit, step.fields, step.summary())
        return None

    @property
    def identical(self) -> bool:
        """Same steps, same final output and status (the inputs may differ)."""
        return self.first_divergence is None and not self.output and self.a.status == self.b.status

    def to_json(self) -> dict[str, Any]:
        divergence = self.first_divergence
        return {
            "a": _run_side(self.a),
            "b": _run_side(self.b),
            "same_workflow": self.same_workflow,
            "same_spec": self.same_spec,
            "identical": self.identical,
            "first_divergence": divergence.to_json() if divergence else None,
            "input": [c.to_json() for c in self.input],
            "output": [c.to_json() for c in self.output],
            "steps": [s.to_json() for s in self.steps],
        }


def diff_runs(a_id: str, b_id: str, *, tenant_id: str | None = None) -> RunDiff:
    """Compare run ``a_id`` with run ``b_id`` (both ``tenant_id``'s, when given).

    Raises:
        RunNotFound: either run does not exist (for that tenant).
    """
    a, b = get_run(a_id, tenant_id=tenant_id), get_run(b_id, tenant_id=tenant_id)
    visits_a, visits_b = _visits(load_trace(a.id)), _visits(load_trace(b.id))

    def as_a(value: Any) -> Any:
        return _renamed(value, b.id, a.id)

    steps = [
        _step_diff(index, key, visits_a.get(key, []), visits_b.get(key, []), as_a)
        for index, key in enumerate(_align(list(visits_a), list(visits_b)))
    ]
    return RunDiff(
        a=a,
        b=b,
        steps=steps,
        input=changes(a.input, as_a(b.input), "input"),
        output=changes(a.output, as_a(b.output), "output"),
    )


def changes(a: Any, b: Any, root: str) -> list[Change]:
    """Every difference between two JSON values, paths under ``root``, sorted by path."""
    # threshold_to_diff_deeper=0: always field by field, never "the whole dict
    # changed" when most of its keys did (DeepDiff's default above 33 %).
    tree = DeepDiff(a, b, view="tree", ignore_numeric_type_changes=True, threshold_to_diff_deeper=0)
    found: list[Change] = []
    for levels in tree.values():
        for level in levels:
            path = ".".join([root, *map(str, level.path(output_format="list"))])
            if level.t1 is notpresent:
                found.append(Change(path, "added", None, jsonable(level.t2)))
            elif level.t2 is notpresent:
                found.append(Change(path, "removed", jsonable(level.t1), None))
            else:
                found.append(Change(path, "changed", jsonable(level.t1), jsonable(level.t2)))
    return sorted(found, key=lambda c: c.path)


Key = tuple[str, int]


def _visits(trace: list[Step]) -> dict[Key, list[Step]]:
    # Insertion order is the order each visit first appeared in the run.
    visits: dict[Key, list[Step]] = {}
    for step in trace:
        visits.setdefault((step.node, step.visit), []).append(step)
    return visits


def _align(a: list[Key], b: list[Key]) -> list[Key]:
    """Every visit of either run once, each run's in its own order.

    A visit only b made goes after b's previous visit and after the visits only
    a made there: where the runs branched apart, a's branch, then b's.
    """
    order = list(a)
    known, in_b = set(a), set(b)
    for i, key in enumerate(b):
        if key in known:
            continue
        at = order.index(b[i - 1]) + 1 if i else 0
        while at < len(order) and order[at] not in in_b:
            at += 1
        order.insert(at, key)
        known.add(key)
    return order


def _step_diff(
    index: int,
    key: Key,
    tries_a: list[Step],
    tries_b: list[Step],
    as_a: Callable[[Any], Any],
) -> StepDiff:
    # The final attempt is the last one recorded (an approval records an
    # interrupted try and then the decided one under the same attempt number).
    a, b = (tries[-1] if tries else None for tries in (tries_a, tries_b))
    found: list[Change] = []
    if a is not None and b is not None:
        for name in STEP_FIELDS:
            found += changes(_plain(getattr(a, name)), as_a(_plain(getattr(b, name))), name)
    return StepDiff(
        index=index,
        node=key[0],
        visit=key[1],
        a=a,
        b=b,
        attempts_a=max((s.attempt for s in tries_a), default=0),
        attempts_b=max((s.attempt for s in tries_b), default=0),
        changes=found,
    )


def _renamed(value: Any, old: str, new: str) -> Any:
    """``value`` with the id ``old`` written ``new`` in every string (JSON values only)."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    return value


def _plain(value: Any) -> Any:
    # Enum members (status) compare and serialise as their values.
    return getattr(value, "value", value)


def _run_side(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "workflow": run.workflow,
        "workflow_version": run.workflow_version,
        "spec_hash": run.spec_hash,
        "status": run.status.value,
        "error": run.error,
    }


def _pair(change: Change) -> str:
    def short(value: Any) -> str:
        text = repr(value)
        return text if len(text) <= 60 else text[:59] + "…"

    if change.change == "added":
        return f"added in b: {short(change.b)}"
    if change.change == "removed":
        return f"only in a: {short(change.a)}"
    return f"{short(change.a)} → {short(change.b)}"
