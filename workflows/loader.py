"""Load a workflow spec from YAML and report every problem at once, with line numbers.

Errors::

    SpecError                 one or more problems, each with file, line, field, message
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import TypeAdapter, ValidationError

from forgeyard.yaml_problems import (
    ProblemCollector,
    ProblemsError,
    SpecProblem,
    parse_mapping,
    plain_data,
    read_source,
)
from workflows import expressions, paths
from workflows.spec import (
    READABLE_BUILTINS,
    RESERVED_STATE_FIELDS,
    ApprovalNode,
    EndNode,
    LLMNode,
    Node,
    RouteNode,
    ToolNode,
    WorkflowSpec,
    enum_from_expressions,
    resolve_output_schema,
)
from workflows.tools import registry

__all__ = ["LoadedSpec", "SpecError", "load_spec", "load_spec_text", "spec_hash"]

_node_adapter: TypeAdapter[Any] = TypeAdapter(Node)
_NODE_KINDS = ("llm", "tool", "route", "approval", "end")


class SpecError(ProblemsError):
    """A spec that cannot be used; ``problems`` lists every one found."""

    document = "workflow spec"


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec with the exact source it came from and its content hash.

    ``warnings`` are what the loader could not check (paths below a state field
    whose shape nothing declares); they do not stop the spec being used.
    """

    spec: WorkflowSpec
    source: str
    hash: str
    path: str | None = None
    warnings: tuple[SpecProblem, ...] = ()


