"""Factories for training-job tests: an approved reward model, a model dir, a stand-in trainer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from forgeyard.db import session_scope
from forgeyard.records.rewards import RewardModelRecord, RewardModelStatus
from rewards.loader import load_reward_spec
from rewards.store import register
from training.config import GRPOJobConfig
from training.envs import LOGISTICS_REWARD
from training.grpo import TrainingOutcome


def shipped_reward_model(tenant: str = "default", *, approved: bool = True) -> RewardModelRecord:
    """The shipped logistics reward model registered for ``tenant`` (approved unless told).

    Its own thresholds ask for 60 labelled runs; tests mark it approved
    directly, as a passed evaluation would.
    """
    record = register(load_reward_spec(LOGISTICS_REWARD), tenant_id=tenant)
    with session_scope() as session:
        stored = session.get(RewardModelRecord, record.id)
        assert stored is not None
        stored.status = RewardModelStatus.approved if approved else RewardModelStatus.draft
        session.add(stored)
    return stored


def fake_model_dir(root: Path) -> Path:
    """A directory that passes for a model (it has a config.json); for stand-in trainers."""
    path = root / "fake-model"
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text("{}")
    return path


def job_config(**overrides: Any) -> GRPOJobConfig:
    """A small job: 4 steps, checkpoints every 2."""
    values: dict[str, Any] = {"max_steps": 4, "save_steps": 2, "num_generations": 2}
    return GRPOJobConfig(**{**values, **overrides})


def step_metrics(step: int, total: int) -> dict[str, Any]:
    return {
        "step": step,
        "total": total,
        "reward_mean": 0.1 * step,
        "reward_std": 0.05,
        "frac_zero_std": 0.5 / step,
        "kl": 0.01 * step,
        "loss": 1.0 / step,
        "learning_rate": 5e-4,
    }


class StandInTrainer:
    """Keeps ``train_grpo``'s contract without a model: checkpoints, resumes, writes an adapter.

    ``before_step(step)`` runs before each step is logged (tests make it fail
    or misbehave there); ``adapter`` False leaves no adapter behind.
    """

    def __init__(
        self, before_step: Callable[[int], None] | None = None, *, adapter: bool = True
    ) -> None:
        self.before_step = before_step
        self.adapter = adapter
        self.calls: list[int | None] = []

    def __call__(
        self,
        config: GRPOJobConfig,
        *,
        reward_fn: Any,
        output_dir: Path,
        on_step: Callable[[dict[str, Any]], None] | None = None,
    ) -> TrainingOutcome:
        assert callable(reward_fn)
        checkpoints = output_dir / "checkpoints"
        done = sorted(int(p.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*"))
        start = done[-1] if done else 0
        self.calls.append(start or None)
        metrics = []
        for step in range(start + 1, config.max_steps + 1):
            if self.before_step is not None:
                self.before_step(step)
            m = step_metrics(step, config.max_steps)
            metrics.append(m)
            if on_step is not None:
                on_step(m)
            if step % config.save_steps == 0:
                (checkpoints / f"checkpoint-{step}").mkdir(parents=True)
        adapter_dir = output_dir / "adapter"
        if self.adapter:
            adapter_dir.mkdir(exist_ok=True)
            (adapter_dir / "adapter_config.json").write_text(json.dumps({"r": config.lora_rank}))
        return TrainingOutcome(
            adapter_dir=adapter_dir,
            rank=config.lora_rank,
            steps=config.max_steps,
            metrics=metrics,
            resumed_from_step=start or None,
        )
