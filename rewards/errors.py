"""The rewards package's errors (the tree is drawn in ``rewards/__init__.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from workflows.loader import SpecProblem

__all__ = [
    "DatasetError",
    "GraderError",
    "LabelError",
    "RewardError",
    "RewardModelNotFound",
    "RewardSpecError",
    "SpecProblem",
]


class RewardError(Exception):
    """Base of every error the rewards package raises."""


class RewardSpecError(RewardError, ValueError):
    """A reward-model spec that cannot be used; ``problems`` lists every one found."""

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in reward-model spec"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class DatasetError(RewardError, ValueError):
    """A dataset or labels file that cannot be read at all (a bad line is only reported)."""


class GraderError(RewardError):
    """A grader failed on one example; scoring records it as the grader's error."""


class RewardModelNotFound(RewardError, LookupError):
    """No stored reward-model version matches the id or hash given."""


class LabelError(RewardError, ValueError):
    """A label that names no run or example, or compares a run with itself."""
