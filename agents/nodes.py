"""What runs inside a compiled graph: one function per node kind.

Each node kind is a plain function ``(name, spec node, state, services) ->
NodeResult``; :func:`make_node` wraps it into a LangGraph node that records
every try as a trace step and counts visits (the effects ledger's call index).

Errors::

    NodeError                 a step failed; ``retryable`` tells the retry policy
    └── NodeTimeout           a tool ran past the node's timeout_seconds
"""

from __future__ import annotations

import contextvars
import logging
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from langgraph.errors import GraphInterrupt
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from agents.effects import EffectsLedger, NotJSONError, ensure_json
from agents.model_client import (
    ModelCall,
    ModelClient,
    ModelError,
    ModelOutputError,
    ModelRequestError,
    ModelTimeout,
)
from agents.trace import StepRecorder
from forgeyard.leases import LeaseLost
from forgeyard.models import StepStatus, utcnow
from forgeyard.telemetry import context, metrics, traces
from workflows.expressions import ExpressionError, evaluate, render
from workflows.spec import (
    ApprovalNode,
    EndNode,
    LLMNode,
    RouteNode,
    ToolNode,
    resolve_output_schema,
)
from workflows.tools import ToolContext, ToolError, registry

__all__ = ["Answers", "NodeError", "NodeTimeout", "RunServices", "make_node"]

log = logging.getLogger("forgeyard.agents")

VISITS = "visits"
OUTPUT = "output"


class NodeError(Exception):
    """A node try that failed; the message goes into the trace and the run's error."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        call: ModelCall | None = None,
        input: Any = None,
        detail: Any = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.call = call
        # What the failed try was given (a tool's arguments) and what it left
        # behind (the tool's own traceback): recorded on the step.
        self.input = input
        self.detail = detail


class NodeTimeout(NodeError):
    """A try ran longer than the node's ``timeout_seconds``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class Answers(Protocol):
    """Where a replay's nodes get their answers instead of (or before) doing the work.

    Implemented by :mod:`agents.replay`; a normal run has none.  Each method
    is asked with the node, its visit and the input the re-executed code
    computed, so the implementation can compare that input with the recording.
    """

    def llm(self, node: str, visit: int, messages: list[dict[str, Any]], schema: Any) -> Any:
        """A :class:`ModelCall` to use instead of the model, or None to ask the model."""

    def tool(
        self, node: str, visit: int, args: dict[str, Any], side_effect: bool, perform: Any
    ) -> Any:
        """The tool's answer; ``perform()`` does the real (or sandboxed) call."""

    def approval(self, node: str, visit: int, message: str | None) -> dict[str, Any] | None:
        """A recorded decision ``{approved, by, comment}``, or None to wait for a person."""


@dataclass
class RunServices:
    """What nodes of one run use to do and record their work."""

    run_id: str
    model: ModelClient
    recorder: StepRecorder
    ledger: EffectsLedger = field(default_factory=EffectsLedger)
    # LoRA adapters (served names) answering llm nodes: ``adapters`` by node name,
    # ``adapter`` every llm node not named there.  A node's own ``model`` wins.
    adapter: str | None = None
    adapters: dict[str, str] = field(default_factory=dict)
    # Called with an adapter the server does not know (it restarted); True when it
    # was loaded again, and the node's call is retried once.
    reload_adapter: Callable[[str], bool] | None = None
    sandbox: bool = False
    # Replays: recorded answers served to the nodes (see :class:`Answers`).
    answers: Answers | None = None
    # A fork with live effects: a person approves each side effect before it runs.
    approve_effects: bool = False

    def adapter_for(self, node: str) -> str | None:
        """The adapter that answers llm node ``node``, if any."""
        return self.adapters.get(node, self.adapter)


@dataclass
class NodeResult:
    update: dict[str, Any]
    goto: str | None = None
    input: Any = None
    output: Any = None
    call: ModelCall | None = None


