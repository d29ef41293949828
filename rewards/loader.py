"""Load a reward-model spec from YAML, reporting every problem with its line.

Problems are :class:`~forgeyard.yaml_problems.SpecProblem` (file, line,
field, message), collected the way the workflow loader collects them, so
partners read one style of error across both kinds of spec.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import TypeAdapter, ValidationError

from forgeyard.yaml_problems import ProblemCollector, parse_mapping, plain_data, read_source
from rewards.errors import RewardSpecError
from rewards.paths import ROOTS, check_path
from rewards.spec import GRADER_KINDS, GraderSpec, RewardSpec
from workflows import expressions

__all__ = ["LoadedRewardSpec", "load_reward_spec", "load_reward_spec_text", "resolve_function"]

_grader_adapter: TypeAdapter[Any] = TypeAdapter(GraderSpec)


@dataclass(frozen=True)
class LoadedRewardSpec:
    """A validated reward spec, its exact source and its content hash (the version id)."""

    spec: RewardSpec
    source: str
    hash: str
    path: str | None = None

    @property
    def base_dir(self) -> Path:
        """Where relative paths in the spec (a learned model) are resolved."""
        return Path(self.path).parent if self.path else Path.cwd()


def content_hash(spec: RewardSpec) -> str:
    """Hash of the spec's meaning: stable across comments and formatting."""
    canonical = json.dumps(spec.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_reward_spec(path: str | Path) -> LoadedRewardSpec:
    """Read and validate the reward spec at ``path``.

    Raises:
        RewardSpecError: listing every problem found, each with its line.
    """
    return load_reward_spec_text(read_source(path, RewardSpecError), filename=str(path))


def load_reward_spec_text(source: str, *, filename: str = "<reward spec>") -> LoadedRewardSpec:
    """Validate reward-spec YAML text; raises :class:`RewardSpecError` listing every problem."""
    doc = parse_mapping(source, filename, RewardSpecError, "name, workflow, graders, …")
    checker = _Checker(doc, filename)
    spec = checker.check()
    checker.raise_if_any(RewardSpecError)
    if spec is None:
        raise RewardSpecError([])
    return LoadedRewardSpec(spec=spec, source=source, hash=content_hash(spec), path=filename)


def resolve_function(dotted: str) -> Any:
    """The callable named ``package.module:function`` or ``package.module.function``.

    Raises:
        ImportError: the module cannot be imported or has no such attribute.
        TypeError: the attribute is not callable.
    """
    module_name, sep, attr = dotted.partition(":")
    if not sep:
        module_name, _, attr = dotted.rpartition(".")
    if not module_name or not attr:
        raise ImportError(f"`{dotted}` is not `package.module:function`")
    module = importlib.import_module(module_name)
    fn = module
    for part in attr.split("."):
        if not hasattr(fn, part):
            raise ImportError(f"module `{module_name}` has no attribute `{attr}`")
        fn = getattr(fn, part)
    if not callable(fn):
        raise TypeError(f"`{dotted}` is not callable")
    return fn


class _Checker(ProblemCollector):
    """Collects structural and semantic problems of one reward-spec document."""

    union_kinds = GRADER_KINDS
    union_member = "grader"

    def check(self) -> RewardSpec | None:
        raw = self.doc.get("graders")
        graders: list[Any] = []
        if isinstance(raw, list):
            for i, item in enumerate(raw):
                try:
                    graders.append(_grader_adapter.validate_python(plain_data(item)))
                except ValidationError as exc:
                    self.add_pydantic(exc, ("graders", i))
        top = {k: plain_data(v) for k, v in self.doc.items() if k != "graders"}
        # A stand-in grader keeps grader problems from being reported twice.
        top["graders"] = [{"kind": "constraint", "name": "_", "expr": "true"}]
        try:
            shell = RewardSpec.model_validate(top)
        except ValidationError as exc:
            self.add_pydantic(exc)
            shell = None
        if raw is None:
            self.add(("graders",), "missing: a list of graders")
            return None
        if not isinstance(raw, list) or not raw:
            self.add(("graders",), "expected a non-empty list of graders")
            return None
        self._semantics(graders, raw)
        if shell is None or len(graders) != len(raw):
            return None
        return shell.model_copy(update={"graders": graders})

    def _semantics(self, graders: list[Any], raw: list[Any]) -> None:
        seen: set[str] = set()
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                continue
            where: tuple[Any, ...] = ("graders", i)
            name = item.get("name")
            if isinstance(name, str):
                if name in seen:
                    self.add((*where, "name"), f"duplicate grader name `{name}`")
                seen.add(name)
            for key in ("path", "expected"):
                if isinstance(item.get(key), str):
                    self._path(item[key], (*where, key))
            for key in ("when", "expr"):
                if isinstance(item.get(key), str):
                    self._expression(item[key], (*where, key))
            kind = item.get("kind")
            if kind == "python" and isinstance(item.get("function"), str):
                try:
                    resolve_function(item["function"])
                except (ImportError, TypeError) as exc:
                    self.add((*where, "function"), f"cannot import: {exc}")
            elif kind == "string_check" and item.get("op") == "regex":
                if isinstance(item.get("value"), str):
                    try:
                        re.compile(item["value"])
                    except re.error as exc:
                        self.add((*where, "value"), f"invalid regular expression: {exc}")
            elif kind == "json_schema" and isinstance(item.get("schema"), dict):
                try:
                    jsonschema.Draft202012Validator.check_schema(plain_data(item["schema"]))
                except jsonschema.SchemaError as exc:
                    self.add((*where, "schema"), f"invalid JSON Schema: {exc.message}")
            for key in ("rubric", "text"):
                if kind in ("llm_judge", "learned") and isinstance(item.get(key), str):
                    self._template(item[key], (*where, key))
        probes = self.doc.get("probes")
        if isinstance(probes, dict):
            for key in ("text_paths", "value_paths"):
                if isinstance(probes.get(key), list):
                    for i, path in enumerate(probes[key]):
                        if isinstance(path, str):
                            self._path(path, ("probes", key, i))
        penalties = self.doc.get("penalties")
        if isinstance(penalties, list):
            for i, item in enumerate(penalties):
                if isinstance(item, dict) and isinstance(item.get("when"), str):
                    self._expression(item["when"], ("penalties", i, "when"))

    def _path(self, path: str, where: tuple[Any, ...]) -> None:
        problem = check_path(path)
        if problem:
            self.add(where, problem)

    def _expression(self, expr: str, where: tuple[Any, ...]) -> None:
        try:
            names = expressions.expression_names(expr)
        except expressions.ExpressionError as exc:
            self.add(where, str(exc))
            return
        unknown = names - set(ROOTS)
        if unknown:
            self.add(
                where,
                f"unknown name(s) {', '.join(sorted(unknown))}; expressions read "
                + ", ".join(ROOTS),
            )

    def _template(self, source: str, where: tuple[Any, ...]) -> None:
        try:
            names = expressions.template_names(source)
        except expressions.ExpressionError as exc:
            self.add(where, str(exc))
            return
        unknown = names - set(ROOTS)
        if unknown:
            self.add(where, f"unknown name(s) {', '.join(sorted(unknown))} in template")
