"""Compile a workflow spec into a LangGraph ``StateGraph``.

A graph is compiled once per spec hash and process (:func:`compiled_graph`)
and reused by every run of that spec: nodes get their run's services
(:class:`~agents.nodes.RunServices`) from LangGraph's run context
(``graph.invoke(..., context=services)``), not from closures, and the graph's
checkpointer is the process's shared one (:func:`forgeyard.checkpoints.shared_saver`),
which fences each write with the lease in the run's config.  Compiling walks
every node function's bytecode, which cost a fifth of a tool-only run.
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import RetryPolicy

from agents.nodes import OUTPUT, VISITS, NodeError, RunServices, make_node
from forgeyard.checkpoints import shared_saver
from forgeyard.settings import get_settings
from workflows.cache import LRU
from workflows.loader import LoadedSpec
from workflows.spec import ApprovalNode, EndNode, LLMNode, RouteNode, WorkflowSpec

__all__ = ["build_graph", "compile_workflow", "compiled_graph", "initial_state"]


def _add_counts(left: dict[str, int] | None, right: dict[str, int] | None) -> dict[str, int]:
    merged = dict(left or {})
    for key, value in (right or {}).items():
        merged[key] = merged.get(key, 0) + value
    return merged


def _state_schema(spec: WorkflowSpec) -> type:
    fields: dict[str, Any] = {name: Any for name in spec.state}
    fields.update(
        {
            "input": dict[str, Any],
            "config": dict[str, Any],
            OUTPUT: dict[str, Any],
            # How often each node ran: the call index of the effects ledger.
            VISITS: Annotated[dict[str, int], _add_counts],
        }
    )
    return TypedDict(f"{spec.name}_state", fields, total=False)  # type: ignore[operator]


def _retry_policy(node: Any) -> RetryPolicy:
    default_attempts = 3 if isinstance(node, LLMNode) else 1
    policy = node.retry
    return RetryPolicy(
        initial_interval=policy.backoff_seconds if policy else 0.5,
        backoff_factor=policy.backoff_factor if policy else 2.0,
        max_attempts=policy.max_attempts if policy else default_attempts,
        jitter=False,
        retry_on=lambda exc: isinstance(exc, NodeError) and exc.retryable,
    )


def build_graph(
    spec: WorkflowSpec, services: RunServices | None = None
) -> StateGraph[Any, RunServices, Any, Any]:
    """The uncompiled graph of ``spec``.

    Its nodes use the services of the run's context (``invoke(..., context=)``);
    ``services``, when given, serve a run invoked without one (graphs built for
    one use, such as the training environments').
    """
    graph: StateGraph[Any, RunServices, Any, Any] = StateGraph(
        _state_schema(spec), context_schema=RunServices
    )
    next_of = {edge.from_: edge.to for edge in spec.edges}
    for name, node in spec.nodes.items():
        destinations: tuple[str, ...] | None = None
        if isinstance(node, RouteNode):
            destinations = tuple(dict.fromkeys([r.to for r in node.routes] + [node.default]))
        elif isinstance(node, ApprovalNode):
            destinations = (next_of[name], node.on_reject)
        graph.add_node(  # type: ignore[call-overload]  # dynamic state schema
            name,
            make_node(name, node, next_node=next_of.get(name), services=services),
            retry_policy=_retry_policy(node),
            destinations=destinations,
        )
    graph.add_edge(START, spec.start)
    for name, node in spec.nodes.items():
        if isinstance(node, EndNode):
            graph.add_edge(name, END)
        elif not isinstance(node, RouteNode | ApprovalNode):
            # Routes and approvals choose their successor with Command(goto=...).
            graph.add_edge(name, next_of[name])
    return graph


def compile_workflow(
    spec: WorkflowSpec, services: RunServices | None, checkpointer: BaseCheckpointSaver | None
) -> CompiledStateGraph[Any, RunServices, Any, Any]:
    """Compile ``spec`` checkpointing into ``checkpointer`` (``services``: see build_graph)."""
    return build_graph(spec, services).compile(checkpointer=checkpointer, name=spec.name)


_graphs: LRU[str, CompiledStateGraph[Any, RunServices, Any, Any]] = LRU()


def compiled_graph(loaded: LoadedSpec) -> CompiledStateGraph[Any, RunServices, Any, Any]:
    """The process's compiled graph of ``loaded`` (one per spec hash, LRU-bounded).

    Safe to share between threads: a compiled graph holds no run state; each
    run brings its thread id, lease and services in ``invoke``'s config and context.
    """
    _graphs.maxsize = get_settings().graph_cache_size
    graph = _graphs.get(loaded.hash)
    if graph is None:
        # Two threads may compile the same spec at once; either result is the same graph.
        graph = compile_workflow(loaded.spec, None, shared_saver())
        _graphs.put(loaded.hash, graph)
    return graph


def initial_state(
    spec: WorkflowSpec, run_input: dict[str, Any], config: dict[str, Any]
) -> dict[str, Any]:
    """The state a run starts with: input, config, and each field's default (or null)."""
    state: dict[str, Any] = {name: schema.get("default") for name, schema in spec.state.items()}
    state.update({"input": run_input, "config": config, VISITS: {}})
    return state