def make_node(
    name: str, node: Any, *, next_node: str | None, services: RunServices | None = None
) -> Callable[..., Any]:
    """A LangGraph node running ``node`` (a spec node) and recording each try.

    The node takes its run's services from LangGraph's run context
    (``runtime.context``), so one compiled graph serves every run of a spec;
    ``services`` is the fallback for a graph invoked without a context.
    """
    impl = _IMPLEMENTATIONS[type(node)]
    fallback = services

    def run(state: dict[str, Any], runtime: Runtime[RunServices]) -> Any:
        services = runtime.context if runtime.context is not None else fallback
        if services is None:
            raise RuntimeError(
                f"node `{name}` ran without services: invoke the graph with "
                "`context=RunServices(...)`"
            )
        visit = state.get(VISITS, {}).get(name, 0)
        attempt = services.recorder.attempt(name, visit)
        started = utcnow()
        record = dict(node=name, kind=node.kind, visit=visit, attempt=attempt, started_at=started)
        if attempt > 1:
            metrics.STEP_RETRIES.labels(node.kind, name).inc()
        status = "error"
        step_attributes = {
            "forgeyard.node": name,
            "forgeyard.node.kind": node.kind,
            "forgeyard.visit": visit,
            "forgeyard.attempt": attempt,
        }
        try:
            with (
                context.bound(node=name, attempt=attempt),
                traces.span(f"step {name}", step_attributes) as span,
            ):
                try:
                    update = _try(
                        services,
                        record,
                        lambda: impl(name, node, state, services, visit, next_node),
                    )
                    status = "ok"
                    return update
                except GraphInterrupt:
                    status = "interrupted"  # waiting for a decision is no error
                    raise
                finally:
                    if span is not None:
                        span.set_attribute("forgeyard.step.status", status)
        finally:
            metrics.STEP_DURATION.labels(node.kind, name, status).observe(
                (utcnow() - started).total_seconds()
            )

    def _try(
        services: RunServices, record: dict[str, Any], attempt_node: Callable[[], NodeResult]
    ) -> Any:
        try:
            result = attempt_node()
        except GraphInterrupt:
            services.recorder.record(
                status=StepStatus.interrupted,
                output={"waiting_for": "approval"},
                **record,  # type: ignore[arg-type]
            )
            raise
        except LeaseLost:
            raise  # this worker may write nothing more, not even the failed try
        except NodeError as exc:
            services.recorder.record(
                status=StepStatus.error,
                error=str(exc),
                call=exc.call,
                input=exc.input,
                output=exc.detail,
                **record,  # type: ignore[arg-type]
            )
            raise
        except Exception as exc:  # noqa: BLE001 - recorded, then re-raised as a NodeError
            message = f"node `{name}` failed: {type(exc).__name__}: {exc}"
            services.recorder.record(status=StepStatus.error, error=message, **record)  # type: ignore[arg-type]
            raise NodeError(message, retryable=True) from exc
        services.recorder.record(
            status=StepStatus.ok,
            input=result.input,
            output=result.output,
            call=result.call,
            **record,  # type: ignore[arg-type]
        )
        log.info("step %s (%s) ok", name, record["kind"])
        update = dict(result.update)
        update[VISITS] = {name: 1}
        if result.goto is not None:
            return Command(goto=result.goto, update=update)
        return update

    run.__name__ = name
    return run


