"""Python graders used by the tests (imported by dotted path from specs)."""

from __future__ import annotations

import time
from typing import Any


def long_confirmation(example: Any, limit: int = 10) -> tuple[float, str]:
    text = (example.output or {}).get("confirmation", "")
    return (float(len(text) > limit), f"{len(text)} characters")


def boom(example: Any) -> float:
    raise RuntimeError("kaboom")


def slow(example: Any) -> float:
    time.sleep(5)
    return 1.0


def out_of_range(example: Any) -> float:
    return 3.0


def not_applicable(example: Any) -> None:
    return None
