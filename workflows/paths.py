"""Check the ``a.b.c`` paths of expressions and templates against declared shapes.

Every name an expression or template reads has a shape: ``input`` the input
schema, a state field its declared schema or, when that says only ``type:
object``, what the nodes writing it declare (an llm node's output schema, a
tool's result type, an approval's decision).  A path that reads a key none of
those shapes has (``policy.coverd`` where the tool declares ``covered``) is a
problem naming the key and the close match; a path below a field whose shape
is not declared is not checked, and the loader warns about it once.

Shapes are JSON Schemas, navigated the way a reader expects: ``properties``
list the keys (an object without ``additionalProperties: true`` has no
others), ``anyOf``/``oneOf`` are alternatives, ``allOf`` and the schema's own
keywords hold together, ``$ref`` points into the schema's ``$defs``, a
``null`` alternative is ignored (a key of ``null`` reads as ``null``).
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes as jn

__all__ = ["PathProblem", "Shape", "expression_problems", "shape_of", "template_problems"]


@dataclass(frozen=True)
class _Ref:
    """One schema and the document its ``$ref``s point into."""

    schema: Any
    root: Any


#: A name's or path's shape: the alternatives it may take, or None for unknown.
Shape = tuple[_Ref, ...] | None


@dataclass(frozen=True)
class PathProblem:
    """A path that reads what its shape does not have; ``text`` is the path as written."""

    text: str
    key: str
    message: str


def shape_of(schema: Any) -> Shape:
    """The shape a JSON Schema declares (None when it says nothing about keys)."""
    if schema is None:
        return None
    shape = (_Ref(schema, schema),)
    return None if _says_nothing(shape) else shape


def _says_nothing(shape: Shape) -> bool:
    if shape is None:
        return True
    probe = _key(shape, "\x00")
    return probe[0] in ("unknown", "none", "null")


def _resolve(ref: _Ref) -> _Ref:
    seen = 0
    while isinstance(ref.schema, dict) and isinstance(ref.schema.get("$ref"), str) and seen < 20:
        pointer = ref.schema["$ref"]
        if not pointer.startswith("#"):
            return _Ref(True, ref.root)  # an external document: unknown
        target: Any = ref.root
        for part in [p for p in pointer[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target = target[part]
            else:
                return _Ref(True, ref.root)
        ref, seen = _Ref(target, ref.root), seen + 1
    return ref


# A key lookup's outcome, strongest first when alternatives are combined.
_Outcome = tuple[str, Any]  # ("found", shapes) ("unknown",) ("missing", keys) ("not_object", type)


def _own(ref: _Ref, key: str) -> _Outcome:
    schema = ref.schema
    if schema is True or schema == {}:
        return ("unknown", None)
    if not isinstance(schema, dict):
        return ("none", None)
    extra = schema.get("additionalProperties")
    if "patternProperties" in schema or extra is True:
        return ("unknown", None)
    if isinstance(schema.get("properties"), dict):
        props = schema["properties"]
        if key in props:
            return ("found", (_Ref(props[key], ref.root),))
        if isinstance(extra, dict):
            return ("found", (_Ref(extra, ref.root),))
        return ("missing", set(props))
    types = schema.get("type")
    types = [types] if isinstance(types, str) else types
    if isinstance(types, list) and "object" not in types:
        others = [t for t in types if t != "null"]
        return ("not_object", others[0]) if others else ("null", None)
    if isinstance(extra, dict):
        return ("found", (_Ref(extra, ref.root),))
    if types is not None or extra is False:
        return ("unknown", None)
    return ("none", None)


def _combine(outcomes: list[_Outcome], order: tuple[str, ...]) -> _Outcome:
    for kind in order:
        hits = [o for o in outcomes if o[0] == kind]
        if not hits:
            continue
        if kind == "found":
            return ("found", tuple(r for o in hits for r in o[1]))
        if kind == "missing":
            return ("missing", set().union(*(o[1] for o in hits)))
        return hits[0]
    return ("none", None)


_ALL_OF = ("found", "unknown", "missing", "not_object", "null", "none")
_ANY_OF = ("unknown", "found", "missing", "not_object", "null", "none")


def _key_of(ref: _Ref, key: str) -> _Outcome:
    ref = _resolve(ref)
    parts = [_own(ref, key)]
    schema = ref.schema
    if isinstance(schema, dict):
        for sub in schema.get("allOf") or []:
            parts.append(_key_of(_Ref(sub, ref.root), key))
        for word in ("anyOf", "oneOf"):
            if schema.get(word):
                branches = [_key_of(_Ref(sub, ref.root), key) for sub in schema[word]]
                parts.append(_combine(branches, _ANY_OF))
    return _combine(parts, _ALL_OF)


def _key(shape: Shape, key: str) -> _Outcome:
    if shape is None:
        return ("unknown", None)
    return _combine([_key_of(ref, key) for ref in shape], _ANY_OF)


def _items(shape: Shape) -> Shape:
    if shape is None:
        return None
    found: list[_Ref] = []
    for ref in shape:
        ref = _resolve(ref)
        schema = ref.schema
        if not isinstance(schema, dict):
            return None
        if isinstance(schema.get("items"), dict):
            found.append(_Ref(schema["items"], ref.root))
            continue
        subs = [*(schema.get("anyOf") or []), *(schema.get("oneOf") or [])]
        subs += schema.get("allOf") or []
        inner = _items(tuple(_Ref(s, ref.root) for s in subs)) if subs else None
        if inner is None:
            return None
        found.extend(inner)
    return tuple(found) or None


class _Reader:
    """Walks one expression or template, reporting each key its shape lacks."""

    def __init__(self, env: dict[str, Shape]) -> None:
        self.env = env
        self.problems: list[PathProblem] = []

    def step(self, base: Shape, key: str, base_text: str, text: str) -> Shape:
        outcome = _key(base, key)
        kind = outcome[0]
        if kind == "found":
            return outcome[1]
        if kind == "missing":
            keys = sorted(outcome[1])
            close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
            hint = f"; did you mean `{base_text}.{close[0]}`?" if close else ""
            self.problems.append(
                PathProblem(
                    text,
                    key,
                    f"`{text}`: `{base_text}` has no key `{key}`{hint} (its keys: {_names(keys)})",
                )
            )
        elif kind == "not_object":
            self.problems.append(
                PathProblem(
                    text, key, f"`{text}`: `{base_text}` is a {outcome[1]}, it has no key `{key}`"
                )
            )
        return None


def _names(keys: Iterable[str]) -> str:
    keys = list(keys)
    return ", ".join(f"`{k}`" for k in keys) if keys else "none"


# -- expressions ------------------------------------------------------------------


class _ExpressionReader(_Reader):
    def shape(self, node: ast.AST, env: dict[str, Shape]) -> Shape:
        if isinstance(node, ast.Name):
            return env.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.shape(node.value, env)
            if base is None:
                return None
            return self.step(base, node.attr, ast.unparse(node.value), ast.unparse(node))
        if isinstance(node, ast.Subscript):
            index = node.slice
            if isinstance(node.value, ast.ListComp) and not isinstance(index, ast.Slice):
                # `[q for q in quotes if ...][0]` is one of the comprehension's elements.
                self.shape(index, env)
                return self.comprehension(node.value, env)
            base = self.shape(node.value, env)
            if isinstance(index, ast.Constant) and isinstance(index.value, str):
                if base is None:
                    return None
                return self.step(base, index.value, ast.unparse(node.value), ast.unparse(node))
            self.shape(index, env)
            return base if isinstance(index, ast.Slice) else _items(base)
        if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            self.comprehension(node, env)
            return None
        if isinstance(node, ast.IfExp):
            self.shape(node.test, env)
            body, orelse = self.shape(node.body, env), self.shape(node.orelse, env)
            return body + orelse if body is not None and orelse is not None else None
        if isinstance(node, ast.Call):
            # A method call (`x.get(...)`) reads no key; its receiver still may.
            func = node.func.value if isinstance(node.func, ast.Attribute) else node.func
            for child in [func, *node.args, *(k.value for k in node.keywords)]:
                self.shape(child, env)
            return None
        for sub in ast.iter_child_nodes(node):
            self.shape(sub, env)
        return None

    def comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp, env: dict
    ) -> Shape:
        """Check a comprehension; the shape of its elements."""
        inner = dict(env)
        for gen in node.generators:
            items = _items(self.shape(gen.iter, inner))
            for target in ast.walk(gen.target):
                if isinstance(target, ast.Name):
                    inner[target.id] = items if isinstance(gen.target, ast.Name) else None
            for cond in gen.ifs:
                self.shape(cond, inner)
        if isinstance(node, ast.DictComp):
            self.shape(node.key, inner)
            self.shape(node.value, inner)
            return None
        return self.shape(node.elt, inner)


def expression_problems(source: str, env: dict[str, Shape]) -> list[PathProblem]:
    """Each path in expression ``source`` that reads a key its declared shape lacks."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return []  # reported by the name check
    reader = _ExpressionReader(env)
    reader.shape(tree.body, env)
    return reader.problems


