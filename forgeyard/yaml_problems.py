"""Line-numbered problems in YAML documents, collected and reported all at once.

Both kinds of spec an author writes — workflows (``workflows/loader.py``) and
reward models (``rewards/loader.py``) — are read the same way: parse with
ruamel (which keeps line numbers), collect every problem found as
``file:line: field: message``, raise one error listing them all.

Errors::

    ProblemsError          one or more SpecProblems (workflows.SpecError,
                           rewards.RewardSpecError derive from it)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

__all__ = [
    "ProblemCollector",
    "ProblemsError",
    "SpecProblem",
    "dotted_path",
    "line_of",
    "line_within",
    "parse_mapping",
    "plain_data",
    "read_source",
]


@dataclass(frozen=True)
class SpecProblem:
    """One problem: where (file, 1-based line, dotted field) and what is wrong."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field or '<spec>'}: {self.message}"


class ProblemsError(ValueError):
    """A document that cannot be used; ``problems`` lists every one found."""

    #: What the document is, for the message head ("3 problems in workflow spec").
    document: ClassVar[str] = "spec"

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in {self.document}"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


def read_source(path: str | Path, error: type[ProblemsError]) -> str:
    """The text at ``path``; an unreadable file is ``error`` naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise error([SpecProblem(str(path), None, "", f"cannot read file: {exc}")]) from None


def parse_mapping(
    source: str, filename: str, error: type[ProblemsError], expected: str
) -> dict[str, Any]:
    """Parse YAML whose top level must be a mapping (``expected`` says of what).

    Raises:
        error: malformed YAML (with its line where the parser gives one), or a
            document that is not a mapping.
    """
    try:
        doc = YAML(typ="rt").load(source)
    except MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise error(
            [SpecProblem(filename, line, "", f"malformed YAML: {exc.problem or exc}")]
        ) from None
    except YAMLError as exc:
        # Errors without a position, e.g. control characters the reader refuses.
        raise error([SpecProblem(filename, None, "", f"malformed YAML: {exc}")]) from None
    if not isinstance(doc, dict):
        raise error([SpecProblem(filename, 1, "", f"expected a mapping with {expected}")])
    return doc


def line_of(doc: Any, path: Sequence[Any]) -> int | None:
    """1-based line of the deepest part of ``path`` present in the YAML document."""
    node, line = doc, getattr(getattr(doc, "lc", None), "line", None)
    for part in path:
        lc = getattr(node, "lc", None)
        if isinstance(node, dict) and part in node:
            if lc is not None:
                line = lc.key(part)[0]
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            if lc is not None:
                line = lc.item(part)[0]
            node = node[part]
        # Parts pydantic adds (a union's tag) have no place in the document: skip.
    return None if line is None else line + 1


def line_within(source: str, line: int, needle: str) -> int:
    """The line of the first ``needle`` in the block that starts at ``line`` (1-based).

    A multi-line value (a prompt, a folded expression, a nested schema) starts
    at its key's line; the problem is where the offending text is.  The block
    is that line and the more-indented (or blank) lines after it; without the
    needle in it, ``line`` stands.
    """
    lines = source.splitlines()
    if not 0 < line <= len(lines):
        return line
    indent = len(lines[line - 1]) - len(lines[line - 1].lstrip())
    for number in range(line, len(lines) + 1):
        text = lines[number - 1]
        if number > line and text.strip() and len(text) - len(text.lstrip()) <= indent:
            break
        if needle in text:
            return number
    return line


def value_at(doc: Any, path: Sequence[Any]) -> Any:
    """The raw YAML value at ``path`` (None where the path leaves the document)."""
    node = doc
    for part in path:
        in_mapping = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_mapping or in_list):
            return None
        node = node[part]
    return node


def dotted_path(path: Iterable[Any]) -> str:
    """``("nodes", "book", "args", 0)`` → ``nodes.book.args[0]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def plain_data(value: Any) -> Any:
    """ruamel's commented containers → plain dicts and lists for pydantic."""
    if isinstance(value, dict):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_data(v) for v in value]
    return value


class ProblemCollector:
    """Collects the problems of one YAML document, each placed at its line.

    Subclasses (the loaders' checkers) call :meth:`add` as they find problems
    and :meth:`add_pydantic` for a model's validation errors; :meth:`raise_if_any`
    reports them all, in document order.
    """

    #: The tagged union's member names, which pydantic puts first in an error's
    #: location but which never appear in the YAML (``kind: llm`` → ``llm``).
    union_kinds: ClassVar[tuple[str, ...]] = ()
    #: What a union member is called in messages ("node", "grader").
    union_member: ClassVar[str] = "item"

    def __init__(self, doc: dict[str, Any], filename: str, source: str | None = None) -> None:
        self.doc = doc
        self.filename = filename
        self.source = source
        self.problems: list[SpecProblem] = []
        self.warnings: list[SpecProblem] = []

    def add(
        self,
        path: Sequence[Any],
        message: str,
        *,
        needle: str | None = None,
        line_path: Sequence[Any] | None = None,
        value_line: int | None = None,
    ) -> None:
        """A problem at ``path``.

        Its line is that of ``line_path`` (a part inside the value, such as a
        schema's bad keyword) when given, refined to the first line holding
        ``needle`` (text inside the value, such as a template's variable), or
        to line ``value_line`` (1-based) of a literal block (``|``) value.
        """
        problem = self._problem(path, message, needle, line_path)
        if value_line is not None and problem.line is not None:
            raw = value_at(self.doc, path)
            if isinstance(raw, LiteralScalarString):
                # A literal block's text starts on the line after its key.
                problem = replace(problem, line=problem.line + value_line)
        self.problems.append(problem)

    def warn(self, path: Sequence[Any], message: str, *, needle: str | None = None) -> None:
        """Something that does not stop the document being used, but may be a mistake."""
        self.warnings.append(self._problem(path, message, needle))

    def _problem(
        self,
        path: Sequence[Any],
        message: str,
        needle: str | None,
        line_path: Sequence[Any] | None = None,
    ) -> SpecProblem:
        line = line_of(self.doc, line_path if line_path is not None else path)
        if needle and line is not None and self.source is not None:
            line = line_within(self.source, line, needle)
        return SpecProblem(self.filename, line, dotted_path(path), message)

    def add_pydantic(self, exc: ValidationError, prefix: tuple[Any, ...] = ()) -> None:
        """Each of pydantic's errors as a problem at its field, in the author's words."""
        kinds = ", ".join(self.union_kinds)
        for err in exc.errors():
            loc = tuple(err["loc"])
            if prefix and loc and loc[0] in self.union_kinds:
                loc = loc[1:]
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                loc += ("kind",)
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            elif err["type"] == "union_tag_invalid":
                msg = f"unknown {self.union_member} kind; expected one of {kinds}"
            elif err["type"] == "union_tag_not_found":
                msg = f"missing `kind`; one of {kinds}"
            elif err["type"] == "missing":
                msg = "missing required field"
            self.add(prefix + loc, msg.removeprefix("Value error, "))

    def raise_if_any(self, error: type[ProblemsError]) -> None:
        """Raise ``error`` with every problem found, sorted by line."""
        if self.problems:
            raise error(sorted(self.problems, key=lambda p: (p.line or 0, p.field)))
