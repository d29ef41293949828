"""A small factory for workflow specs used across tests."""

from __future__ import annotations

import copy
import io
from typing import Any

from ruamel.yaml import YAML

BASE: dict[str, Any] = {
    "name": "adder",
    "version": "1",
    "description": "Adds, routes, pays, asks, ends.",
    "input": {
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a"],
        "additionalProperties": False,
    },
    "state": {"total": {"type": "object"}, "paid": {"type": "object"}, "ok": {"type": "object"}},
    "config": {"limit": 10},
    "tool_modules": ["tests.support.tools"],
    "start": "add",
    "nodes": {
        "add": {
            "kind": "tool",
            "tool": "test.add",
            "args": {"a": "input.a", "b": "input.b or 0"},
            "into": "total",
        },
        "check": {
            "kind": "route",
            "routes": [{"when": "total.sum > config.limit", "to": "too_big"}],
            "default": "pay",
        },
        "pay": {
            "kind": "tool",
            "tool": "test.charge",
            "side_effect": True,
            "args": {"amount": "total.sum"},
            "into": "paid",
        },
        "gate": {
            "kind": "approval",
            "when": "total.sum > 5",
            "message": "Pay {{ total.sum }}?",
            "into": "ok",
            "on_reject": "too_big",
        },
        "done": {"kind": "end", "output": {"total": "total.sum", "paid": "paid.charged"}},
        "too_big": {"kind": "end", "output": {"rejected": "total.sum"}},
    },
    "edges": [
        {"from": "add", "to": "check"},
        {"from": "pay", "to": "gate"},
        {"from": "gate", "to": "done"},
    ],
}


def spec_dict(**changes: Any) -> dict[str, Any]:
    """A copy of the base spec with top-level ``changes`` applied (None deletes)."""
    spec = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


def to_yaml(spec: dict[str, Any]) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump(spec, out)
    return out.getvalue()


def spec_yaml(**changes: Any) -> str:
    return to_yaml(spec_dict(**changes))


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) >= occurrence, f"{needle!r} not in spec text"
    return hits[occurrence - 1]
