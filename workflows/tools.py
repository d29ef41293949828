"""The tool registry: Python functions a workflow's `tool` nodes call by name.

A tool is a plain function registered with :func:`tool`::

    @tool("logistics.quote")
    def quote(request: dict) -> dict: ...

    @tool("logistics.book", side_effect=True)
    def book(request: dict, quote: dict, *, ctx: ToolContext) -> dict: ...

A tool may declare the shape of what it returns, so the loader can check every
``into_field.a.b`` path a spec reads from it (``when: not policy.coverd`` is a
validation error, not a silent wrong turn)::

    class Quotes(TypedDict):            # typing_extensions.TypedDict
        quotes: list[Quote]
        count: int

    @tool("logistics.quote")
    def quote(request: dict) -> Quotes: ...          # from the return annotation

    @tool("x.y", returns={"type": "object", ...})    # or a JSON Schema / pydantic model

A pydantic model a tool returns is stored as its JSON (``model_dump``).

Tool modules are imported from a spec's ``tool_modules`` and, for every spec,
from the entry-point group ``forgeyard.tools`` of installed packages, so a
pip-installed tool package needs no ``PYTHONPATH`` and no setting.

Arguments come from the node's ``args`` mapping (expressions over state).  A
tool that declares a keyword-only ``ctx`` parameter receives a
:class:`ToolContext`.  Side-effecting tools always get one: its
``idempotency_key`` must be passed on to whatever the tool changes, and its
``session`` is the database transaction in which the effect is recorded, so a
tool that writes to Forgeyard's own database is exactly-once for free.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from pydantic import BaseModel, TypeAdapter
from sqlmodel import Session
from typing_extensions import is_typeddict

__all__ = [
    "Tool",
    "ToolContext",
    "ToolError",
    "UnknownToolError",
    "registry",
    "result_schema_of",
    "tool",
]


class ToolError(Exception):
    """A tool refused its input; the message is shown in the run's trace."""


class UnknownToolError(LookupError):
    """No tool is registered under the requested name."""


@dataclass(frozen=True)
class ToolContext:
    """What a running tool may know about the call it serves."""

    run_id: str
    node: str
    idempotency_key: str | None = None
    session: Session | None = None
    sandbox: bool = False


@dataclass(frozen=True)
class Tool:
    name: str
    fn: Callable[..., Any]
    side_effect: bool
    description: str
    wants_ctx: bool = field(default=False)
    #: JSON Schema of the result, when the tool declares one (``returns=`` or
    #: its return annotation); None: undeclared, paths into it are not checked.
    result_schema: dict[str, Any] | None = field(default=None)

    def __call__(self, ctx: ToolContext, /, **kwargs: Any) -> Any:
        result = self.fn(**kwargs, ctx=ctx) if self.wants_ctx else self.fn(**kwargs)
        if isinstance(result, BaseModel):
            # State and the effects ledger hold JSON, not model instances.
            return result.model_dump(mode="json")
        return result

    def result_problems(self, value: Any) -> list[str]:
        """Where ``value`` breaks the declared result schema (empty when none is declared)."""
        if self.result_schema is None:
            return []
        validator = jsonschema.Draft202012Validator(self.result_schema)
        return [
            f"{'/'.join(str(p) for p in err.absolute_path) or '<result>'}: {err.message}"
            for err in validator.iter_errors(value)
        ]

    def _arguments(self) -> list[inspect.Parameter]:
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        params = inspect.signature(self.fn).parameters.values()
        return [p for p in params if p.name != "ctx" and p.kind in named]

    @property
    def parameters(self) -> list[str]:
        """Names of the arguments a node may map (``ctx`` excluded)."""
        return [p.name for p in self._arguments()]

    @property
    def required_parameters(self) -> list[str]:
        """The arguments without a default: a node must map them."""
        return [p.name for p in self._arguments() if p.default is p.empty]