def spec_hash(spec: WorkflowSpec) -> str:
    """Content hash of a spec: stable across formatting and comment changes."""
    canonical = json.dumps(spec.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_spec(path: str | Path) -> LoadedSpec:
    """Read and validate the spec at ``path``."""
    return load_spec_text(read_source(path, SpecError), filename=str(path))


def load_spec_text(source: str, *, filename: str = "<spec>") -> LoadedSpec:
    """Validate spec YAML text; raises :class:`SpecError` listing every problem."""
    doc = parse_mapping(source, filename, SpecError, "name, version, nodes, …")
    checker = _Checker(doc, filename, source)
    spec = checker.check()
    checker.raise_if_any(SpecError)
    assert spec is not None
    warnings = tuple(sorted(checker.warnings, key=lambda p: (p.line or 0, p.field)))
    return LoadedSpec(
        spec=spec, source=source, hash=spec_hash(spec), path=filename, warnings=warnings
    )


class _Checker(ProblemCollector):
    """Collects structural and semantic problems of one spec document."""

    union_kinds = _NODE_KINDS
    union_member = "node"

    # -- structure ---------------------------------------------------------
    def check(self) -> WorkflowSpec | None:
        raw_nodes = self.doc.get("nodes")
        nodes: dict[str, Any] = {}
        broken: set[str] = set()
        if isinstance(raw_nodes, dict):
            for name, raw in raw_nodes.items():
                try:
                    nodes[str(name)] = _node_adapter.validate_python(plain_data(raw))
                except ValidationError as exc:
                    broken.add(str(name))
                    self.add_pydantic(exc, prefix=("nodes", name))
        top = {k: plain_data(v) for k, v in self.doc.items() if k != "nodes"}
        # Validate the rest with a stand-in node so node errors are not reported twice.
        top["nodes"] = {"_": {"kind": "end"}}
        try:
            shell = WorkflowSpec.model_validate(top)
        except ValidationError as exc:
            self.add_pydantic(exc)
            return None
        if raw_nodes is None:
            self.add(("nodes",), "missing: a mapping of node name → node")
            return None
        if not isinstance(raw_nodes, dict):
            self.add(("nodes",), "expected a mapping of node name → node")
            return None
        for name in nodes:
            if not _is_identifier(name):
                self.add(("nodes", name), "node names must be identifiers (letters, digits, _)")
        spec = shell.model_copy(update={"nodes": nodes})
        self._semantics(spec, broken)
        return spec

    # -- meaning -----------------------------------------------------------
    def _semantics(self, spec: WorkflowSpec, broken: set[str]) -> None:
        known = set(spec.nodes) | broken
        fields = set(spec.state) | set(READABLE_BUILTINS)
        for reserved in RESERVED_STATE_FIELDS:
            if reserved in spec.state:
                self.add(
                    ("state", reserved),
                    f"`{reserved}` is reserved (the runtime writes it); choose another name",
                )

        self._check_schema(("input",), spec.input, must_be_object=True)
        for field_name, schema in spec.state.items():
            self._check_schema(("state", field_name), schema)

        if spec.start not in known:
            self.add(("start",), f"unknown node `{spec.start}`; nodes: {_list(spec.nodes)}")

        tool_problems = registry.import_modules(spec.tool_modules)
        for msg in tool_problems:
            self.add(("tool_modules",), msg)
        # An installed package that fails to import breaks only the specs using it.
        for msg in registry.import_installed():
            self.warn(("tool_modules",), msg)

        successors: dict[str, list[str]] = {name: [] for name in known}
        outgoing: dict[str, int] = {name: 0 for name in spec.nodes}
        for i, edge in enumerate(spec.edges):
            for end, target in (("from", edge.from_), ("to", edge.to)):
                if target not in known:
                    self.add(("edges", i, end), f"unknown node `{target}`")
            if edge.from_ in spec.nodes:
                if isinstance(spec.nodes[edge.from_], RouteNode | EndNode):
                    kind = spec.nodes[edge.from_].kind
                    why = (
                        "its routes choose the next node" if kind == "route" else "it ends the run"
                    )
                    self.add(("edges", i, "from"), f"`{edge.from_}` is a {kind} node: {why}")
                outgoing[edge.from_] += 1
            if edge.from_ in known and edge.to in known:
                successors[edge.from_].append(edge.to)

        for name, node in spec.nodes.items():
            path = ("nodes", name)
            if isinstance(node, LLMNode | ToolNode | ApprovalNode) and outgoing[name] != 1:
                self.add(
                    path,
                    f"needs exactly one outgoing edge, has {outgoing[name]} "
                    f"(add `- {{from: {name}, to: <next node>}}` under edges)",
                )
            for target_path, target in _targets(node):
                if target not in known:
                    self.add(path + target_path, f"unknown node `{target}`")
                else:
                    successors[name].append(target)
            self._check_node(spec, name, node, fields, tool_problems=bool(tool_problems))

        self._check_paths(spec)

        if spec.start in known:
            self._check_reachability(spec, successors, known, broken)

    def _check_node(
        self, spec: WorkflowSpec, name: str, node: Any, fields: set[str], *, tool_problems: bool
    ) -> None:
        path: tuple[Any, ...] = ("nodes", name)
        exprs: list[tuple[tuple[Any, ...], str]] = []
        templates: list[tuple[tuple[Any, ...], str]] = []
        into: tuple[tuple[Any, ...], str | None] = (path + ("into",), None)
        if isinstance(node, LLMNode):
            templates.append((path + ("prompt",), node.prompt))
            if node.system:
                templates.append((path + ("system",), node.system))
            into = (path + ("output", "into"), node.output.into)
            if node.output.json_schema is not None:
                schema_path = path + ("output", "schema")
                for sub_path, expr in enum_from_expressions(node.output.json_schema):
                    if isinstance(expr, str):
                        exprs.append((schema_path + sub_path, expr))
                    else:
                        self.add(
                            schema_path + sub_path,
                            "`x-enum-from` takes an expression (a string) that gives a list",
                        )
                self._check_schema(
                    schema_path, resolve_output_schema(node.output.json_schema, None)
                )
        elif isinstance(node, ToolNode):
            for arg, expr in node.args.items():
                exprs.append((path + ("args", arg), expr))
            into = (path + ("into",), node.into)
            self._check_tool(path, node, tool_problems)
        elif isinstance(node, RouteNode):
            for i, route in enumerate(node.routes):
                exprs.append((path + ("routes", i, "when"), route.when))
        elif isinstance(node, ApprovalNode):
            exprs.append((path + ("when",), node.when))
            templates.append((path + ("message",), node.message))
            into = (path + ("into",), node.into)
        elif isinstance(node, EndNode):
            for key, expr in node.output.items():
                exprs.append((path + ("output", key), expr))

        into_path, into_field = into
        if into_field is not None and into_field not in spec.state:
            self.add(
                into_path,
                f"state field `{into_field}` is not declared; add it under `state:` "
                f"(declared: {_list(spec.state)})",
            )
        for expr_path, expr in exprs:
            try:
                names = expressions.expression_names(expr)
            except expressions.ExpressionError as exc:
                self.add(expr_path, str(exc))
                continue
            self._check_names(expr_path, names, fields, spec, expr)
        for tpl_path, tpl in templates:
            try:
                names = expressions.template_names(tpl)
            except expressions.ExpressionError as exc:
                at = re.search(r"\(line (\d+)\)", str(exc))
                self.add(tpl_path, str(exc), value_line=int(at.group(1)) if at else None)
                continue
            self._check_names(tpl_path, names, fields, spec, None)
            for key in sorted(set(re.findall(r"\bconfig\.(\w+)", tpl)) - set(spec.config)):
                self.add(tpl_path, f"`config.{key}` is not declared under `config:`")

    def _check_names(
        self,
        path: tuple[Any, ...],
        names: set[str],
        fields: set[str],
        spec: WorkflowSpec,
        expr: str | None,
    ) -> None:
        for missing in sorted(names - fields):
            self.add(
                path,
                f"`{missing}` is not in state; available: {_list(sorted(fields))}",
                needle=missing,
            )
        if expr is not None and "config" in names:
            for key in sorted(_config_keys(expr) - set(spec.config)):
                self.add(path, f"`config.{key}` is not declared under `config:`", needle=f".{key}")

    # -- paths into declared shapes ------------------------------------------
    def _check_paths(self, spec: WorkflowSpec) -> None:
        """Every ``a.b.c`` path read against the shapes the spec and its tools declare."""
        env, unknown = _shapes(spec)
        warned: set[str] = set()
        for path, text, is_template in _readers(spec):
            try:
                if is_template:
                    found = paths.template_problems(expressions.parse_template(text), env)
                else:
                    found = paths.expression_problems(text, env)
            except expressions.ExpressionError:
                continue  # reported by the name check
            for problem in found:
                self.add(path, problem.message, needle=problem.text)
            for name, why in unknown.items():
                match = re.search(rf"(?<![\w.]){name}\s*(\.\w+|\[)", text)
                if name not in warned and match:
                    warned.add(name)
                    self.warn(
                        path,
                        f"`{name}{match.group(1)}` is not checked: {why} (declare it to have "
                        "its paths checked, see docs/workflow-spec.md#typed-state)",
                        needle=match.group(0),
                    )

    def _check_tool(self, path: tuple[Any, ...], node: ToolNode, tool_problems: bool) -> None:
        if node.tool not in registry:
            hint = " (a tool module failed to import, see above)" if tool_problems else ""
            self.add(
                path + ("tool",),
                f"unknown tool `{node.tool}`{hint}; registered: {_list(registry.names())}",
            )
            return
        tool = registry.get(node.tool)
        if tool.side_effect != node.side_effect:
            self.add(
                path + ("side_effect",),
                f"tool `{node.tool}` is registered with side_effect: "
                f"{str(tool.side_effect).lower()}; the spec must say the same",
            )
        for arg in sorted(set(node.args) - set(tool.parameters)):
            self.add(
                path + ("args", arg),
                f"tool `{node.tool}` has no argument `{arg}`; it takes {_list(tool.parameters)}",
            )
        for arg in sorted(set(tool.required_parameters) - set(node.args)):
            self.add(path + ("args",), f"missing argument `{arg}` of tool `{node.tool}`")

    def _check_schema(
        self, path: tuple[Any, ...], schema: Any, *, must_be_object: bool = False
    ) -> None:
        if not isinstance(schema, dict):
            self.add(path, "expected a JSON Schema (a mapping)")
            return
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(p) for p in exc.path)
            # At the offending keyword's own line, not the schema's first.
            self.add(
                path,
                f"invalid JSON Schema{f' at {where}' if where else ''}: {exc.message}",
                line_path=path + tuple(exc.path),
            )
            return
        if must_be_object and schema.get("type") != "object":
            self.add(path, "the input schema must have `type: object`")

    def _check_reachability(
        self,
        spec: WorkflowSpec,
        successors: dict[str, list[str]],
        known: set[str],
        broken: set[str],
    ) -> None:
        reachable = _walk(spec.start, successors)
        for name in spec.nodes:
            if name not in reachable:
                self.add(("nodes", name), f"unreachable from start node `{spec.start}`")
        # A node from which no end node can be reached loops forever.
        ends = {n for n, node in spec.nodes.items() if isinstance(node, EndNode)} | broken
        predecessors: dict[str, list[str]] = {n: [] for n in known}
        for src, targets in successors.items():
            for dst in targets:
                predecessors.setdefault(dst, []).append(src)
        can_finish: set[str] = set()
        for end in ends:
            can_finish |= _walk(end, predecessors)
        if not ends:
            self.add(("nodes",), "no `end` node: a run could never finish")
            return
        for name in spec.nodes:
            if name in reachable and name not in can_finish:
                self.add(
                    ("nodes", name),
                    "no path from here to an end node (a cycle with no exit?)",
                )


