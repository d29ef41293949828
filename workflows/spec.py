"""The declarative workflow spec: pydantic models, published as JSON Schema.

A spec is a YAML document::

    name: logistics_booking
    version: "1.0"
    input: {JSON Schema of what a run receives}
    state: {field: {JSON Schema of the field}}
    config: {name: default value}          # constants, overridable per run
    tool_modules: [python.module.with.tools]
    start: first_node
    nodes: {name: {kind: llm|tool|route|approval|end, ...}}
    edges: [{from: a, to: b}]

Expressions (``when``, ``args``, ``output``) use a small, safe expression
language (see :mod:`workflows.expressions`); prompts are Jinja2 templates.
Both see the run's state: ``input``, ``config`` and every declared field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

__all__ = [
    "ApprovalNode",
    "Edge",
    "EndNode",
    "LLMNode",
    "LLMOutput",
    "ModelOptions",
    "Node",
    "RetryPolicy",
    "Route",
    "RouteNode",
    "ToolNode",
    "WorkflowSpec",
    "enum_from_expressions",
    "resolve_output_schema",
]

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100)]
Expression = Annotated[
    str,
    Field(
        min_length=1,
        description="An expression over state, e.g. `quote.price_usd > config.limit`.",
    ),
]

# Names every expression and template may use besides the declared fields.
READABLE_BUILTINS = ("input", "config", "visits")
# State keys the runtime itself writes: a declared field may not take them.
RESERVED_STATE_FIELDS = (*READABLE_BUILTINS, "output")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RetryPolicy(_Strict):
    """How often a failing node is tried again before the run fails."""

    max_attempts: int = Field(3, ge=1, le=20, description="Tries in all, the first included.")
    backoff_seconds: float = Field(0.5, ge=0, le=300, description="Wait before the 2nd try.")
    backoff_factor: float = Field(2.0, ge=1, le=10, description="Multiplier for each later wait.")


class _NodeBase(_Strict):
    description: str | None = Field(None, description="What the node does, for people.")
    retry: RetryPolicy | None = Field(
        None, description="Retry policy; default: 3 tries for llm nodes, 1 for the others."
    )
    timeout_seconds: float | None = Field(
        None, gt=0, le=3600, description="A try that runs longer fails (and may be retried)."
    )


class ModelOptions(_Strict):
    """Sampling options passed to the model server for one llm node."""

    temperature: float = Field(0.0, ge=0, le=2)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(256, ge=1, le=32768)
    seed: int | None = Field(None, description="Sampling seed, for reproducible runs.")
    model: str | None = Field(
        None, description="Model name; default: the configured server model (or adapter)."
    )
    on_truncated: Literal["flag", "fail"] = Field(
        "flag",
        description="A text answer cut off by `max_tokens`: `flag` keeps it and marks the "
        "step (`usage.truncated`); `fail` fails the try (retried like a bad answer).",
    )

    @model_serializer(mode="wrap")
    def _omit_new_defaults(self, handler: Any) -> Any:
        # Options added after specs were pinned by hash are left out of the dump
        # while at their default, so an existing spec keeps its content hash.
        data = handler(self)
        if isinstance(data, dict) and data.get("on_truncated") == "flag":
            data.pop("on_truncated")
        return data


class LLMOutput(_Strict):
    """What an llm node produces and where it goes."""

    into: Identifier = Field(description="State field that receives the result.")
    json_schema: dict[str, Any] | None = Field(
        None,
        alias="schema",
        description="JSON Schema the model's output must satisfy (structured output). "
        "`x-enum-from: <expression>` inside it becomes `enum: <value of the expression>` "
        "at run time, e.g. the ids of the quotes that exist. Without a schema the "
        "output is the completion text.",
    )


class LLMNode(_NodeBase):
    """Ask the model. The prompt is a Jinja2 template over state."""

    kind: Literal["llm"]
    system: str | None = Field(None, description="System message template.")
    prompt: str = Field(min_length=1, description="User message template.")
    output: LLMOutput
    model: ModelOptions = Field(default_factory=ModelOptions)


class ToolNode(_NodeBase):
    """Call a registered Python tool."""

    kind: Literal["tool"]
    tool: str = Field(min_length=1, description="Registered tool name, e.g. `logistics.quote`.")
    args: dict[Identifier, Expression] = Field(
        default_factory=dict, description="Tool argument → expression over state."
    )
    into: Identifier | None = Field(None, description="State field that receives the result.")
    side_effect: bool = Field(
        False,
        description="True for tools that change the world; their calls go through the "
        "effects ledger so a retry never repeats them. Must match the tool's registration.",
    )


class Route(_Strict):
    when: Expression
    to: Identifier


class RouteNode(_NodeBase):
    """Choose the next node: the first route whose `when` is true, else `default`."""

    kind: Literal["route"]
    routes: list[Route] = Field(min_length=1)
    default: Identifier


class ApprovalNode(_NodeBase):
    """Wait for a human decision when `when` is true; otherwise approve automatically."""

    kind: Literal["approval"]
    when: Expression = Field(
        "true", description="When a human must decide, e.g. `choice.price_usd > config.limit`."
    )
    message: str = Field(min_length=1, description="Template shown to the approver.")
    into: Identifier = Field(
        description="State field that receives {approved, required, by, comment}."
    )
    on_reject: Identifier = Field(description="Node to go to when the request is rejected.")


class EndNode(_NodeBase):
    """Finish the run; `output` maps output keys to expressions over state."""

    kind: Literal["end"]
    output: dict[str, Expression] = Field(default_factory=dict)


Node = Annotated[
    LLMNode | ToolNode | RouteNode | ApprovalNode | EndNode,
    Field(discriminator="kind"),
]


class Edge(_Strict):
    from_: Identifier = Field(alias="from")
    to: Identifier


class WorkflowSpec(_Strict):
    """A workflow: its input, its state, and a graph of nodes."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"title": "Forgeyard workflow spec"},
    )

    name: Identifier = Field(description="Unique workflow name; runs are started by it.")
    version: str = Field(min_length=1, max_length=100)
    description: str = ""
    input: dict[str, Any] = Field(
        description="JSON Schema of a run's input (an object); available as `input`."
    )
    state: dict[Identifier, dict[str, Any]] = Field(
        default_factory=dict,
        description="State fields and their JSON Schemas. Nodes write them with `into`.",
    )
    config: dict[Identifier, Any] = Field(
        default_factory=dict,
        description="Named constants with defaults (e.g. an approval threshold); "
        "a run may override them. Available as `config`.",
    )
    tool_modules: list[str] = Field(
        default_factory=list,
        description="Python modules imported to register the tools the spec uses.",
    )
    start: Identifier = Field(description="The first node.")
    nodes: dict[Identifier, Node] = Field(min_length=1)
    edges: list[Edge] = Field(
        default_factory=list,
        description="Unconditional edges. Every llm, tool and approval node needs "
        "exactly one outgoing edge (an approval's is the approved path).",
    )


