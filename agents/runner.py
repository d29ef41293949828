"""The life of a run: create it, execute it (or resume it), decide its approvals.

These are plain functions over run ids, so the CLI, the HTTP API and Celery
workers all drive runs the same way.

Errors::

    RunError
    ├── InputInvalid          the input does not match the workflow's input schema
    ├── RunNotFound           no run with that id (for that tenant)
    └── RunStateError         the run is not in a state that allows the request
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError
from langgraph.types import Command
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from agents.adapters import AdapterSource, BaseModelOnly
from agents.compiler import compiled_graph, initial_state
from agents.effects import EffectsLedger, cancelled_output
from agents.lineage import prepare
from agents.model_client import ModelClient
from agents.nodes import OUTPUT, VISITS, NodeError, RunServices
from agents.trace import StepRecorder, abandon_unsaved_try, jsonable
from forgeyard.checkpoints import FENCE_KEY
from forgeyard.db import DATABASE_UNAVAILABLE, session_scope
from forgeyard.leases import Lease, LeaseLost
from forgeyard.models import Run, RunStatus, Step, StepStatus, WorkflowSpecRecord, utcnow
from forgeyard.telemetry import context, traces
from workflows.cache import LRU, load_spec_text_cached
from workflows.loader import LoadedSpec
from workflows.spec import config_problems

__all__ = [
    "InputInvalid",
    "RunError",
    "RunNotFound",
    "RunStateError",
    "decide",
    "execute_run",
    "get_run",
    "save_spec",
    "start_run",
    "validate_input",
]


# Graph steps one run may take (LangGraph's recursion limit): loops are allowed,
# endless ones are not.
MAX_STEPS = 10_000


class RunError(Exception):
    """A request about a run that cannot be carried out."""


@dataclass(frozen=True)
class InputProblem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InputInvalid(RunError):
    def __init__(self, workflow: str, problems: list[InputProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"input does not match the input schema of `{workflow}`:\n{lines}")


class RunNotFound(RunError):
    pass


class RunStateError(RunError):
    pass


_validators: LRU[str, jsonschema.Draft202012Validator] = LRU()


def validate_input(loaded: LoadedSpec, run_input: Any) -> None:
    """Raise :class:`InputInvalid` naming every field of ``run_input`` that is wrong."""
    validator = _validators.get(loaded.hash)
    if validator is None:
        # Built once per spec: checking the schema itself costs more than the input.
        validator = jsonschema.Draft202012Validator(loaded.spec.input)
        _validators.put(loaded.hash, validator)
    problems = [
        InputProblem(
            "input" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.path),
            e.message,
        )
        for e in sorted(validator.iter_errors(run_input), key=lambda e: list(map(str, e.path)))
    ]
    if problems:
        raise InputInvalid(loaded.spec.name, problems)


def start_run(
    loaded: LoadedSpec,
    run_input: dict[str, Any],
    *,
    config: dict[str, Any] | None = None,
    tenant_id: str = "default",
    fields: dict[str, Any] | None = None,
) -> Run:
    """Validate the input and create a ``queued`` run pinned to this exact spec.

    Nothing is written when the input or the config overrides are invalid.
    ``fields`` sets further run columns (e.g. the idempotency key) in the same
    insert, so a unique-constraint violation leaves no run behind.
    """
    validate_input(loaded, run_input)
    wrong = config_problems(loaded.spec, config or {})
    if wrong:
        raise InputInvalid(
            loaded.spec.name, [InputProblem(f"config.{key}", message) for key, message in wrong]
        )
    save_spec(loaded)
    with session_scope() as session:
        run = Run(
            tenant_id=tenant_id,
            workflow=loaded.spec.name,
            workflow_version=loaded.spec.version,
            spec_hash=loaded.hash,
            input=run_input,
            config={**loaded.spec.config, **(config or {})},
            **(fields or {}),
        )
        session.add(run)
    return run


def save_spec(loaded: LoadedSpec) -> None:
    """Store the exact spec text under its hash (once; concurrent callers are fine)."""
    with session_scope() as session:
        if session.get(WorkflowSpecRecord, loaded.hash) is not None:
            return
    try:
        with session_scope() as session:
            session.add(
                WorkflowSpecRecord(
                    hash=loaded.hash,
                    name=loaded.spec.name,
                    version=loaded.spec.version,
                    source=loaded.source,
                    source_path=loaded.path,
                )
            )
    except IntegrityError:
        pass  # another request stored the same spec first: same hash, same content


def get_run(run_id: str, *, tenant_id: str | None = None) -> Run:
    with session_scope() as session:
        run = session.get(Run, run_id)
    if run is None or (tenant_id is not None and run.tenant_id != tenant_id):
        raise RunNotFound(f"No run `{run_id}`.")
    return run


def pinned_spec(run: Run) -> LoadedSpec:
    """The exact spec a run started with (from the database, never from disk)."""
    return _spec_by_hash(run.spec_hash)


_pinned: LRU[str, LoadedSpec] = LRU()


def _spec_by_hash(spec_hash: str) -> LoadedSpec:
    # A content hash names immutable content, so the parsed spec can be kept
    # (and the database read skipped) for as long as the LRU holds it.
    loaded = _pinned.get(spec_hash)
    if loaded is not None:
        return loaded
    with session_scope() as session:
        record = session.get(WorkflowSpecRecord, spec_hash)
    if record is None:
        raise RunError(f"the spec {spec_hash} a run started with is missing from the database")
    loaded = load_spec_text_cached(
        record.source, filename=record.source_path or f"<spec {record.hash}>"
    )
    _pinned.put(spec_hash, loaded)
    return loaded


def execute_run(
    run_id: str,
    *,
    model: ModelClient | None = None,
    adapter: str | None = None,
    adapters: Mapping[str, str] | None = None,
    adapter_source: AdapterSource | None = None,
    on_step: Callable[[Step], None] | None = None,
    resume: dict[str, Any] | None = None,
    fence: Lease | None = None,
) -> Run:
    """Run (or continue) ``run_id`` until it finishes or waits for an approval.

    Safe to call again for a run whose worker died: the graph continues from its
    last checkpoint and side effects are not repeated.  A finished run is
    returned as it is.

    Which LoRA adapter answers an llm node: ``adapters[node]``, else ``adapter``
    (every llm node); with neither given, what ``adapter_source`` names for the
    run's tenant and workflow (workers pass the adapter registry), else the
    base model.

    ``fence`` is the run's lease (workers pass it): every step, checkpoint,
    effect and status write is then conditional on it, and
    :class:`~forgeyard.leases.LeaseLost` propagates once it is lost.  A lease
    taken over from a worker that died or froze gets one ``abandoned`` step
    for the node that worker was in.
    """
    run = get_run(run_id)
    if run.status.finished or (run.status == RunStatus.waiting_approval and resume is None):
        return run
    with (
        context.bound(run_id=run.id, tenant_id=run.tenant_id),
        traces.span(f"run {run.workflow}", {"forgeyard.workflow": run.workflow}) as span,
    ):
        result = _execute(
            run,
            model=model,
            adapter=adapter,
            adapters=adapters,
            adapter_source=adapter_source,
            on_step=on_step,
            resume=resume,
            fence=fence,
        )
        if span is not None:
            span.set_attribute("forgeyard.run.status", result.status.value)
        return result


def _execute(
    run: Run,
    *,
    model: ModelClient | None,
    adapter: str | None,
    adapters: Mapping[str, str] | None,
    adapter_source: AdapterSource | None,
    on_step: Callable[[Step], None] | None,
    resume: dict[str, Any] | None,
    fence: Lease | None,
) -> Run:
    loaded = pinned_spec(run)
    client = model or ModelClient.default()
    source = adapter_source or BaseModelOnly()
    if adapters is None and adapter is None:
        adapters = source.active(run.tenant_id, run.workflow)
    recorder = StepRecorder(run.id, on_step=on_step, fence=fence)
    services = RunServices(
        run_id=run.id,
        model=client,
        recorder=recorder,
        ledger=EffectsLedger(fence=fence),
        adapter=adapter,
        adapters=dict(adapters or {}),
        reload_adapter=lambda name: source.reload(name, client.base_url),
    )
    parent = get_run(run.parent_run_id) if run.parent_run_id else None
    _set_status(run.id, RunStatus.running, started=True, fence=fence)
    with prepare(run, services, parent, fence=fence) as plan:
        status, value = _invoke(run, loaded, plan.services, resume, fence)
    if status == RunStatus.waiting_approval:
        return _set_status(run.id, status, pending=value, fence=fence)
    output, error = (value, None) if status == RunStatus.succeeded else (None, value)
    # A replay or fork: how it compares with its source, next to how it was made.
    result = plan.result(status, error)
    replay = {**(run.replay or {}), **result} if result is not None else None
    return _finish(run.id, status, output=output, error=error, replay=replay, fence=fence)


def _invoke(
    run: Run,
    loaded: LoadedSpec,
    services: RunServices,
    resume: dict[str, Any] | None,
    fence: Lease | None,
) -> tuple[RunStatus, Any]:
    """Run the graph until it ends or waits: (status, output | error | pending approval)."""
    # The run's lease rides in its config: the shared checkpointer checks it
    # before each write (a plain object, so LangGraph keeps it out of metadata).
    graph_config: RunnableConfig = {
        "configurable": {
            "thread_id": run.id,
            FENCE_KEY: _CheckpointFence(fence) if fence is not None else None,
        },
        "recursion_limit": MAX_STEPS,
    }
    try:
        graph = compiled_graph(loaded)
        snapshot = graph.get_state(graph_config)
        if fence is not None and fence.previous_owner is not None:
            _mark_abandoned(services.recorder, loaded, snapshot, fence)
        if resume is not None:
            graph_input: Any = Command(resume=resume)
        elif snapshot.created_at is None:
            graph_input = initial_state(loaded.spec, run.input, run.config)
        else:
            # Resuming after a crash (or a fork from its copied checkpoint):
            # continue from the last checkpoint.
            graph_input = None
        graph.invoke(graph_input, graph_config, context=services, durability="sync")
        snapshot = graph.get_state(graph_config)
    except LeaseLost:
        raise  # another worker owns the run now: this one writes nothing more
    except DATABASE_UNAVAILABLE:
        # Not the run's failure: the database went away mid-run (or a pooled
        # connection died with it). The caller leaves the run to its lease.
        raise
    except NodeError as exc:
        return RunStatus.failed, str(exc)
    except GraphRecursionError:
        return (
            RunStatus.failed,
            f"run exceeded {MAX_STEPS} steps: a loop that never reaches its exit?",
        )
    except Exception as exc:  # noqa: BLE001 - a run never ends with a bare traceback
        return RunStatus.failed, f"internal error: {type(exc).__name__}: {exc}"

    if snapshot.interrupts:
        return RunStatus.waiting_approval, jsonable(snapshot.interrupts[0].value)
    if snapshot.next:
        return RunStatus.failed, f"run stopped before {snapshot.next}"
    return RunStatus.succeeded, jsonable(snapshot.values.get(OUTPUT))


@dataclass(frozen=True)
class _CheckpointFence:
    """The lease check before each checkpoint write: a read of the lease epoch.

    A read rather than ``Lease.check()``'s no-op UPDATE: the checkpoint is
    written on another connection, so a row lock taken here would end before
    that write commits either way; the read gives the same guarantee without a
    commit (two fewer per step).
    """

    lease: Lease

    def check(self) -> None:
        table: Any = self.lease.model
        with session_scope() as session:
            epoch = session.exec(
                select(table.lease_epoch).where(table.id == self.lease.row_id)
            ).first()
        if epoch != self.lease.epoch:
            raise LeaseLost(
                f"{table.__tablename__} {self.lease.row_id}: lease epoch {self.lease.epoch} "
                f"of {self.lease.owner} was superseded; stopping without writing a checkpoint"
            )


def _mark_abandoned(
    recorder: StepRecorder, loaded: LoadedSpec, snapshot: Any, fence: Lease
) -> None:
    # The previous holder's lease expired with the run unfinished: it was in
    # (or about to start) the node after the last checkpoint.  Its own writes
    # are fenced off, so the trace shows its try once, here.
    node = snapshot.next[0] if snapshot.next else loaded.spec.start
    if node not in loaded.spec.nodes:
        # LangGraph's own `__start__`: only the input was checkpointed, no node ran.
        node = loaded.spec.start
    visit = (snapshot.values or {}).get(VISITS, {}).get(node, 0)
    error = (
        f"worker {fence.previous_owner} lost the run's lease (epoch {fence.epoch - 1}) "
        f"here; taken over by {fence.owner} (epoch {fence.epoch})"
    )
    # It may have finished the node and recorded it, then died before the
    # checkpoint (the live snapshot counts a node whose writes were saved as
    # done): the node runs again, so that recorded try is the abandoned one.
    if abandon_unsaved_try(recorder.run_id, node, visit, f"{error}; not checkpointed", fence):
        return
    recorder.record(
        node=node,
        kind=loaded.spec.nodes[node].kind,
        visit=visit,
        attempt=recorder.attempt(node, visit),
        status=StepStatus.abandoned,
        started_at=utcnow(),
        error=error,
    )


def decide(
    run_id: str,
    *,
    approved: bool,
    by: str,
    comment: str | None = None,
    tenant_id: str | None = None,
    model: ModelClient | None = None,
    adapter: str | None = None,
    adapters: Mapping[str, str] | None = None,
    adapter_source: AdapterSource | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> Run:
    """Approve or reject the run's pending step and carry on."""
    run = get_run(run_id, tenant_id=tenant_id)
    if run.status != RunStatus.waiting_approval:
        raise RunStateError(f"Run `{run_id}` is {run.status.value}, not waiting for an approval.")
    return execute_run(
        run_id,
        model=model,
        adapter=adapter,
        adapters=adapters,
        adapter_source=adapter_source,
        on_step=on_step,
        resume={"approved": approved, "by": by, "comment": comment},
    )