# What an approval node writes into its `into` field.
APPROVAL_DECISION = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean"},
        "required": {"type": "boolean"},
        "by": {"type": ["string", "null"]},
        "comment": {"type": ["string", "null"]},
    },
}


def _shapes(spec: WorkflowSpec) -> tuple[dict[str, paths.Shape], dict[str, str]]:
    """The shape of every readable name, and why each unknown one is unknown.

    A state field's own schema wins when it says something about keys (it has
    ``properties``, or is a string); a bare ``type: object`` takes the shapes
    of the nodes that write it, unknown if any of them declares none.
    """
    env: dict[str, paths.Shape] = {"input": paths.shape_of(spec.input)}
    writers: dict[str, list[tuple[paths.Shape, str]]] = {}
    for name, node in spec.nodes.items():
        if isinstance(node, LLMNode):
            schema = node.output.json_schema
            shape = paths.shape_of(
                resolve_output_schema(schema, None) if schema is not None else {"type": "string"}
            )
            writers.setdefault(node.output.into, []).append(
                (shape, f"llm node `{name}`'s output schema lists no properties")
            )
        elif isinstance(node, ToolNode) and node.into:
            result = registry.get(node.tool).result_schema if node.tool in registry else None
            writers.setdefault(node.into, []).append(
                (paths.shape_of(result), f"tool `{node.tool}` declares no result type")
            )
        elif isinstance(node, ApprovalNode):
            writers.setdefault(node.into, []).append((paths.shape_of(APPROVAL_DECISION), ""))
    unknown: dict[str, str] = {}
    for field_name, schema in spec.state.items():
        declared = paths.shape_of(schema)
        if declared is not None:
            env[field_name] = declared
            continue
        written = writers.get(field_name, [])
        if written and all(shape is not None for shape, _ in written):
            env[field_name] = tuple(r for shape, _ in written for r in shape or ())
        else:
            env[field_name] = None
            reasons = sorted({why for shape, why in written if shape is None})
            unknown[field_name] = "; ".join(reasons) or (
                f"state field `{field_name}` declares no properties"
            )
    return env, unknown