_CONFIG_KINDS: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),  # before int: a bool is an int in Python
    ((int, float), "a number"),
    (str, "a string"),
    (list, "a list"),
    (dict, "an object"),
)


def _config_kind(value: Any) -> str | None:
    for types, kind in _CONFIG_KINDS:
        if isinstance(value, types):
            return kind
    return None


def config_problems(spec: WorkflowSpec, overrides: dict[str, Any]) -> list[tuple[str, str]]:
    """``(key, message)`` for each override that is not a config key or not of its declared type.

    A config value's type is its default's (``approval_threshold_usd: 20000`` is
    a number, so ``"lots"`` is refused before a run is made, not in a node).  A
    default of ``null`` declares no type.
    """
    problems = []
    for key, value in overrides.items():
        if key not in spec.config:
            problems.append((key, "not a config key of this workflow"))
            continue
        expected = _config_kind(spec.config[key])
        if expected is None:
            continue
        if _config_kind(value) != expected:
            problems.append(
                (key, f"must be {expected} like its default {spec.config[key]!r}, got {value!r}")
            )
    return sorted(problems)


def enum_from_expressions(
    schema: Any, path: tuple[Any, ...] = ()
) -> list[tuple[tuple[Any, ...], Any]]:
    """Every ``x-enum-from`` expression in an output schema, with its path."""
    found: list[tuple[tuple[Any, ...], str]] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "x-enum-from":
                found.append((path + (key,), value))
            else:
                found += enum_from_expressions(value, path + (key,))
    elif isinstance(schema, list):
        for i, value in enumerate(schema):
            found += enum_from_expressions(value, path + (i,))
    return found


def resolve_output_schema(schema: Any, resolve: Callable[[str], Any] | None) -> Any:
    """Replace each ``x-enum-from: EXPR`` with ``enum: resolve(EXPR)``.

    With ``resolve=None`` the markers are only removed (to check the schema itself).
    """
    if isinstance(schema, dict):
        out = {
            k: resolve_output_schema(v, resolve) for k, v in schema.items() if k != "x-enum-from"
        }
        if "x-enum-from" in schema and resolve is not None:
            out["enum"] = list(resolve(schema["x-enum-from"]))
        return out
    if isinstance(schema, list):
        return [resolve_output_schema(v, resolve) for v in schema]
    return schema
