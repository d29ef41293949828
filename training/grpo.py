"""The GRPO trainer: TRL's ``GRPOTrainer`` with a PEFT LoRA adapter on one workflow node.

(Implementation in progress; the signature below is the contract the job
layer builds on.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.config import GRPOJobConfig
from training.envs import RewardCallable

__all__ = ["TrainingOutcome", "train_grpo"]


@dataclass
class TrainingOutcome:
    """What a finished training run left behind."""

    adapter_dir: Path  # PEFT ``save_pretrained`` output, complete (written atomically)
    rank: int
    steps: int
    # One entry per logged step: step, reward_mean, reward_std, frac_zero_std, kl, loss
    # (None when TRL did not log it) plus TRL's other values.
    metrics: list[dict[str, Any]] = field(default_factory=list)
    resumed_from_step: int | None = None


def train_grpo(
    config: GRPOJobConfig,
    *,
    reward_fn: RewardCallable,
    output_dir: Path,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> TrainingOutcome:
    """Train a LoRA adapter for ``config.node`` with GRPO.

    Checkpoints go to ``output_dir/checkpoints`` every ``config.save_steps``;
    if one is there already the run resumes from the newest. The final adapter
    is written to ``output_dir/adapter`` (a temporary directory renamed into
    place, so it is complete or absent). ``on_step`` gets each logged step's
    metrics (see :class:`TrainingOutcome`) with ``total`` = ``config.max_steps``.
    """
    raise NotImplementedError
