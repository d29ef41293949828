"""GRPO on the CPU: does the trained adapter learn the ``choose`` rule, or a shortcut?

    python bench/grpo.py [--quick] [--steps 60] [--seed 0] [--out bench/results/grpo]

Everything runs on the pretrained base model (``serving/base_model``, built by
``forgeyard model build-base``) and ``logistics_booking``'s ``choose`` node,
rewarded by the shipped logistics reward model; seeds are fixed.

Tasks (``training.choose_tasks``): quotes from at least two carriers, 4–6
per prompt, deadlines set so that "the cheapest", "the cheapest in time" and
"the first to arrive" are each the right answer in a share of tasks. The
environment shows the quotes under opaque ids, fresh per task, in an order in
which the right answer's position is uniform. Training tasks come from seed
0 (ids salted ``train``), held-out tasks from seed 10000 (ids salted
``held-out``), and no held-out task's right answer costs a price any training
prompt shows.

1. **Learning.** ``train_grpo`` trains a LoRA adapter for ``--steps`` steps.
   A real vLLM server serves the base model and, loaded at run time, the
   adapter; both answer the held-out tasks exactly as runs and the promotion
   gate ask them (``training.evaluation.evaluate_served``), each answer played
   through the rest of the workflow in a sandbox and scored.
2. **Controls.** Beside them, on the same tasks and scored the same way, the
   trivial policies: always the first quote listed, a random eligible quote
   (its expected reward), the cheapest ignoring the deadline, the earliest
   departure.  Then the adapter again with the same quotes listed in reverse
   and in a second random order: a policy that reads the quotes answers the
   same; one that learnt positions does not.
``--quick``: 10 steps of 16 completions (4 tasks × 4) on 40 training tasks,
30 held-out tasks, no timing; for a look, not for a claim.

3. **Overhead** (not with ``--quick``): our trainer's mean step time next to a
   bare TRL script on the same model, prompts and reward.

Printed: means with 95 % normal intervals, and the adapter's paired
differences with the gate's 95 % paired-bootstrap interval. Nothing is
asserted about time.
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
from training.envs import ChooseEnv, reward_model_reward  # noqa: E402
from training.grpo import EnvironmentReward, node_dataset, train_grpo  # noqa: E402

TRAIN_SEED, HELD_OUT_SEED = 0, 10_000
TRAIN_SALT, HELD_OUT_SALT = "train", "held-out"


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and normal-approximation 95% interval."""
    mean = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0.0
    return mean, mean - half, mean + half


def held_out_env(tasks: list[Any], order: str = "uniform", memo: Any = None) -> ChooseEnv:
    env = ChooseEnv(
        reward_model_reward(),
        tasks=tasks,
        opaque_quotes=True,
        id_salt=HELD_OUT_SALT,
        order=order,
        memoize=True,
    )
    if memo is not None:
        env._memo = memo  # same tasks, same real quotes: a run's rest does not depend on order
    return env


Table = dict[str, tuple[list[dict[str, Any]], dict[str, float], str]]


def quote_rewards(env: ChooseEnv) -> Table:
    """Per held-out task: the quotes as shown, each one's reward, the right one's opaque id."""
    out = {}
    for task in env.tasks:
        _, info = env.reset(options={"task_id": task.task_id})
        shown = info["quotes_shown"]
        right = next(o for o, r in env.real_ids.items() if r == task.expected.choice_quote_id)
        rewards = {}
        for q in shown:
            env.reset(options={"task_id": task.task_id})
            _, reward, *_ = env.step(json.dumps({"quote_id": q["quote_id"]}))
            rewards[q["quote_id"]] = float(reward)
        out[task.task_id] = (shown, rewards, right)
    return out


def trivial_policies(table: Table) -> dict[str, list[float]]:
    """Per-task rewards of the trivial policies (random: its expected reward)."""
    policies: dict[str, list[float]] = {
        "always first": [],
        "random eligible": [],
        "cheapest, ignoring deadline": [],
        "earliest departure": [],
    }
    for shown, rewards, _ in table.values():
        # Ties (a carrier's weekly sailings often cost the same): the earlier arrival,
        # as the quote tool sorts them.
        cheapest = min(shown, key=lambda q: (q["price_usd"], q["eta"]))
        earliest = min(shown, key=lambda q: q["etd"])
        policies["always first"].append(rewards[shown[0]["quote_id"]])
        policies["random eligible"].append(statistics.fmean(rewards.values()))
        policies["cheapest, ignoring deadline"].append(rewards[cheapest["quote_id"]])
        policies["earliest departure"].append(rewards[earliest["quote_id"]])
    return policies


