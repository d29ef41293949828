"""Paths into an example: ``output.quote_id``, ``state.validation.request.origin``, ``steps[0]``.

A path starts at one of :data:`ROOTS` and walks mapping keys (``.key``) and
list indices (``[0]``).  A missing key or index reads as ``None``: "the agent
did not produce it" is an answer a grader must handle, not a crash.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["ROOTS", "check_path", "parse_path", "resolve"]

# What every grader can read; `task` holds the extra columns of a TRL batch.
ROOTS = ("output", "state", "expected", "input", "prompt", "completion", "steps", "task")

_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(-?\d+)\]")
_ROOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_cache: dict[str, tuple[str | int, ...]] = {}


def parse_path(path: str) -> tuple[str | int, ...]:
    """Split ``path`` into its parts; raises ``ValueError`` naming what is wrong."""
    cached = _cache.get(path)
    if cached is not None:
        return cached
    m = _ROOT.match(path)
    if not m:
        raise ValueError(f"`{path}` is not a path: expected e.g. `output.quote_id`")
    if m.group() not in ROOTS:
        raise ValueError(
            f"`{path}` starts at `{m.group()}`; a path starts at one of " + ", ".join(ROOTS)
        )
    parts: list[str | int] = [m.group()]
    pos = m.end()
    while pos < len(path):
        pm = _PART.match(path, pos)
        if not pm:
            raise ValueError(
                f"`{path}` is not a path: cannot read `{path[pos:]}`; use `.key` and `[index]`"
            )
        parts.append(pm.group(1) if pm.group(1) is not None else int(pm.group(2)))
        pos = pm.end()
    out = tuple(parts)
    _cache[path] = out
    return out


def check_path(path: str) -> str | None:
    """The problem with ``path``, or ``None`` when it is well formed."""
    try:
        parse_path(path)
    except ValueError as exc:
        return str(exc)
    return None


def resolve(mapping: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` in ``mapping`` (``None`` where any part is missing)."""
    value: Any = mapping
    for part in parse_path(path):
        if isinstance(part, int):
            if isinstance(value, list | tuple) and -len(value) <= part < len(value):
                value = value[part]
            else:
                return None
        elif isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
    return value
