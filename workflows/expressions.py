"""The safe expression language of specs, and the prompt templates.

Expressions are a Python-like subset evaluated by ``simpleeval`` (never
``eval``): literals, ``and/or/not``, comparisons, arithmetic, ``x if c else y``,
list/dict literals and comprehensions, indexing, and these functions:
``len min max sum abs round any all sorted int float str bool``.
``a.b`` reads key ``b`` of mapping ``a`` (a missing key reads as ``null``);
``true``, ``false`` and ``null`` are spelled as in YAML or as in Python.

Templates are Jinja2, rendered in a sandbox with strict undefined variables.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
import jinja2.nodes
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from simpleeval import EvalWithCompoundTypes, FeatureNotAvailable, InvalidExpression

__all__ = [
    "ExpressionError",
    "evaluate",
    "expression_names",
    "parse_template",
    "render",
    "template_names",
]

FUNCTIONS: dict[str, Any] = {
    "len": len,
    "min": min,
    "max": max,
    "sum": sum,
    "abs": abs,
    "round": round,
    "any": any,
    "all": all,
    "sorted": sorted,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
}
CONSTANTS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}


class ExpressionError(ValueError):
    """An expression or template that cannot be parsed or evaluated."""


class _Evaluator(EvalWithCompoundTypes):
    """simpleeval with mapping-first attribute access.

    State values are plain dicts; ``quote.items`` must mean the key ``items``,
    not the ``dict.items`` method, so mappings are read by key before any
    attribute lookup.
    """

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        if node.attr.startswith("_"):
            raise FeatureNotAvailable(f"access to `{node.attr}` is not allowed")
        value = self._eval(node.value)
        if isinstance(value, Mapping):
            return value.get(node.attr)
        if value is None:
            return None
        return super()._eval_attribute(node)


_local = threading.local()


def _evaluator() -> _Evaluator:
    # Building an evaluator costs far more than most evaluations: keep one per
    # thread and only swap its names.
    evaluator = getattr(_local, "evaluator", None)
    if evaluator is None:
        # simpleeval adds its compound-type constructors to the dict it is given.
        evaluator = _local.evaluator = _Evaluator(functions=dict(FUNCTIONS), names={})
    return evaluator


@lru_cache(maxsize=4096)
def _parse(source: str) -> ast.Expression:
    try:
        return ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid expression `{source}`: {exc.msg}") from None


def expression_names(source: str) -> set[str]:
    """Free variable names an expression reads (function names and constants excluded)."""
    tree = _parse(source)
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            for target in ast.walk(node.target):
                if isinstance(target, ast.Name):
                    bound.add(target.id)
    called = {
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    }
    unknown_calls = called - FUNCTIONS.keys()
    if unknown_calls:
        raise ExpressionError(
            f"unknown function(s) {', '.join(sorted(unknown_calls))} in `{source}`; "
            f"available: {', '.join(FUNCTIONS)}"
        )
    names = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }
    return names - bound - called - CONSTANTS.keys()


def evaluate(source: str, state: Mapping[str, Any]) -> Any:
    """Evaluate ``source`` against ``state``; errors become :class:`ExpressionError`."""
    names = dict(CONSTANTS)
    names.update(state)
    evaluator = _evaluator()
    evaluator.names = names
    try:
        return evaluator.eval(source.strip(), previously_parsed=_parse(source).body)
    except ExpressionError:
        raise
    except (InvalidExpression, FeatureNotAvailable) as exc:
        raise ExpressionError(f"cannot evaluate `{source}`: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - any runtime error is the expression's
        raise ExpressionError(f"cannot evaluate `{source}`: {type(exc).__name__}: {exc}") from None


_env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)


@lru_cache(maxsize=1024)
def _template(source: str) -> jinja2.Template:
    try:
        return _env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ExpressionError(f"invalid template (line {exc.lineno}): {exc.message}") from None


def template_names(source: str) -> set[str]:
    """Variables a template reads from its context."""
    try:
        return set(meta.find_undeclared_variables(_env.parse(source)))
    except jinja2.TemplateSyntaxError as exc:
        raise ExpressionError(f"invalid template (line {exc.lineno}): {exc.message}") from None


def parse_template(source: str) -> jinja2.nodes.Template:
    """A template's syntax tree (for checks that walk it)."""
    try:
        return _env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise ExpressionError(f"invalid template (line {exc.lineno}): {exc.message}") from None


def render(source: str, state: Mapping[str, Any]) -> str:
    """Render a template over ``state``."""
    try:
        return _template(source).render(**state)
    except jinja2.TemplateError as exc:
        raise ExpressionError(f"cannot render template: {exc}") from None
