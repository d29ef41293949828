"""The reward function inside TRL's GRPOTrainer: one step on the tiny model, on the CPU."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tests.rewards.factories import model

pytestmark = pytest.mark.slow


def test_grpo_step_uses_the_reward_function(tiny_model_dir: Path, tmp_path: Path) -> None:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    rm = model(
        {"name": "short", "kind": "constraint", "expr": "1 - len(completion) / 100"},
        {
            "name": "quote",
            "kind": "field_match",
            "path": "output.quote_id",
            "expected": "expected.choice_quote_id",
        },
    )
    # What accelerate would ship to another process.
    reward_fn = pickle.loads(pickle.dumps(rm.as_reward_function()))
    dataset = Dataset.from_list([
        {"prompt": "Book 2 boxes", "expected": {"choice_quote_id": "Q1"}, "task_id": "t1"},
        {"prompt": "Book 3 boxes", "expected": {"choice_quote_id": "Q2"}, "task_id": "t2"},
    ])  # fmt: skip
    args = GRPOConfig(
        output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4, num_generations=2,
        max_completion_length=8, use_cpu=True, report_to=[], save_strategy="no",
        logging_steps=1, disable_tqdm=True,
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=str(tiny_model_dir), reward_funcs=[reward_fn], args=args, train_dataset=dataset
    )
    trainer.train()
    logged = trainer.state.log_history[0]
    # Random completions are not JSON: the quote grader scores 0, the length grader counts.
    assert 0.0 < logged["rewards/test_rm/mean"] < 1.0
