"""GRPO on the CPU: does the trained adapter beat the base model, and what does our wrapper cost?

    python bench/grpo.py [--steps 40] [--seed 0] [--held-out-pool 200] [--out bench/results/grpo]

Everything runs on the tiny local model (``forgeyard model build-tiny``, seed 0)
and ``logistics_booking``'s ``choose`` node, rewarded by the shipped logistics
reward model; seeds are fixed (training tasks seed 0, held-out tasks seed
10000, GRPO seed ``--seed``).

1. **Learning.** ``train_grpo`` trains a LoRA adapter for ``--steps`` steps.
   Base model and adapter then answer the same held-out tasks the way runs are
   answered: greedy (the node's temperature 0), restricted to the answers the
   node's output schema allows (what vLLM's structured output does), each
   answer played through the rest of the workflow in a sandbox and scored.
   Printed: each one's mean held-out reward with a 95% interval, and the paired
   difference (trained − base) with its 95% bootstrap interval (10,000
   resamples of the tasks, seed 0).
2. **Overhead.** The mean optimisation-step time of our trainer (TRL's own
   ``step_time``, steps after the first) next to a bare TRL script — plain
   ``GRPOTrainer`` + LoRA, same model, prompts, reward function, batch and
   completion length, no constrained sampling, no metrics hooks — run in the
   same process; the ratio is ours / bare.

The plot of the training metrics goes to ``--out``/grpo-training.png. Nothing
is asserted about time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gymnasium  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from training.config import GRPOJobConfig  # noqa: E402
from training.envs import reward_model_reward  # noqa: E402
from training.grpo import EnvironmentReward, _ClosedAnswers, closed_answers, train_grpo  # noqa: E402

HELD_OUT_SEED = 10_000


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and normal-approximation 95% interval."""
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half


