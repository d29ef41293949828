"""How a replay or a fork executes: the services its nodes get, and its result.

A replay or fork is a run like any other (the worker executes it, the trace
records it); what differs is where its nodes' answers come from, chosen by
the run's ``kind``:

========================  ======================  ==================================  ==========
kind                      llm nodes               tool nodes                          effects
========================  ======================  ==================================  ==========
``replay_recorded``       the recording           pure tools re-run and compared,     none
                                                  effects from the recording
``replay_what_if``        live (chosen adapter)   the recording while the input       sandbox
                                                  matches, else run
``fork``                  live                    live                                sandbox, or
                                                                                      live after
                                                                                      a yes
========================  ======================  ==================================  ==========

The replayed steps are compared, in order, with the source's completed steps
(node, visit, input, output; an llm step's prompt too).  The first difference
is the divergence: a recorded replay stops there (it has no answer for an
input it never saw, and may not ask the model), a what-if replay notes it and
carries on.  Pure tools are re-executed in a recorded replay because that is
what it checks: today's code, given last week's answers, computes last week's
steps.

Errors::

    ReplayDiverged (NodeError)    raised inside the graph to stop a recorded replay
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from agents.effects import EffectsLedger
from agents.model_client import ModelCall
from agents.nodes import NodeError, RunServices
from agents.sandbox import SandboxDatabase
from agents.trace import StepRecorder, jsonable, load_trace
from forgeyard.leases import Lease
from forgeyard.models import Run, RunKind, RunStatus, Step, StepStatus

__all__ = ["Comparison", "Plan", "ReplayDiverged", "prepare"]


class ReplayDiverged(NodeError):
    """The re-executed code asked for something the recording does not hold."""

    def __init__(self, divergence: dict[str, Any]) -> None:
        super().__init__(describe(divergence), retryable=False)
        self.divergence = divergence


def describe(divergence: dict[str, Any]) -> str:
    """One line for a run's error and the CLI: where and what differed."""
    where = f"step {divergence['step']}" if divergence.get("step") else "the end"
    node = f" (node `{divergence['node']}`, visit {divergence['visit']})"
    return f"replay diverged at {where}{node}: {divergence['what']} differs from the recording"


def _brief(step: Step | None) -> dict[str, Any] | None:
    if step is None:
        return None
    return {"step": step.seq, "node": step.node, "visit": step.visit}


@dataclass
class Comparison:
    """The source's completed steps, walked in order as the replay records its own."""

    expected: list[Step]
    failure: Step | None = None  # the error that ended the source run, if any
    position: int = 0
    divergence: dict[str, Any] | None = None

    @classmethod
    def of(cls, source: Run) -> Comparison:
        trace = load_trace(source.id)
        expected: list[Step] = []
        for step in trace:
            if step.status != StepStatus.ok:
                continue
            if expected and (expected[-1].node, expected[-1].visit) == (step.node, step.visit):
                # The same visit completed twice: its worker died before the
                # checkpoint, and the next one ran it again.  The later one counts.
                expected[-1] = step
            else:
                expected.append(step)
        failure = None
        if source.status == RunStatus.failed and trace and trace[-1].status == StepStatus.error:
            failure = trace[-1]
        return cls(expected=expected, failure=failure)

    def next(self) -> Step | None:
        return self.expected[self.position] if self.position < len(self.expected) else None

    def at(self, node: str, visit: int) -> Step | None:
        """The recorded step the replay is at, when it is at ``node``/``visit``."""
        step = self.next()
        return step if step is not None and (step.node, step.visit) == (node, visit) else None

    def find(self, node: str, visit: int) -> Step | None:
        """The recorded completed step of ``node``'s ``visit``, wherever it was."""
        return next((s for s in self.expected if (s.node, s.visit) == (node, visit)), None)

    def diverge(
        self, node: str, visit: int, what: str, recorded: Any, replayed: Any
    ) -> dict[str, Any]:
        """Note (the first) divergence here and return it."""
        if self.divergence is None:
            step = self.next()
            self.divergence = {
                "step": step.seq if step is not None else None,
                "node": node,
                "visit": visit,
                "what": what,
                "recorded": recorded,
                "replayed": replayed,
            }
        return self.divergence

    def check(self, step: Step) -> dict[str, Any] | None:
        """Compare a completed replay step with the recorded one at this position."""
        recorded = self.next()
        found = None
        if recorded is None or (recorded.node, recorded.visit) != (step.node, step.visit):
            found = self.diverge(
                step.node,
                step.visit,
                "node",
                _brief(recorded),
                {"node": step.node, "visit": step.visit},
            )
        else:
            for what in ("input", "output"):
                if getattr(step, what) != getattr(recorded, what):
                    found = self.diverge(
                        step.node, step.visit, what, getattr(recorded, what), getattr(step, what)
                    )
                    break
        self.position += 1
        return found

    def result(self, status: RunStatus, error: str | None) -> dict[str, Any]:
        """``identical`` or ``diverged`` (with where and what) for the finished replay."""
        if self.divergence is None and self.next() is not None:
            rest = self.next()
            assert rest is not None
            self.diverge(rest.node, rest.visit, "end", _brief(rest), None)
        if self.divergence is None and self.failure is not None and error != self.failure.error:
            self.divergence = {
                "step": self.failure.seq,
                "node": self.failure.node,
                "visit": self.failure.visit,
                "what": "error",
                "recorded": self.failure.error,
                "replayed": error,
            }
        if self.divergence is None and self.failure is None and status != RunStatus.succeeded:
            self.divergence = {
                "step": None,
                "node": None,
                "visit": None,
                "what": "status",
                "recorded": RunStatus.succeeded.value,
                "replayed": status.value,
            }
        compared = min(self.position, len(self.expected))
        if self.divergence is None:
            return {"result": "identical", "steps_compared": compared}
        return {"result": "diverged", "steps_compared": compared, "divergence": self.divergence}


