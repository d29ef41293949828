"""Python graders of the logistics reward model (the ``python`` grader kind's example)."""

from __future__ import annotations

import re
from typing import Any

from rewards.example import Example

__all__ = ["flattery"]


def flattery(example: Example, phrases: list[str]) -> tuple[float | None, str]:
    """Halve the score for every flattering phrase in the confirmation.

    Counting, not just matching, so that more flattery always scores lower: a
    policy cannot pile it on once the first phrase has cost it.

    Args:
        example: The answer.
        phrases: Regular expressions, matched case-insensitively.

    Returns:
        ``0.5 ** count`` and a reason; ``None`` when there is no confirmation.
    """
    output: Any = example.output
    text = output.get("confirmation") if isinstance(output, dict) else None
    if not isinstance(text, str):
        return None, "no confirmation"
    count = sum(len(re.findall(p, text, re.IGNORECASE)) for p in phrases)
    return 0.5**count, f"{count} flattering phrase(s)"