def _llm(
    name: str, node: LLMNode, state: dict[str, Any], services: RunServices, visit: int, _n: Any
) -> NodeResult:
    schema = None
    try:
        if node.output.json_schema is not None:
            schema = resolve_output_schema(
                node.output.json_schema, lambda expr: _enum_values(name, expr, state)
            )
        messages = []
        if node.system:
            messages.append({"role": "system", "content": render(node.system, state)})
        messages.append({"role": "user", "content": render(node.prompt, state)})
    except ExpressionError as exc:
        raise NodeError(f"node `{name}`: {exc}") from None
    options = node.model
    adapter = None if options.model else services.adapter_for(name)

    # The client's default model names the span; a stand-in client (docs/tools.md)
    # need only have `complete`, so it may have no default to name.
    requested = options.model or adapter or getattr(services.model, "model", None) or "default"
    chat = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": requested,
        "gen_ai.request.temperature": options.temperature,
        "gen_ai.request.top_p": options.top_p,
        "gen_ai.request.max_tokens": options.max_tokens,
        "gen_ai.request.seed": options.seed,
        "forgeyard.node": name,
        "forgeyard.adapter": adapter,
    }

    def complete() -> ModelCall:
        with traces.span(f"chat {requested}", chat, client=True) as span:
            try:
                call = services.model.complete(
                    messages,
                    schema=schema,
                    model=options.model or adapter,
                    temperature=options.temperature,
                    top_p=options.top_p,
                    max_tokens=options.max_tokens,
                    seed=options.seed,
                    timeout=node.timeout_seconds,
                )
            except ModelError as exc:
                # An answer that failed its schema still used (and is billed) tokens.
                if span is not None and exc.call is not None:
                    _usage_attributes(span, exc.call)
                raise
            if span is not None:
                _usage_attributes(span, call)
            return call

    if services.answers is not None:
        served = services.answers.llm(name, visit, messages, schema)
        if served is not None:
            return NodeResult(
                update={node.output.into: served.parsed},
                input={"schema": schema} if schema else None,
                output=served.parsed,
                call=served,
            )
    try:
        try:
            call = complete()
        except ModelRequestError as exc:
            # 404: the server no longer holds the adapter (it restarted); load it
            # from the registry and ask once more.
            reload = services.reload_adapter
            if not (adapter and exc.status_code == 404 and reload and reload(adapter)):
                raise
            call = complete()
    except ModelError as exc:
        if exc.call is not None:
            exc.call.adapter = adapter
        # A bad completion may be luck of the draw; an unreachable server was
        # already retried with backoff by the client.
        raise NodeError(
            f"node `{name}`: {exc}",
            retryable=isinstance(exc, ModelOutputError | ModelTimeout),
            call=exc.call,
        ) from None
    call.adapter = adapter
    if schema is None and call.finish_reason == "length" and options.on_truncated == "fail":
        # A structured answer cut short fails its schema already; a text one would
        # pass as a sentence that stops mid-way.
        raise NodeError(
            f"node `{name}`: the answer was cut off at max_tokens ({options.max_tokens}); "
            "raise `model.max_tokens` or set `model.on_truncated: flag`",
            retryable=True,
            call=call,
        )
    return NodeResult(
        update={node.output.into: call.parsed},
        input={"schema": schema} if schema else None,
        output=call.parsed,
        call=call,
    )


def _usage_attributes(span: Any, call: ModelCall) -> None:
    for key, attribute in (
        ("prompt_tokens", "gen_ai.usage.input_tokens"),
        ("completion_tokens", "gen_ai.usage.output_tokens"),
    ):
        if isinstance(call.usage.get(key), int):
            span.set_attribute(attribute, call.usage[key])
    if call.finish_reason:
        span.set_attribute("gen_ai.response.finish_reasons", [call.finish_reason])


def _enum_values(name: str, expr: str, state: dict[str, Any]) -> list[Any]:
    values = evaluate(expr, state)
    if not isinstance(values, list | tuple) or not values:
        raise ExpressionError(
            f"`x-enum-from: {expr}` gave {values!r}; it must be a non-empty list "
            "(route around this node when there is nothing to choose from)"
        )
    return list(values)


def _tool(
    name: str, node: ToolNode, state: dict[str, Any], services: RunServices, visit: int, _n: Any
) -> NodeResult:
    tool = registry.get(node.tool)
    try:
        args = {arg: evaluate(expr, state) for arg, expr in node.args.items()}
    except ExpressionError as exc:
        raise NodeError(f"node `{name}`: {exc}") from None

    def perform() -> Any:
        if node.side_effect:
            response, replayed = services.ledger.call(
                tool,
                run_id=services.run_id,
                node=name,
                call_index=visit,
                args=args,
                sandbox=services.sandbox,
            )
            return response
        return tool(
            ToolContext(run_id=services.run_id, node=name, sandbox=services.sandbox), **args
        )

    call = perform
    if node.side_effect and services.approve_effects:
        # A fork asked for live effects: nothing irreversible without a person's yes.
        answer = interrupt(
            {
                "node": name,
                "message": f"Perform the live side effect `{node.tool}` in a fork of another run?",
            }
        )
        if not answer.get("approved"):
            raise NodeError(
                f"node `{name}`: live side effect `{node.tool}` rejected by {answer.get('by')}"
            )
    if services.answers is not None:
        answers = services.answers

        def call() -> Any:
            return answers.tool(name, visit, args, node.side_effect, perform)

    tool_span = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": node.tool,
        "forgeyard.node": name,
        "forgeyard.side_effect": node.side_effect,
    }
    try:
        with traces.span(f"execute_tool {node.tool}", tool_span):
            response = _with_timeout(call, node.timeout_seconds, name)
        if not node.side_effect:  # the ledger checks its own before committing
            ensure_json(node.tool, response)
    except ToolError as exc:
        raise NodeError(f"node `{name}`: tool `{node.tool}` refused: {exc}", input=args) from None
    except NotJSONError as exc:
        raise NodeError(f"node `{name}`: {exc}", input=args) from None
    except NodeTimeout as exc:
        exc.input = args
        raise
    except (GraphInterrupt, LeaseLost, NodeError):
        raise
    except Exception as exc:  # noqa: BLE001 - the tool's own failure, kept with its frames
        raise NodeError(
            f"node `{name}` failed: {type(exc).__name__}: {exc}",
            retryable=True,
            input=args,
            detail={"exception": type(exc).__name__, "traceback": _tool_traceback(exc, tool)},
        ) from exc
    update = {node.into: response} if node.into else {}
    return NodeResult(update=update, input=args, output=response)


