"""Evaluate an expression and learn which fields it read that the example lacks.

A penalty or a ``when`` reading a field the data does not have (a misspelt
key, a column the runs never record) reads ``null`` and quietly never fires.
:func:`evaluate_reading` evaluates as :func:`workflows.expressions.evaluate`
does, over mappings that note every key looked up and not found, so the
workbench can report the rule as inapplicable instead.  Only keys actually
read count: ``a and b.x`` does not read ``b.x`` where ``a`` is false.  Keys
absent from the answer itself (``output``) do not count; items of lists are
not followed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workflows import expressions

__all__ = ["evaluate_reading"]

# A key missing from the answer itself is what the agent produced ("no
# confirmation"), and `when: output.confirmation != null` is meant to read it;
# keys missing from the ground truth and the recorded context are data the
# rule needed and did not get.
_ANSWER_ROOTS = frozenset({"output", "completion"})


class _Reading(dict[str, Any]):
    """A copy of a mapping whose ``get`` (what ``a.b`` calls) records absent keys."""

    def __init__(self, data: Mapping[str, Any], path: str, absent: list[str]) -> None:
        super().__init__(data)
        self._path = path
        self._absent = absent

    def get(self, key: Any, default: Any = None) -> Any:
        path = f"{self._path}.{key}"
        if not dict.__contains__(self, key):
            if path not in self._absent:
                self._absent.append(path)
            return default
        return _wrap(dict.__getitem__(self, key), path, self._absent)


def _wrap(value: Any, path: str, absent: list[str]) -> Any:
    return _Reading(value, path, absent) if isinstance(value, Mapping) else value


def evaluate_reading(source: str, mapping: Mapping[str, Any]) -> tuple[Any, list[str]]:
    """The expression's value and the paths it read that are absent (in reading order).

    Raises:
        workflows.expressions.ExpressionError: as :func:`workflows.expressions.evaluate`.
    """
    absent: list[str] = []
    tracked = {
        name: value if name in _ANSWER_ROOTS else _wrap(value, name, absent)
        for name, value in mapping.items()
    }
    return expressions.evaluate(source, tracked), absent