def _set_status(
    run_id: str,
    status: RunStatus,
    *,
    started: bool = False,
    pending: dict[str, Any] | None = None,
    fence: Lease | None = None,
) -> Run:
    with session_scope() as session:
        if fence is not None:
            fence.hold(session)
        run = session.get(Run, run_id)
        assert run is not None
        if run.status == RunStatus.cancelled:
            # A cancelled run stays cancelled, whatever its worker was doing; an
            # effect its last step made after the cancel is reported too.
            run.output = cancelled_output(session, run_id)
            session.add(run)
            return run
        run.status = status
        run.pending_approval = pending
        now = utcnow()
        if started and run.started_at is None:
            run.started_at = now
        run.updated_at = now
        session.add(run)
    return run


def _finish(
    run_id: str,
    status: RunStatus,
    *,
    output: dict[str, Any] | None = None,
    error: str | None = None,
    replay: dict[str, Any] | None = None,
    fence: Lease | None = None,
) -> Run:
    with session_scope() as session:
        if fence is not None:
            fence.hold(session)
        run = session.get(Run, run_id)
        assert run is not None
        if run.status == RunStatus.cancelled:
            run.output = cancelled_output(session, run_id)
            session.add(run)
            return run
        run.status = status
        run.output = output
        run.error = error
        if replay is not None:
            run.replay = replay
        run.pending_approval = None
        run.finished_at = run.updated_at = utcnow()
        session.add(run)
    return run
