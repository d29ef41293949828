"""Labelled datasets as JSONL: one example per line, plus preference lines.

An example line::

    {"id": "ex-1", "group": "task-7", "input": {...}, "prompt": "...",
     "output": {...}, "completion": "...", "state": {...}, "expected": {...},
     "label": 0.8}

Only ``id`` is required; ``label`` is a human score in [0, 1].  A preference
line says which of two examples (of the same task) a person preferred::

    {"chosen": "ex-1", "rejected": "ex-2"}

A line that does not parse is reported with its number and skipped; the rest
is evaluated.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewards.errors import DatasetError
from rewards.example import Example

__all__ = ["Dataset", "LineProblem", "Preference", "read_dataset", "write_dataset"]

_EXAMPLE_FIELDS = {
    "id", "group", "input", "prompt", "output", "completion", "state", "steps", "expected",
    "task", "label", "by", "note",
}  # fmt: skip


@dataclass(frozen=True)
class LineProblem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True)
class Preference:
    """A person preferred ``chosen`` over ``rejected`` (example or run ids)."""

    chosen: str
    rejected: str


@dataclass
class Dataset:
    examples: list[Example] = field(default_factory=list)
    preferences: list[Preference] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)
    source: str = ""

    def by_id(self) -> dict[str, Example]:
        return {ex.id: ex for ex in self.examples}


def read_dataset(path: str | Path) -> Dataset:
    """Read a dataset; bad lines become :class:`LineProblem` entries, not exceptions.

    Raises:
        DatasetError: the file cannot be read at all.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot read dataset {path}: {exc.strerror or exc}") from None
    return parse_dataset(text.splitlines(), source=str(path))


def parse_dataset(lines: Iterable[str], *, source: str = "<dataset>") -> Dataset:
    """Parse JSONL lines (see the module docstring)."""
    ds = Dataset(source=source)
    seen: set[str] = set()
    # Preferences may come before the examples they name: checked at the end.
    pending: list[tuple[int, Preference]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            ds.problems.append(LineProblem(source, number, f"not valid JSON: {exc.msg}"))
            continue
        try:
            if isinstance(raw, dict) and "chosen" in raw:
                pending.append((number, _preference(raw)))
                continue
            example = _example(raw)
        except ValueError as exc:
            ds.problems.append(LineProblem(source, number, str(exc)))
            continue
        if example.id in seen:
            ds.problems.append(LineProblem(source, number, f"duplicate id `{example.id}`"))
            continue
        seen.add(example.id)
        ds.examples.append(example)
    known = {ex.id for ex in ds.examples}
    for number, pref in pending:
        missing = [i for i in (pref.chosen, pref.rejected) if i not in known]
        if missing:
            ds.problems.append(
                LineProblem(source, number, f"preference names unknown example(s) {missing}")
            )
        else:
            ds.preferences.append(pref)
    ds.problems.sort(key=lambda p: p.line)
    return ds


def _preference(raw: dict[str, Any]) -> Preference:
    chosen, rejected = raw.get("chosen"), raw.get("rejected")
    if not isinstance(chosen, str) or not isinstance(rejected, str):
        raise ValueError("a preference needs `chosen` and `rejected` example ids (strings)")
    if chosen == rejected:
        raise ValueError(f"a preference compares `{chosen}` with itself")
    return Preference(chosen, rejected)


def _example(raw: Any) -> Example:
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object (an example or a preference)")
    unknown = set(raw) - _EXAMPLE_FIELDS
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    if not isinstance(raw.get("id"), str | int) or raw.get("id") == "":
        raise ValueError("missing `id`")
    label = raw.get("label")
    if label is not None:
        if (
            isinstance(label, bool)
            or not isinstance(label, int | float)
            or not math.isfinite(label)
        ):
            raise ValueError(f"`label` must be a number in [0, 1], got {label!r}")
        if not 0 <= label <= 1:
            raise ValueError(f"`label` must be in [0, 1], got {label}")
    for name in ("state", "expected", "task"):
        if raw.get(name) is not None and not isinstance(raw[name], dict):
            raise ValueError(f"`{name}` must be an object")
    return Example(
        id=str(raw["id"]),
        output=raw.get("output"),
        state=raw.get("state") or {},
        expected=raw.get("expected"),
        input=raw.get("input"),
        prompt=raw.get("prompt"),
        completion=raw.get("completion"),
        steps=raw.get("steps") or [],
        task=raw.get("task") or {},
        group=None if raw.get("group") is None else str(raw["group"]),
        label=None if label is None else float(label),
    )


def write_dataset(
    path: str | Path, examples: Iterable[Example], preferences: Iterable[Preference] = ()
) -> None:
    """Write examples, then preference lines."""
    with Path(path).open("w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(ex.to_dict(), ensure_ascii=False, default=str) + "\n")
        for pref in preferences:
            f.write(json.dumps({"chosen": pref.chosen, "rejected": pref.rejected}) + "\n")