# -- templates ----------------------------------------------------------------------

_SAME_LIST_FILTERS = {"selectattr", "rejectattr", "sort", "list", "unique", "reverse", "batch"}
_ITEM_FILTERS = {"first", "last", "random", "min", "max"}


class _TemplateReader(_Reader):
    def text(self, node: jn.Node) -> str:
        if isinstance(node, jn.Name):
            return node.name
        if isinstance(node, jn.Getattr):
            return f"{self.text(node.node)}.{node.attr}"
        if isinstance(node, jn.Getitem) and isinstance(node.arg, jn.Const):
            return f"{self.text(node.node)}[{node.arg.value!r}]"
        return "…"

    def shape(self, node: jn.Node, env: dict[str, Shape]) -> Shape:
        if isinstance(node, jn.Name):
            return env.get(node.name)
        if isinstance(node, jn.Getattr):
            base = self.shape(node.node, env)
            if base is None:
                return None
            return self.step(base, node.attr, self.text(node.node), self.text(node))
        if isinstance(node, jn.Getitem):
            base = self.shape(node.node, env)
            if isinstance(node.arg, jn.Const) and isinstance(node.arg.value, str):
                if base is None:
                    return None
                return self.step(base, node.arg.value, self.text(node.node), self.text(node))
            self.shape(node.arg, env)
            return _items(base)
        if isinstance(node, jn.Filter):
            base = self.shape(node.node, env) if node.node is not None else None
            for child in [*node.args, *(k.value for k in node.kwargs)]:
                self.shape(child, env)
            if node.name in _SAME_LIST_FILTERS:
                return base
            if node.name in _ITEM_FILTERS:
                return _items(base)
            return None
        if isinstance(node, jn.For):
            items = _items(self.shape(node.iter, env))
            inner = dict(env)
            for target in _bound(node.target):
                inner[target.name] = items if isinstance(node.target, jn.Name) else None
            inner["loop"] = None
            if node.test is not None:
                self.shape(node.test, inner)
            self.body(node.body, inner)
            self.body(node.else_, env)
            return None
        if isinstance(node, jn.Assign):
            value = self.shape(node.node, env)
            for target in _bound(node.target):
                env[target.name] = value if isinstance(node.target, jn.Name) else None
            return None
        if isinstance(node, jn.Macro | jn.CallBlock):
            return None  # their own parameters: not state
        for sub in node.iter_child_nodes():
            self.shape(sub, env)
        return None

    def body(self, body: list[jn.Node], env: dict[str, Shape]) -> None:
        for child in body:
            self.shape(child, env)


def _bound(target: jn.Node) -> list[jn.Name]:
    """The names a ``for`` or ``set`` target binds (``q``, or ``k, v``)."""
    return [target] if isinstance(target, jn.Name) else list(target.find_all(jn.Name))


def template_problems(tree: jn.Template, env: dict[str, Shape]) -> list[PathProblem]:
    """Each path in a parsed template that reads a key its declared shape lacks."""
    reader = _TemplateReader(env)
    reader.body(tree.body, dict(env))
    return reader.problems