def paired_bootstrap(diffs: list[float], *, resamples: int = 10_000) -> tuple[float, float, float]:
    rng = np.random.default_rng(0)
    data = np.asarray(diffs)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    return float(data.mean()), float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def evaluate(model_dir: Path, adapter: Path | None, pool: int) -> list[float]:
    """Held-out reward per task: greedy, constrained to the node's allowed answers."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    env: Any = gymnasium.make(
        "forgeyard/LogisticsChoose-v0", task_pool=pool, task_seed=HELD_OUT_SEED
    ).unwrapped
    eos = tokenizer.eos_token_id
    closed = _ClosedAnswers(eos)
    rewards = []
    for task in env.tasks:
        _, info = env.reset(options={"task_id": task.task_id})
        rendered: Any = tokenizer.apply_chat_template(
            info["messages"], add_generation_prompt=True, tokenize=True, return_dict=True
        )
        ids = rendered["input_ids"]
        answers = closed_answers(info["schema"]) or []
        closed.arm(
            [[tokenizer.encode(a, add_special_tokens=False) + [eos] for a in answers]], len(ids)
        )
        with torch.no_grad():
            out = model.generate(
                torch.tensor([ids]),
                max_new_tokens=64,
                do_sample=False,
                logits_processor=LogitsProcessorList([closed]),
                pad_token_id=tokenizer.pad_token_id or eos,
            )
        text = tokenizer.decode(out[0, len(ids) :], skip_special_tokens=True)
        _, reward, *_ = env.step(text)
        rewards.append(float(reward))
    env.close()
    return rewards


def bare_trl_step_time(
    model_dir: Path, config: GRPOJobConfig, completion_len: int, steps: int
) -> float:
    """Mean step time of a plain GRPOTrainer + LoRA on the same prompts and reward."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    env = gymnasium.make(
        "forgeyard/LogisticsChoose-v0",
        reward_fn=reward_model_reward(),
        task_pool=config.task_pool,
        task_seed=config.task_seed,
    )
    base: Any = env.unwrapped
    rows = []
    for task in base.tasks:
        _, info = base.reset(options={"task_id": task.task_id})
        rows.append({"prompt": info["messages"], "task_id": task.task_id})
    with tempfile.TemporaryDirectory() as tmp:
        trainer = GRPOTrainer(
            model=str(model_dir),
            reward_funcs=[EnvironmentReward(env)],
            args=GRPOConfig(
                output_dir=tmp,
                max_steps=steps,
                per_device_train_batch_size=config.batch_size,
                num_generations=config.num_generations,
                learning_rate=config.learning_rate,
                beta=config.beta,
                temperature=config.temperature,
                max_completion_length=completion_len,
                logging_steps=1,
                save_strategy="no",
                seed=config.seed,
                report_to="none",
                disable_tqdm=True,
                use_cpu=True,
            ),
            train_dataset=Dataset.from_list(rows),
            processing_class=tokenizer,
            peft_config=LoraConfig(
                r=config.lora_rank,
                lora_alpha=config.lora_alpha,
                target_modules="all-linear",
                task_type="CAUSAL_LM",
            ),
        )
        trainer.train()
        times = [log["step_time"] for log in trainer.state.log_history if "step_time" in log]
    env.close()
    return statistics.fmean(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--held-out-pool", type=int, default=200)
    parser.add_argument("--bare-steps", type=int, default=6)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "grpo")
    args = parser.parse_args()

    from serving.tiny import build_tiny_model
    from training.report import plot_png

    args.out.mkdir(parents=True, exist_ok=True)
    model_dir = build_tiny_model(REPO / ".forgeyard" / "bench" / "tiny-model", overwrite=True)
    extra = {} if args.learning_rate is None else {"learning_rate": args.learning_rate}
    config = GRPOJobConfig(
        reward_model="rewards/examples/logistics_booking/reward.yaml",
        base_model=str(model_dir),
        max_steps=args.steps,
        seed=args.seed,
        save_steps=max(args.steps, 1),
        **extra,
    )
    print(
        f"training {config.max_steps} steps × {config.batch_size} completions "
        f"(lr {config.learning_rate}, rank {config.lora_rank}, seed {config.seed}) …",
        flush=True,
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        outcome = train_grpo(config, reward_fn=reward_model_reward(), output_dir=Path(tmp))
        train_seconds = time.perf_counter() - started
        adapter = args.out / "adapter"
        if adapter.exists():
            import shutil

            shutil.rmtree(adapter)
        outcome.adapter_dir.rename(adapter)

    class Row:
        def __init__(self, m: dict[str, Any]) -> None:
            self.__dict__.update(m)

    rows = [Row(m) for m in outcome.metrics]
    (args.out / "grpo-training.png").write_bytes(
        plot_png(
            rows, title=f"GRPO on logistics_booking.choose, tiny model, {config.max_steps} steps"
        )
    )
    (args.out / "metrics.json").write_text(json.dumps(outcome.metrics, indent=1))

    print("evaluating base and trained on held-out tasks …", flush=True)
    base = evaluate(model_dir, None, args.held_out_pool)
    trained = evaluate(model_dir, adapter, args.held_out_pool)
    diffs = [t - b for t, b in zip(trained, base, strict=True)]
    b_mean, b_lo, b_hi = interval(base)
    t_mean, t_lo, t_hi = interval(trained)
    d_mean, d_lo, d_hi = paired_bootstrap(diffs)

    ours = [m["values"]["step_time"] for m in outcome.metrics if "step_time" in m["values"]]
    ours_mean = statistics.fmean(ours[1:])
    lengths = [m["values"].get("completions/mean_length", 0) for m in outcome.metrics]
    completion_len = max(1, round(statistics.fmean(lengths)))
    print(
        f"timing a bare TRL script ({args.bare_steps} steps, "
        f"completions of {completion_len} tokens) …",
        flush=True,
    )
    bare = bare_trl_step_time(model_dir, config, completion_len, args.bare_steps)

    print()
    print(f"held-out tasks: {len(base)} (generate_tasks seed {HELD_OUT_SEED}, choosable ones)")
    print(f"  base model      mean reward {b_mean:.3f}  95% CI [{b_lo:.3f}, {b_hi:.3f}]")
    print(f"  trained adapter mean reward {t_mean:.3f}  95% CI [{t_lo:.3f}, {t_hi:.3f}]")
    print(f"  trained − base  {d_mean:+.3f}  95% bootstrap CI [{d_lo:+.3f}, {d_hi:+.3f}]")
    print(
        f"  best quote chosen: base {sum(r == 1.0 for r in base)}/{len(base)}, "
        f"trained {sum(r == 1.0 for r in trained)}/{len(trained)}"
    )
    print(f"training: {outcome.steps} steps in {train_seconds:.0f} s")
    print(
        f"step time: ours {ours_mean:.2f} s vs bare TRL {bare:.2f} s  ratio {ours_mean / bare:.2f}"
    )
    print(f"plot: {args.out / 'grpo-training.png'}")


if __name__ == "__main__":
    main()