class ToolRegistry:
    """Name → :class:`Tool`.  Modules register on import."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        self._installed: list[str] | None = None

    def register(self, t: Tool) -> None:
        existing = self._tools.get(t.name)
        # Re-importing the same module is harmless; two functions under one
        # name is a mistake that would silently change behaviour.
        if existing is not None and _qualified(existing.fn) != _qualified(t.fn):
            raise ValueError(f"Tool `{t.name}` already registered by {_qualified(existing.fn)}.")
        self._tools[t.name] = t

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(sorted(self._tools)) or "none"
            raise UnknownToolError(f"Unknown tool `{name}` (registered: {known}).") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> list[str]:
        return sorted(self._tools)

    def import_installed(self) -> list[str]:
        """Import the tool modules installed packages name (entry-point group ``forgeyard.tools``).

        Once per process: a package installed later is seen by the next process
        (restart a long-running API or worker).  Returns one message per module
        that failed.
        """
        if self._installed is None:
            self._installed = []
            for ep in sorted(
                importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
            ):
                module = ep.value.split(":", 1)[0].strip()
                self._installed += [
                    f"{msg} (entry point `{ep.name}` of {_distribution(ep)})"
                    for msg in self.import_modules([module])
                ]
        return list(self._installed)

    @staticmethod
    def import_modules(modules: list[str]) -> list[str]:
        """Import tool modules; returns one message per module that failed."""
        problems = []
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001 - reported to the spec author
                problems.append(f"cannot import tool module `{module}`: {exc}")
        return problems


def _distribution(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return f"`{dist.name}`" if dist is not None else "an installed package"


def _qualified(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


#: The entry-point group an installed tool package lists its tool modules under:
#: ``[project.entry-points."forgeyard.tools"] claims = "claims_tools.tools"``.
ENTRY_POINT_GROUP = "forgeyard.tools"

registry = ToolRegistry()


def result_schema_of(returns: Any) -> dict[str, Any] | None:
    """The JSON Schema of a declared result type, or None for an undeclared one.

    ``returns`` may be a JSON Schema (a mapping), a pydantic model class or a
    ``typing_extensions.TypedDict`` (or anything pydantic's ``TypeAdapter``
    describes as an object).  ``dict``, ``Any`` and the like declare nothing.
    """
    if returns is None:
        return None
    if isinstance(returns, Mapping):
        schema = dict(returns)
        jsonschema.Draft202012Validator.check_schema(schema)
        return schema
    if isinstance(returns, type) and issubclass(returns, BaseModel):
        return returns.model_json_schema()
    return TypeAdapter(returns).json_schema()


def _annotated_result(fn: Callable[..., Any]) -> Any:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - an unresolvable annotation declares nothing
        return None
    hint = hints.get("return")
    if isinstance(hint, type) and issubclass(hint, BaseModel):
        return hint
    return hint if is_typeddict(hint) else None


def tool(
    name: str,
    *,
    side_effect: bool = False,
    description: str | None = None,
    returns: Any = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as the tool ``name``.  Returns the function unchanged.

    Args:
        name: The name spec nodes call it by, e.g. ``logistics.quote``.
        side_effect: True for tools that change the world (see the module docstring).
        description: One line for people; default: the docstring's first line.
        returns: The result's type (pydantic model, TypedDict or JSON Schema);
            default: the return annotation when it is a model or TypedDict.
    """

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        wants_ctx = "ctx" in sig.parameters
        if side_effect and not wants_ctx:
            raise TypeError(
                f"Side-effecting tool `{name}` must accept a keyword-only `ctx` parameter "
                "to receive its idempotency key."
            )
        doc = description or (inspect.getdoc(fn) or "").split("\n", 1)[0]
        schema = result_schema_of(returns if returns is not None else _annotated_result(fn))
        registry.register(Tool(name, fn, side_effect, doc, wants_ctx, schema))
        return fn

    return decorate