class ComparingRecorder(StepRecorder):
    """Records the replay's steps and compares each completed one with the recording."""

    def __init__(
        self,
        run_id: str,
        comparison: Comparison,
        *,
        stop_at_divergence: bool,
        on_step: Callable[[Step], None] | None = None,
        fence: Lease | None = None,
    ) -> None:
        super().__init__(run_id, on_step=on_step, fence=fence)
        self.comparison = comparison
        self.stop = stop_at_divergence
        # A replay resumed after its worker died: its steps so far were compared.
        done = [s for s in load_trace(run_id) if s.status == StepStatus.ok]
        for step in done:
            comparison.check(step)

    def record(self, **fields: Any) -> Step:  # type: ignore[override]
        step = super().record(**fields)
        if step.status == StepStatus.ok:
            before = self.comparison.divergence
            found = self.comparison.check(step)
            if self.stop and found is not None and before is None:
                raise ReplayDiverged(found)
        return step


@dataclass
class RecordedAnswers:
    """The recording, served to the nodes (see :class:`agents.nodes.Answers`).

    ``strict`` (recorded replay): every answer comes from the recording at the
    replay's current position, and anything else is a divergence.  Otherwise
    (what-if): llm nodes ask the model; tools and approvals take the recorded
    answer of the same node and visit when their input is the recorded one.
    """

    comparison: Comparison
    strict: bool

    def _recorded(self, node: str, visit: int) -> Step | None:
        if self.strict:
            step = self.comparison.at(node, visit)
            if step is None:
                self._fail_as_recorded(node, visit)
                raise ReplayDiverged(
                    self.comparison.diverge(
                        node,
                        visit,
                        "node",
                        _brief(self.comparison.next()),
                        {"node": node, "visit": visit},
                    )
                )
            return step
        if self.comparison.divergence is None:
            return self.comparison.at(node, visit)
        return self.comparison.find(node, visit)

    def _fail_as_recorded(self, node: str, visit: int) -> None:
        # The source ended with this node failing: fail the same way.
        failure = self.comparison.failure
        if (
            failure is not None
            and self.comparison.next() is None
            and (failure.node, failure.visit) == (node, visit)
        ):
            raise NodeError(failure.error or "failed (recorded)", retryable=False)

    def _stop(self, node: str, visit: int, what: str, recorded: Any, replayed: Any) -> None:
        raise ReplayDiverged(self.comparison.diverge(node, visit, what, recorded, replayed))

    def llm(
        self, node: str, visit: int, messages: list[dict[str, Any]], schema: Any
    ) -> ModelCall | None:
        if not self.strict:
            return None
        step = self._recorded(node, visit)
        assert step is not None
        if jsonable(messages) != step.prompt:
            self._stop(node, visit, "prompt", step.prompt, jsonable(messages))
        new_input = {"schema": schema} if schema else None
        if jsonable(new_input) != step.input:
            self._stop(node, visit, "input", step.input, jsonable(new_input))
        return ModelCall(
            model=step.model or "recorded",
            messages=messages,
            text=step.completion or "",
            parsed=step.output,
            prompt_token_ids=(step.token_ids or {}).get("prompt"),
            completion_token_ids=(step.token_ids or {}).get("completion"),
            usage={k: v for k, v in (step.usage or {}).items() if k != "tries"},
            adapter=step.adapter,
        )

    def tool(
        self,
        node: str,
        visit: int,
        args: dict[str, Any],
        side_effect: bool,
        perform: Callable[[], Any],
    ) -> Any:
        step = self._recorded(node, visit)
        if step is None or jsonable(args) != step.input:
            if self.strict:
                assert step is not None
                self._stop(node, visit, "input", step.input, jsonable(args))
            return perform()  # what-if: an input never seen runs (effects sandboxed)
        if self.strict and not side_effect:
            try:
                fresh = jsonable(perform())
            except Exception as exc:  # noqa: BLE001 - today's code refusing is a divergence
                fresh = {"error": f"{type(exc).__name__}: {exc}"}
            if fresh != step.output:
                self._stop(node, visit, "output", step.output, fresh)
        return step.output

    def approval(self, node: str, visit: int, message: str | None) -> dict[str, Any] | None:
        step = self._recorded(node, visit)
        if step is None or (step.input or {}).get("message") != message:
            if self.strict:
                assert step is not None
                self._stop(node, visit, "input", step.input, {"required": True, "message": message})
            return None  # what-if: a question never asked waits for a person
        return dict(step.output or {})


