"""The ``learned`` grader's model: trained with TRL's ``RewardTrainer`` on preference pairs.

Training text and scoring text are the same rendering of an answer (the
grader's ``text`` template; by default the prompt, a newline and the
completion), so what the model learnt to rank is what it is later asked to score.
"""

from __future__ import annotations

import json
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from rewards.dataset import read_dataset
from rewards.errors import DatasetError
from rewards.example import Example
from workflows import expressions

__all__ = ["DEFAULT_TEXT", "read_pairs", "score_texts", "train_reward_model"]

DEFAULT_TEXT = "{{ prompt or '' }}\n{{ completion or '' }}"


def example_text(example: Example, template: str = DEFAULT_TEXT) -> str:
    """The text of an answer, as the learned grader renders it."""
    return expressions.render(template, example.mapping())


def read_pairs(path: str | Path, template: str = DEFAULT_TEXT) -> list[dict[str, str]]:
    """``{"chosen": text, "rejected": text}`` pairs from a file.

    The file is either a labelled dataset with preference lines (the texts are
    rendered from its examples), or JSONL lines ``{"prompt"?, "chosen", "rejected"}``
    holding the texts themselves.

    Raises:
        DatasetError: unreadable, or no usable pair in it.
    """
    ds = read_dataset(path)
    pairs: list[dict[str, str]] = []
    if ds.examples:
        by_id = ds.by_id()
        for pref in ds.preferences:
            pairs.append(
                {
                    "chosen": example_text(by_id[pref.chosen], template),
                    "rejected": example_text(by_id[pref.rejected], template),
                }
            )
    else:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                continue  # already reported by read_dataset's problems
            if isinstance(raw, dict) and isinstance(raw.get("chosen"), str):
                prompt = raw.get("prompt") or ""
                pairs.append(
                    {
                        "chosen": f"{prompt}\n{raw['chosen']}",
                        "rejected": f"{prompt}\n{raw.get('rejected', '')}",
                    }
                )
    if not pairs:
        raise DatasetError(f"no preference pairs in {path}")
    return pairs


def train_reward_model(
    pairs_path: str | Path,
    out_dir: str | Path,
    *,
    base: str | Path,
    max_steps: int = 50,
    learning_rate: float = 5e-4,
    batch_size: int = 4,
    seed: int = 0,
) -> dict[str, Any]:
    """Train a sequence-classification reward model and save it to ``out_dir``.

    Args:
        pairs_path: See :func:`read_pairs`.
        out_dir: Where the model and tokenizer are saved (a ``learned`` grader's
            ``model_dir``).
        base: Base model directory (the CLI's default is the tiny local model).
        max_steps: Optimiser steps.
        learning_rate: Peak learning rate.
        batch_size: Pairs per step.
        seed: Seed of the head's initialisation and the data order.

    Returns:
        ``pairs``, ``steps`` and ``accuracy`` (share of training pairs ranked right).
    """
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    pairs = read_pairs(pairs_path)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as scratch:
        args = RewardConfig(
            output_dir=scratch,
            max_steps=max_steps,
            per_device_train_batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            use_cpu=True,
            report_to=[],
            save_strategy="no",
            logging_steps=max(1, max_steps // 5),
            disable_tqdm=True,
            max_length=512,
        )
        trainer = RewardTrainer(
            model=str(base),
            args=args,
            train_dataset=Dataset.from_list(pairs),
            processing_class=tokenizer,
        )
        trainer.train()
        trainer.save_model(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    score_texts.cache_clear()
    chosen = score_texts(str(out_dir), [p["chosen"] for p in pairs])
    rejected = score_texts(str(out_dir), [p["rejected"] for p in pairs])
    won = sum(c > r for c, r in zip(chosen, rejected, strict=True))
    return {"pairs": len(pairs), "steps": max_steps, "accuracy": won / len(pairs)}


@lru_cache(maxsize=4)
def _load(model_dir: str) -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    model.eval()
    return model, tokenizer


class _Scorer:
    """Scores texts with a cached model (one load per directory per process)."""

    def __call__(self, model_dir: str, texts: list[str]) -> list[float]:
        import torch

        model, tokenizer = _load(model_dir)
        out: list[float] = []
        with torch.no_grad():
            for text in texts:
                batch = tokenizer(text, return_tensors="pt", truncation=True, max_length=512)
                out.append(float(model(**batch).logits[0, 0]))
        return out

    def cache_clear(self) -> None:
        _load.cache_clear()


score_texts = _Scorer()
