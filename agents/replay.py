"""Replays and forks of recorded runs: each a new run linked to its source.

:func:`create_replay` and :func:`create_fork` check the request and create the
new run (``queued``; a worker executes it as any run, see
:mod:`agents.lineage` for the services it gets); :func:`replay_recent` replays
the last runs of a workflow in recorded mode, here, in this process.  The
source run — its row, steps, effects and checkpoints — is only read.

Errors::

    RunError (agents.runner)
    └── ReplayError
        ├── SpecMissing       the spec the source run was pinned to is not stored
        └── ReplayInvalid     a bad request field (``problems`` name them): mode, at_step, patch
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonpatch
import jsonpointer
import jsonschema
from langchain_core.runnables import RunnableConfig
from sqlmodel import col, select

from agents.compiler import compile_workflow
from agents.lineage import describe
from agents.nodes import VISITS, RunServices
from agents.runner import (
    InputProblem,
    RunError,
    RunStateError,
    execute_run,
    get_run,
    pinned_spec,
)
from agents.trace import StepRecorder, load_trace
from forgeyard.checkpoints import open_checkpointer
from forgeyard.db import session_scope
from forgeyard.models import Run, RunKind, RunStatus, Step, StepStatus, WorkflowSpecRecord, new_id
from workflows.loader import LoadedSpec

__all__ = [
    "ReplayError",
    "ReplayInvalid",
    "ReplaySummary",
    "SpecMissing",
    "create_fork",
    "create_replay",
    "lineage",
    "replay_recent",
]

MODES = {"recorded": RunKind.replay_recorded, "what_if": RunKind.replay_what_if}
REPLAYABLE = (RunStatus.succeeded, RunStatus.failed)


class ReplayError(RunError):
    """A replay or fork that cannot be made."""


class SpecMissing(ReplayError):
    """The source run's pinned spec is not in the database."""