class _NoModel:
    """A recorded replay's model: every answer is served, so any call is a bug."""

    base_url = "recorded://"

    def complete(self, *_args: Any, **_kwargs: Any) -> ModelCall:
        raise NodeError("a recorded replay never calls the model", retryable=False)


class _NoLedger(EffectsLedger):
    """A recorded replay's ledger: effects are served from the recording."""

    def call(self, *_args: Any, **_kwargs: Any) -> tuple[Any, bool]:
        raise NodeError("a recorded replay performs no side effect", retryable=False)


@dataclass
class Plan:
    """The services a run executes with, and how to sum up its result."""

    services: RunServices
    comparison: Comparison | None = None

    def result(self, status: RunStatus, error: str | None) -> dict[str, Any] | None:
        """What goes into the run's ``replay`` once it has finished so."""
        if self.comparison is None:
            return None
        return self.comparison.result(status, error)


@contextmanager
def prepare(
    run: Run, services: RunServices, source: Run | None, *, fence: Lease | None = None
) -> Iterator[Plan]:
    """The services for ``run`` by its kind; a sandbox lives as long as the block.

    Args:
        run: The run about to execute.
        services: What a normal run of it would use (model, recorder, adapters).
        source: The run it replays or forks (``run.parent_run_id``), or None.
        fence: The run's lease, which the replay's recorder writes under too.
    """
    kind = RunKind(run.kind)
    options = run.replay or {}
    if kind == RunKind.run or source is None:
        yield Plan(services)
        return
    if kind == RunKind.replay_recorded:
        comparison = Comparison.of(source)
        yield Plan(
            replace(
                services,
                model=_NoModel(),  # type: ignore[arg-type]  # duck-typed: nodes call complete
                recorder=ComparingRecorder(
                    run.id,
                    comparison,
                    stop_at_divergence=True,
                    on_step=services.recorder.on_step,
                    fence=fence,
                ),
                ledger=_NoLedger(),
                answers=RecordedAnswers(comparison, strict=True),
            ),
            comparison,
        )
        return
    live_effects = kind == RunKind.fork and bool(options.get("live_effects"))
    sandbox = None if live_effects else SandboxDatabase()
    try:
        changed: dict[str, Any] = {"sandbox": sandbox is not None, "approve_effects": live_effects}
        if sandbox is not None:
            changed["ledger"] = sandbox.ledger()
        compared: Comparison | None = None
        if kind == RunKind.replay_what_if:
            served = options.get("adapter") or options.get("model")
            if served:
                changed |= {"adapter": served, "adapters": {}}
            compared = Comparison.of(source)
            changed["recorder"] = ComparingRecorder(
                run.id,
                compared,
                stop_at_divergence=False,
                on_step=services.recorder.on_step,
                fence=fence,
            )
            changed["answers"] = RecordedAnswers(compared, strict=False)
        yield Plan(replace(services, **changed), compared)
    finally:
        if sandbox is not None:
            sandbox.close()
