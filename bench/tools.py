"""Tools for the benchmark workflow: pure and fast, so the figures measure the machinery."""

from __future__ import annotations

from typing import Any

from workflows.tools import tool


@tool("bench.add")
def add(a: float, b: float = 0) -> dict[str, Any]:
    """Add two numbers."""
    return {"sum": a + b}