def _tool_traceback(exc: BaseException, tool: Any) -> str:
    """The traceback from the tool's own function down, without the runtime's frames above."""
    frames = traceback.extract_tb(exc.__traceback__)
    code = getattr(tool.fn, "__code__", None)
    start = next(
        (
            i
            for i, frame in enumerate(frames)
            if code is not None
            and frame.filename == code.co_filename
            and frame.name == code.co_name
        ),
        0,
    )
    lines = traceback.format_list(frames[start:])
    return "".join(lines + traceback.format_exception_only(type(exc), exc)).rstrip()


def _route(
    name: str, node: RouteNode, state: dict[str, Any], _s: RunServices, _v: int, _n: Any
) -> NodeResult:
    checked = []
    try:
        for route in node.routes:
            value = bool(evaluate(route.when, state))
            checked.append({"when": route.when, "value": value})
            if value:
                return NodeResult(update={}, goto=route.to, input=checked, output={"to": route.to})
    except ExpressionError as exc:
        raise NodeError(f"node `{name}`: {exc}") from None
    return NodeResult(update={}, goto=node.default, input=checked, output={"to": node.default})


def _approval(
    name: str,
    node: ApprovalNode,
    state: dict[str, Any],
    services: RunServices,
    visit: int,
    next_node: str | None,
) -> NodeResult:
    try:
        required = bool(evaluate(node.when, state))
        message = render(node.message, state) if required else None
    except ExpressionError as exc:
        raise NodeError(f"node `{name}`: {exc}") from None
    recorded = None
    if required and services.answers is not None:
        recorded = services.answers.approval(name, visit, message)
    if not required:
        decision = {"approved": True, "required": False, "by": "policy", "comment": None}
    elif recorded is not None:
        decision = {
            "approved": bool(recorded.get("approved")),
            "required": True,
            "by": recorded.get("by"),
            "comment": recorded.get("comment"),
        }
    else:
        # First pass: interrupt() stops the run here (GraphInterrupt); when the
        # run is resumed with a decision, the node runs again and gets it back.
        answer = interrupt({"node": name, "message": message})
        decision = {
            "approved": bool(answer.get("approved")),
            "required": True,
            "by": answer.get("by"),
            "comment": answer.get("comment"),
        }
    goto = next_node if decision["approved"] else node.on_reject
    return NodeResult(
        update={node.into: decision},
        goto=goto,
        input={"required": required, "message": message},
        output=decision,
    )


def _end(
    name: str, node: EndNode, state: dict[str, Any], _s: RunServices, _v: int, _n: Any
) -> NodeResult:
    try:
        output = {key: evaluate(expr, state) for key, expr in node.output.items()}
    except ExpressionError as exc:
        raise NodeError(f"node `{name}`: {exc}") from None
    output = {"end": name, **output}
    return NodeResult(update={OUTPUT: output}, output=output)


_IMPLEMENTATIONS: dict[type, Callable[..., NodeResult]] = {
    LLMNode: _llm,
    ToolNode: _tool,
    RouteNode: _route,
    ApprovalNode: _approval,
    EndNode: _end,
}


def _with_timeout(fn: Callable[[], Any], seconds: float | None, node: str) -> Any:
    """Run ``fn``; past ``seconds``, give up waiting and fail the try.

    Python cannot stop a thread, so a timed-out call may still finish in the
    background; side-effecting calls stay safe because the retry reuses the
    same idempotency key.
    """
    if seconds is None:
        return fn()
    future: Future[Any] = Future()
    ctx = contextvars.copy_context()

    def target() -> None:
        try:
            future.set_result(ctx.run(fn))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            future.set_exception(exc)

    threading.Thread(target=target, name=f"forgeyard-node-{node}", daemon=True).start()
    try:
        return future.result(timeout=seconds)
    except TimeoutError:
        raise NodeTimeout(f"node `{node}` timed out after {seconds:g} s") from None