class ReplayInvalid(ReplayError):
    """A field of the request is wrong; ``problems`` names each."""

    def __init__(self, problems: list[InputProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


def _source(run_id: str, tenant_id: str | None) -> tuple[Run, LoadedSpec]:
    run = get_run(run_id, tenant_id=tenant_id)
    with session_scope() as session:
        stored = session.get(WorkflowSpecRecord, run.spec_hash) is not None
    if not stored:
        raise SpecMissing(
            f"Run `{run_id}` was pinned to spec {run.spec_hash}, which is not stored in this "
            "database; it cannot be re-executed."
        )
    return run, pinned_spec(run)


def _new_run(source: Run, kind: RunKind, replay: dict[str, Any], **fields: Any) -> Run:
    with session_scope() as session:
        run = Run(
            id=fields.pop("id", None) or new_id(),
            tenant_id=source.tenant_id,
            workflow=source.workflow,
            workflow_version=source.workflow_version,
            spec_hash=source.spec_hash,
            input=fields.pop("input", source.input),
            config=source.config,
            parent_run_id=source.id,
            kind=kind,
            replay=replay,
            **fields,
        )
        session.add(run)
    return run


def create_replay(
    run_id: str,
    *,
    mode: str = "recorded",
    adapter: str | None = None,
    model: str | None = None,
    tenant_id: str | None = None,
    fields: dict[str, Any] | None = None,
) -> Run:
    """Create a queued replay of a finished run.

    Args:
        run_id: The source run.
        mode: ``recorded`` (every answer from the recording) or ``what_if``
            (llm nodes live, by ``adapter`` or ``model`` when given).
        adapter: A served LoRA adapter name answering every llm node (what-if).
        model: A served model name answering every llm node (what-if).
        tenant_id: Only this tenant's runs (another's is "not found").
        fields: Further run columns (e.g. ``enqueued_at``).

    Raises:
        RunNotFound, RunStateError (the source has not finished), SpecMissing,
        ReplayInvalid (an unknown mode; an adapter for a recorded replay).
    """
    if mode not in MODES:
        raise ReplayInvalid([InputProblem("mode", f"`{mode}` is not one of recorded, what_if")])
    if mode == "recorded" and (adapter or model):
        which = "adapter" if adapter else "model"
        raise ReplayInvalid(
            [InputProblem(which, "a recorded replay asks no model; use mode `what_if`")]
        )
    source, _loaded = _source(run_id, tenant_id)
    if source.status not in REPLAYABLE:
        raise RunStateError(
            f"Run `{run_id}` is {source.status.value}; only succeeded or failed runs are replayed."
        )
    options = {"mode": mode, "adapter": adapter, "model": model}
    return _new_run(source, MODES[mode], options, **(fields or {}))


# -- fork ---------------------------------------------------------------------------
def _fork_step(source: Run, at_step: int | dict[str, Any]) -> Step:
    trace = load_trace(source.id)
    if isinstance(at_step, dict):
        node, visit = at_step.get("node"), at_step.get("visit", 0)
        found = [s for s in trace if s.node == node and s.visit == visit]
        what = f"no step of node `{node}` visit {visit}"
    else:
        found = [s for s in trace if s.seq == at_step]
        what = f"no step {at_step} (the run has steps 1..{len(trace)})"
    ok = [s for s in found if s.status == StepStatus.ok]
    if not found:
        raise ReplayInvalid([InputProblem("at_step", f"run `{source.id}` has {what}")])
    if not ok:
        raise ReplayInvalid(
            [
                InputProblem(
                    "at_step",
                    f"step {found[-1].seq} (`{found[-1].node}`) did not complete "
                    f"({found[-1].status.value}); fork at a completed step",
                )
            ]
        )
    return ok[-1]


def _patched(
    loaded: LoadedSpec, values: dict[str, Any], patch: list[Any]
) -> tuple[dict[str, Any], set[str]]:
    """Apply ``patch`` op by op (so a problem names its op); the new values, fields touched."""
    spec = loaded.spec
    # Not `visits` (the ledger's call index) nor `output` (what a run ends with).
    allowed = set(spec.state) | {"input", "config"}
    doc = copy.deepcopy(values)
    touched: set[str] = set()
    for i, op in enumerate(patch):
        where = f"patch[{i}]"
        if not isinstance(op, dict) or not isinstance(op.get("path"), str):
            raise ReplayInvalid([InputProblem(where, "an RFC 6902 operation {op, path, ...}")])
        top = op["path"].split("/")[1] if op["path"].startswith("/") else ""
        if top not in allowed:
            raise ReplayInvalid(
                [
                    InputProblem(
                        f"{where}.path",
                        f"`{op['path']}` is not in a state field of `{spec.name}` "
                        f"(fields: {', '.join(sorted(allowed))})",
                    )
                ]
            )
        if "from" in op and str(op["from"]).split("/")[1:2] not in [[f] for f in allowed]:
            raise ReplayInvalid(
                [InputProblem(f"{where}.from", f"`{op['from']}` is not in a state field")]
            )
        try:
            doc = jsonpatch.JsonPatch([op]).apply(doc)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as exc:
            raise ReplayInvalid([InputProblem(where, str(exc))]) from None
        touched.add(top)
    return doc, touched


def _check_state(loaded: LoadedSpec, values: dict[str, Any], touched: set[str]) -> None:
    spec = loaded.spec
    problems = []
    for name in sorted(touched):
        schema = spec.input if name == "input" else spec.state.get(name)
        if not schema:
            continue
        validator = jsonschema.Draft202012Validator(schema)
        for e in validator.iter_errors(values.get(name)):
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.path)
            prefix = "input" if name == "input" else f"state.{name}"
            problems.append(InputProblem(prefix + path, e.message))
    if problems:
        raise ReplayInvalid(problems)


class _Unused:
    """Services for a graph that is only read (its history), never run."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"a graph compiled to read its history used `{name}`")


def create_fork(
    run_id: str,
    *,
    at_step: int | dict[str, Any],
    patch: list[Any] | None = None,
    live_effects: bool = False,
    tenant_id: str | None = None,
    fields: dict[str, Any] | None = None,
) -> Run:
    """Create a queued fork of a run from the checkpoint after one of its steps.

    The source's checkpoint after ``at_step`` is copied onto the fork's own
    thread (its id) with ``patch`` (RFC 6902) applied to the state; a worker
    then continues it from there.  Nothing is created when the step, the
    patch or the patched state is wrong.

    Args:
        run_id: The source run.
        at_step: The step's ``seq`` in the trace, or ``{"node", "visit"}``.
        patch: JSON-patch operations on the state (``/choice/quote_id`` …).
        live_effects: Side effects for real (after a person's approval of each)
            instead of in a sandbox.
        tenant_id: Only this tenant's runs.
        fields: Further run columns.

    Raises:
        RunNotFound, SpecMissing, ReplayInvalid (``at_step``, ``patch[i]``,
        ``state.<field>`` problems).
    """
    source, loaded = _source(run_id, tenant_id)
    step = _fork_step(source, at_step)
    patch = list(patch or [])
    fork_id = new_id()
    services = RunServices(
        run_id=source.id,
        model=_Unused(),  # type: ignore[arg-type]
        recorder=StepRecorder(source.id),
    )
    with open_checkpointer() as saver:
        graph = compile_workflow(loaded.spec, services, saver)
        config: RunnableConfig = {"configurable": {"thread_id": source.id}}
        # Newest first; the checkpoint after the step is the oldest one that
        # counts the step's visit (nodes of these graphs run one at a time).
        after = None
        for snapshot in graph.get_state_history(config):
            if (snapshot.values.get(VISITS) or {}).get(step.node, 0) > step.visit:
                after = snapshot
            else:
                break
        if after is None:
            raise ReplayInvalid(
                [InputProblem("at_step", f"no checkpoint was kept after step {step.seq}")]
            )
        values, touched = _patched(loaded, dict(after.values), patch)
        _check_state(loaded, values, touched)
        stored = saver.get_tuple(after.config)
        assert stored is not None
        checkpoint = copy.deepcopy(stored.checkpoint)
        versions = dict(checkpoint["channel_versions"])
        for name in touched:
            checkpoint["channel_values"][name] = values.get(name)
            versions[name] = saver.get_next_version(versions.get(name), None)
        checkpoint["channel_versions"] = versions
        metadata = dict(stored.metadata) | {"forked_from": {"run_id": source.id, "step": step.seq}}
        # Every channel counts as new on the fork's thread, so every value is
        # written there (PostgreSQL keeps values per thread and version).
        saver.put(
            {"configurable": {"thread_id": fork_id, "checkpoint_ns": ""}},
            checkpoint,
            metadata,  # type: ignore[arg-type]
            versions,
        )
    options = {
        "mode": "fork",
        "at_step": {"seq": step.seq, "node": step.node, "visit": step.visit},
        "patch": patch,
        "live_effects": live_effects,
    }
    run_input = values["input"] if "input" in touched else source.input
    # The checkpoint is written first: a failed insert leaves only an unreachable thread.
    return _new_run(source, RunKind.fork, options, id=fork_id, input=run_input, **(fields or {}))


def lineage(run_id: str, *, tenant_id: str | None = None) -> tuple[list[Run], list[Run]]:
    """A run's ancestors (its source, that one's source, …; nearest first) and its
    replays and forks (oldest first)."""
    run = get_run(run_id, tenant_id=tenant_id)
    ancestors: list[Run] = []
    seen = {run.id}
    while run.parent_run_id and run.parent_run_id not in seen:
        run = get_run(run.parent_run_id)
        seen.add(run.id)
        ancestors.append(run)
    with session_scope() as session:
        children = list(
            session.exec(
                select(Run)
                .where(Run.parent_run_id == run_id)
                .order_by(col(Run.created_at), col(Run.id))
            )
        )
    return ancestors, children


# -- bulk ---------------------------------------------------------------------------
@dataclass
class ReplaySummary:
    """How many of a workflow's recent runs replayed identically."""

    workflow: str
    identical: list[str]
    diverged: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "replayed": len(self.identical) + len(self.diverged),
            "identical": len(self.identical),
            "diverged": len(self.diverged),
            "identical_replays": self.identical,
            "diverged_replays": self.diverged,
        }


