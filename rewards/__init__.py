"""Reward models authored by deployment partners: specs, graders, the workbench.

A reward-model spec (YAML) names graders, how to combine them, hard penalties
and the thresholds an evaluation must meet before the version is approved.
The same :class:`RewardModel` scores a recorded run, a labelled dataset and a
TRL batch, so evaluation and training never disagree about a reward.

Errors::

    RewardError
    ├── RewardSpecError       a spec that cannot be used; ``problems`` lists each (file, line)
    ├── DatasetError          a dataset or labels file that cannot be read at all
    ├── GraderError           a grader that failed on one example (recorded, never raised
    │                         out of scoring)
    ├── RewardModelNotFound   no stored reward-model version with that id or hash
    └── LabelError            a label that refers to nothing or contradicts itself
"""

from rewards.errors import (
    DatasetError,
    GraderError,
    LabelError,
    RewardError,
    RewardModelNotFound,
    RewardSpecError,
)
from rewards.example import Example
from rewards.loader import LoadedRewardSpec, load_reward_spec, load_reward_spec_text
from rewards.model import RewardFunction, RewardModel, Score

__all__ = [
    "DatasetError",
    "Example",
    "GraderError",
    "LabelError",
    "LoadedRewardSpec",
    "RewardError",
    "RewardFunction",
    "RewardModel",
    "RewardModelNotFound",
    "RewardSpecError",
    "Score",
    "load_reward_spec",
    "load_reward_spec_text",
]