def _readers(spec: WorkflowSpec) -> list[tuple[tuple[Any, ...], str, bool]]:
    """``(path, text, is_template)`` of every expression and template in the spec."""
    out: list[tuple[tuple[Any, ...], str, bool]] = []
    for name, node in spec.nodes.items():
        path: tuple[Any, ...] = ("nodes", name)
        if isinstance(node, LLMNode):
            out.append((path + ("prompt",), node.prompt, True))
            if node.system:
                out.append((path + ("system",), node.system, True))
            if node.output.json_schema is not None:
                for sub, expr in enum_from_expressions(node.output.json_schema):
                    if isinstance(expr, str):
                        out.append((path + ("output", "schema") + sub, expr, False))
        elif isinstance(node, ToolNode):
            out += [(path + ("args", arg), expr, False) for arg, expr in node.args.items()]
        elif isinstance(node, RouteNode):
            out += [
                (path + ("routes", i, "when"), r.when, False) for i, r in enumerate(node.routes)
            ]
        elif isinstance(node, ApprovalNode):
            out.append((path + ("when",), node.when, False))
            out.append((path + ("message",), node.message, True))
        elif isinstance(node, EndNode):
            out += [(path + ("output", key), expr, False) for key, expr in node.output.items()]
    return out


def _targets(node: Any) -> list[tuple[tuple[Any, ...], str]]:
    if isinstance(node, RouteNode):
        out = [(("routes", i, "to"), r.to) for i, r in enumerate(node.routes)]
        return out + [(("default",), node.default)]
    if isinstance(node, ApprovalNode):
        return [(("on_reject",), node.on_reject)]
    return []


def _walk(start: str, graph: dict[str, list[str]]) -> set[str]:
    seen, queue = {start}, deque([start])
    while queue:
        for nxt in graph.get(queue.popleft(), []):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _config_keys(expr: str) -> set[str]:
    tree = ast.parse(expr.strip(), mode="eval")
    return {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "config"
    }


def _is_identifier(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) is not None


def _list(names: Iterable[str]) -> str:
    names = list(names)
    return ", ".join(f"`{n}`" for n in names) if names else "none"
