"""GRPO on the CPU: does the trained adapter beat the base model, and what does our wrapper cost?

    python bench/grpo.py [--steps 60] [--seed 0] [--held-out-pool 200] [--out bench/results/grpo]

Everything runs on the tiny local model (``forgeyard model build-tiny``, seed 0)
and ``logistics_booking``'s ``choose`` node, rewarded by the shipped logistics
reward model; seeds are fixed (training tasks seed 0, held-out tasks seed
10000, GRPO seed ``--seed``).

1. **Learning.** ``train_grpo`` trains a LoRA adapter for ``--steps`` steps.
   A real vLLM server then serves the base model and, loaded at run time, the
   adapter; both answer the same held-out tasks exactly as runs and the
   promotion gate ask them (``training.evaluation.evaluate_served``: the
   node's messages, structured output, temperature 0), each answer played
   through the rest of the workflow in a sandbox and scored. Printed: each
   one's mean held-out reward with a 95% normal interval, the paired
   difference (trained − base) with the gate's 95% paired-bootstrap interval,
   and the gate's verdict.
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

from training.config import GRPOJobConfig  # noqa: E402
from training.envs import reward_model_reward  # noqa: E402
from training.grpo import EnvironmentReward, node_dataset, train_grpo  # noqa: E402

HELD_OUT_SEED = 10_000


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and normal-approximation 95% interval."""
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / len(values) ** 0.5
    return mean, mean - half, mean + half


def evaluate_through_vllm(
    model_dir: Path, adapter: Path, pool: int, seed: int
) -> tuple[Any, Any, dict[str, Any]]:
    """Base model and adapter on the held-out tasks through a real vLLM, and the gate's verdict.

    The same code path as promotion: the adapter is loaded into the running
    server at run time, both answer through ``ModelClient`` with the node's
    structured output and temperature 0, the gate compares them.
    """
    from agents.model_client import ModelClient
    from rewards.model import RewardModel
    from serving.server import ModelServer
    from training.evaluation import evaluate_served, held_out_tasks, make_env
    from training.gate import decide

    reward = reward_model_reward()
    env = make_env("logistics_booking", "choose", reward, held_out_tasks(pool, seed=seed))
    with ModelServer(model_dir, port=0, max_lora_rank=8) as server:
        server.load_adapter("bench-adapter", adapter)
        client = ModelClient(base_url=server.base_url, model=server.name)
        base = evaluate_served(server.name, env, client=client)
        trained = evaluate_served("bench-adapter", env, client=client)
    verdict = decide(trained, base, RewardModel.from_path(reward.path))
    env.close()
    return base, trained, verdict


def bare_trl_step_time(
    model_dir: Path, config: GRPOJobConfig, completion_len: int, steps: int
) -> tuple[float, float]:
    """Mean step time of a plain GRPOTrainer + LoRA on the same prompts and reward.

    Also the mean seconds per step spent in the reward function.
    """
    from peft import LoraConfig
    from transformers import AutoTokenizer, PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    env = gymnasium.make(
        "forgeyard/LogisticsChoose-v0",
        reward_fn=reward_model_reward(),
        task_pool=config.task_pool,
        task_seed=config.task_seed,
    )
    dataset, _ = node_dataset(env, tokenizer)  # the same rows train_grpo trains on
    reward = EnvironmentReward(env)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = GRPOTrainer(
            model=str(model_dir),
            reward_funcs=[reward],
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
            train_dataset=dataset,
            processing_class=tokenizer,
            peft_config=LoraConfig(
                r=config.lora_rank,
                lora_alpha=config.lora_alpha,
                target_modules="all-linear",
                task_type="CAUSAL_LM",
            ),
        )
        trainer.remove_callback(PrinterCallback)
        trainer.train()
        times = [log["step_time"] for log in trainer.state.log_history if "step_time" in log]
    env.close()
    return statistics.fmean(times[1:]), reward.seconds / len(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
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

    print("evaluating base and trained on held-out tasks through vLLM …", flush=True)
    base_eval, trained_eval, verdict = evaluate_through_vllm(
        model_dir, adapter, args.held_out_pool, HELD_OUT_SEED
    )
    base, trained = base_eval.rewards, trained_eval.rewards
    b_mean, b_lo, b_hi = interval(base)
    t_mean, t_lo, t_hi = interval(trained)
    d_mean, d_lo, d_hi = verdict["mean_difference"], verdict["ci_low"], verdict["ci_high"]
    (args.out / "gate.json").write_text(json.dumps(verdict, indent=1))

    timed = [m["values"] for m in outcome.metrics if "step_time" in m["values"]][1:]
    ours_mean = statistics.fmean(v["step_time"] for v in timed)
    ours_reward = statistics.fmean(v["reward_time"] for v in timed)
    lengths = [m["values"].get("completions/mean_length", 0) for m in outcome.metrics]
    completion_len = max(1, round(statistics.fmean(lengths)))
    print(
        f"timing a bare TRL script ({args.bare_steps} steps, "
        f"completions of {completion_len} tokens) …",
        flush=True,
    )
    bare, bare_reward = bare_trl_step_time(model_dir, config, completion_len, args.bare_steps)

    print()
    print(f"held-out tasks: {len(base)} (generate_tasks seed {HELD_OUT_SEED}, choosable ones)")
    print(f"  base model      mean reward {b_mean:.3f}  95% CI [{b_lo:.3f}, {b_hi:.3f}]")
    print(f"  trained adapter mean reward {t_mean:.3f}  95% CI [{t_lo:.3f}, {t_hi:.3f}]")
    print(f"  trained − base  {d_mean:+.3f}  95% paired-bootstrap CI [{d_lo:+.3f}, {d_hi:+.3f}]")
    print(
        f"  best quote chosen: base {sum(r == 1.0 for r in base)}/{len(base)}, "
        f"trained {sum(r == 1.0 for r in trained)}/{len(trained)}"
    )
    print(f"  promotion gate: {'passes' if verdict['passed'] else 'refuses'} — {verdict['reason']}")
    print(f"training: {outcome.steps} steps in {train_seconds:.0f} s")
    print(
        f"step time: ours {ours_mean:.2f} s vs bare TRL {bare:.2f} s  ratio {ours_mean / bare:.2f}"
    )
    print(
        "  of which scoring (sandboxed rest of the run + reward model): "
        f"ours {ours_reward:.2f} s, bare {bare_reward:.2f} s "
        "(its unconstrained answers are mostly not JSON: scored 0 at once)"
    )
    ours_rest, bare_rest = ours_mean - ours_reward, bare - bare_reward
    print(
        f"  without scoring: ours {ours_rest:.2f} s vs bare {bare_rest:.2f} s  "
        f"ratio {ours_rest / bare_rest:.2f}"
    )
    print(f"plot: {args.out / 'grpo-training.png'}")


if __name__ == "__main__":
    main()
