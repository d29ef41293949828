"""The rewards package's errors (the tree is drawn in ``rewards/__init__.py``)."""

from __future__ import annotations

from forgeyard.yaml_problems import ProblemsError, SpecProblem

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


class RewardSpecError(RewardError, ProblemsError):
    """A reward-model spec that cannot be used; ``problems`` lists every one found."""

    document = "reward-model spec"


class DatasetError(RewardError, ValueError):
    """A dataset or labels file that cannot be read at all (a bad line is only reported)."""


class GraderError(RewardError):
    """A grader failed on one example; scoring records it as the grader's error."""


class RewardModelNotFound(RewardError, LookupError):
    """No stored reward-model version matches the id or hash given."""


class LabelError(RewardError, ValueError):
    """A label that names no run or example, or compares a run with itself."""