def evaluate_through_vllm(
    model_dir: Path, adapter: Path, envs: dict[str, ChooseEnv]
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Base model (as listed) and adapter (in each order) through a real vLLM, and the gate.

    The same code path as promotion: the adapter is loaded into the running
    server at run time, both answer through ``ModelClient`` with the node's
    structured output and temperature 0, the gate compares them.
    """
    from agents.model_client import ModelClient
    from rewards.model import RewardModel
    from serving.server import ModelServer
    from training.evaluation import evaluate_served
    from training.gate import decide

    with ModelServer(model_dir, port=0, max_lora_rank=8, startup_timeout=1200) as server:
        server.load_adapter("bench-adapter", adapter)
        client = ModelClient(base_url=server.base_url, model=server.name)
        base = evaluate_served(server.name, envs["uniform"], client=client)
        trained = {
            order: evaluate_served("bench-adapter", env, client=client)
            for order, env in envs.items()
        }
    verdict = decide(trained["uniform"], base, RewardModel.from_path(reward_model_reward().path))
    return base, trained, verdict


def bare_trl_step_time(
    model_dir: Path, config: GRPOJobConfig, completion_len: int, steps: int, tasks: list[Any]
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
        tasks=tasks,
        opaque_quotes=True,
        id_salt=TRAIN_SALT,
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


def _row(name: str, values: list[float], best: int | None = None) -> str:
    mean, lo, hi = interval(values)
    chosen = "" if best is None else f"  best quote {best}/{len(values)}"
    return f"  {name:<30} {mean:.3f}  95% CI [{lo:.3f}, {hi:.3f}]{chosen}"


def _difference(name: str, ours: list[float], theirs: list[float]) -> str:
    from training.gate import paired_interval

    diffs = [a - b for a, b in zip(ours, theirs, strict=True)]
    lo, hi = paired_interval(diffs)
    verdict = "above" if lo > 0 else ("below" if hi < 0 else "not distinguishable")
    mean = statistics.fmean(diffs)
    return f"  adapter − {name:<30} {mean:+.3f}  95% CI [{lo:+.3f}, {hi:+.3f}]  {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and tasks, no timing")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--train-tasks", type=int, default=None)
    parser.add_argument("--held-out-tasks", type=int, default=None)
    parser.add_argument("--prompts-per-step", type=int, default=None)
    parser.add_argument("--generations", type=int, default=None)
    parser.add_argument(
        "--adapter", type=Path, default=None, help="evaluate this adapter instead of training one"
    )
    parser.add_argument("--bare-steps", type=int, default=6)
    parser.add_argument("--base-model", type=Path, default=None, help="default: serving/base_model")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "grpo")
    args = parser.parse_args()
    steps = args.steps or (10 if args.quick else 60)
    n_train = args.train_tasks or (40 if args.quick else 300)
    n_held = args.held_out_tasks or (30 if args.quick else 200)

    from serving.base import checked_in_base_model
    from training.choose_tasks import choose_tasks, task_prices
    from training.report import plot_png

    args.out.mkdir(parents=True, exist_ok=True)
    model_dir = args.base_model or checked_in_base_model()
    print("generating tasks …", flush=True)
    train_tasks = choose_tasks(n_train, seed=TRAIN_SEED)
    seen = set().union(*(task_prices(t) for t in train_tasks))
    held = choose_tasks(n_held, seed=HELD_OUT_SEED, exclude_prices=seen)
    extra: dict[str, Any] = {}
    if args.learning_rate is not None:
        extra["learning_rate"] = args.learning_rate
    if args.prompts_per_step or args.quick:
        extra["prompts_per_step"] = args.prompts_per_step or 4
    if args.generations or args.quick:
        extra["num_generations"] = args.generations or 4
    config = GRPOJobConfig(
        reward_model="rewards/examples/logistics_booking/reward.yaml",
        base_model=str(model_dir),
        max_steps=steps,
        seed=args.seed,
        save_steps=max(steps, 1),
        **extra,
    )
    print(
        f"training {config.max_steps} steps × {config.batch_size} completions "
        f"({config.prompts_per_step} tasks × {config.num_generations}) on "
        f"{len(train_tasks)} tasks (lr {config.learning_rate}, rank {config.lora_rank}, "
        f"seed {config.seed}, base {model_dir}) …",
        flush=True,
    )
    started = time.perf_counter()
    if args.adapter is not None:
        adapter, metrics, trained_steps = args.adapter, [], 0
    else:
        with tempfile.TemporaryDirectory() as tmp:
            outcome = train_grpo(
                config,
                reward_fn=reward_model_reward(),
                output_dir=Path(tmp),
                tasks=train_tasks,
                env_options={"opaque_quotes": True, "id_salt": TRAIN_SALT},
            )
            adapter = args.out / "adapter"
            if adapter.exists():
                import shutil

                shutil.rmtree(adapter)
            outcome.adapter_dir.rename(adapter)
        metrics, trained_steps = outcome.metrics, outcome.steps

        class Row:
            def __init__(self, m: dict[str, Any]) -> None:
                self.__dict__.update(m)

        (args.out / "grpo-training.png").write_bytes(
            plot_png(
                [Row(m) for m in metrics],
                title=f"GRPO on logistics_booking.choose, base model, {steps} steps",
            )
        )
        (args.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    train_seconds = time.perf_counter() - started

    print("scoring every quote of every held-out task (for the trivial policies) …", flush=True)
    first = held_out_env(held)
    envs = {"uniform": first} | {
        order: held_out_env(held, order, memo=first._memo) for order in ChooseEnv.ORDERS[1:]
    }
    table = quote_rewards(envs["uniform"])
    policies = trivial_policies(table)
    print("evaluating base and adapter on held-out tasks through vLLM …", flush=True)
    base_eval, trained_evals, verdict = evaluate_through_vllm(model_dir, adapter, envs)
    (args.out / "gate.json").write_text(json.dumps(verdict, indent=1))
    base, trained = base_eval.rewards, trained_evals["uniform"].rewards

    def best(evaluation: Any) -> int:
        return sum(
            r.output is not None
            and isinstance(r.output, dict)
            and r.output.get("quote_id") == task.expected.choice_quote_id
            for r, task in zip(evaluation.results, envs["uniform"].tasks, strict=True)
        )

    def picks(evaluation: Any) -> list[Any]:
        return [r.completion for r in evaluation.results]

    first_right = sum(shown[0]["quote_id"] == right for shown, _, right in table.values())
    modes = {}
    for task in held:
        mode = task.task_id.rsplit("-", 1)[1]
        modes[mode] = modes.get(mode, 0) + 1

    print()
    print(
        f"held-out tasks: {len(held)} (choose_tasks seed {HELD_OUT_SEED}; deadline cases "
        + ", ".join(f"{k} {v}" for k, v in sorted(modes.items()))
        + f"; 6 quotes, 2 carriers each); right answer listed first in {first_right}/{len(held)}"
    )
    print("mean held-out reward (1.0 = the rule's quote):")
    print(_row("base model", base, best(base_eval)))
    print(_row("trained adapter", trained, best(trained_evals["uniform"])))
    for name, values in policies.items():
        print(_row(name, values))
    print("the adapter with the same quotes in another order:")
    for order in ("reversed", "reshuffled"):
        ev = trained_evals[order]
        same = sum(a == b for a, b in zip(picks(ev), picks(trained_evals["uniform"]), strict=True))
        print(_row(f"adapter, {order}", ev.rewards, best(ev)) + f"  same pick {same}/{len(held)}")
    print("paired differences (gate's 95% paired bootstrap):")
    print(_difference("base model", trained, base))
    for name, values in policies.items():
        print(_difference(name, trained, values))
    print(f"  promotion gate: {'passes' if verdict['passed'] else 'refuses'} — {verdict['reason']}")
    print(f"training: {trained_steps} steps in {train_seconds:.0f} s")
    if args.quick or args.adapter is not None:
        print(f"plot: {args.out / 'grpo-training.png'}")
        return

    timed = [m["values"] for m in metrics if "step_time" in m["values"]][1:]
    ours_mean = statistics.fmean(v["step_time"] for v in timed)
    ours_reward = statistics.fmean(v["reward_time"] for v in timed)
    lengths = [m["values"].get("completions/mean_length", 0) for m in metrics]
    completion_len = max(1, round(statistics.fmean(lengths)))
    print(
        f"timing a bare TRL script ({args.bare_steps} steps, "
        f"completions of {completion_len} tokens) …",
        flush=True,
    )
    bare, bare_reward = bare_trl_step_time(
        model_dir, config, completion_len, args.bare_steps, train_tasks
    )
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
