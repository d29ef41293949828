"""Adapters for promotion tests: candidate rows, and a GRPO-trained ``choose`` adapter.

The adapter is trained by the project's own trainer (60 steps, seed 0, on the
random-weight tiny model, with the workflow's own prompts): on the held-out
tasks of :data:`GATE_HELD_OUT` it beats that base model, so the real gate passes
it. What it learnt is a preference over the quote ids the workflow's prompts
show (ids that are usually cheapest), not the rule — ``bench/grpo.py``'s
controls show that — which is enough to exercise the gate's machinery.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from forgeyard.db import session_scope
from forgeyard.records.training import AdapterRecord
from rewards.loader import load_reward_spec
from rewards.store import register
from training.envs import LOGISTICS_REWARD

# (tasks generated, seed) the promotion test holds out: the bench's held-out set.
GATE_HELD_OUT = (200, 10_000)
WORKFLOW, NODE = "logistics_booking", "choose"


def reward_model_id(tenant: str) -> str:
    """The shipped logistics reward model, registered for ``tenant``."""
    return register(load_reward_spec(LOGISTICS_REWARD), tenant_id=tenant).id


def candidate(tenant: str, path: Path | str, *, rank: int = 8, **fields: Any) -> AdapterRecord:
    """An adapter row of ``choose`` (a candidate unless ``status`` says otherwise)."""
    values = {"workflow": WORKFLOW, "node": NODE, "base_model": "tiny", **fields}
    record = AdapterRecord(
        tenant_id=tenant,
        reward_model_id=reward_model_id(tenant),
        path=str(path),
        rank=rank,
        **values,
    )
    with session_scope() as session:
        session.add(record)
    return record


def train_choose_adapter(model_dir: Path, out: Path) -> Path:
    """Train the ``choose`` adapter with ``train_grpo`` (a few minutes on 2 CPU cores)."""
    from training.config import GRPOJobConfig
    from training.envs import reward_model_reward
    from training.grpo import train_grpo

    config = GRPOJobConfig(
        reward_model=str(LOGISTICS_REWARD), base_model=str(model_dir), max_steps=60, save_steps=60
    )
    return train_grpo(config, reward_fn=reward_model_reward(), output_dir=out).adapter_dir