def replay_recent(
    workflow: str,
    *,
    last: int,
    tenant_id: str | None = None,
    on_replay: Callable[[Run], None] | None = None,
) -> ReplaySummary:
    """Replay (recorded) the ``last`` finished ordinary runs of ``workflow``, in this process.

    Recorded replays make no model call and no side effect, so running them
    here, one after another, is cheap; each is still a run of its own.
    """
    with session_scope() as session:
        query = (
            select(Run.id)
            .where(
                Run.workflow == workflow,
                col(Run.kind) == RunKind.run.value,
                col(Run.status).in_(REPLAYABLE),
            )
            .order_by(col(Run.created_at).desc(), col(Run.id).desc())
            .limit(last)
        )
        if tenant_id is not None:
            query = query.where(Run.tenant_id == tenant_id)
        sources = list(session.exec(query))
    summary = ReplaySummary(workflow, [], [])
    for source_id in sources:
        replay = create_replay(source_id, tenant_id=tenant_id)
        done = execute_run(replay.id)
        result = done.replay or {}
        if result.get("result") == "identical":
            summary.identical.append(done.id)
        else:
            divergence = result.get("divergence") or {}
            summary.diverged.append(
                {
                    "replay_id": done.id,
                    "source_id": source_id,
                    "divergence": divergence,
                    "message": describe(divergence) if divergence else done.error,
                }
            )
        if on_replay is not None:
            on_replay(done)
    return summary
