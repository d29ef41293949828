"""The GRPO trainer: TRL's ``GRPOTrainer`` with a PEFT LoRA adapter on one workflow node.

The data are the node's prompts for the training tasks of its environment
(:data:`training.ENVIRONMENTS`), as chat messages, so TRL renders them with the
model's chat template exactly as vLLM does when a run asks the model. The
reward of a completion is the environment's: the rest of the workflow runs in
a sandbox and the tenant's approved reward model scores the finished run.

Generation while training:

* **CPU (plain transformers generation).** When the node's structured output
  is a closed set (every field an enum, as ``choose``'s quote id), sampling is
  constrained to exactly the compact JSON answers the served model may give:
  a logits processor keeps, per prompt, only the tokens that continue one of
  them. That is the distribution vLLM's structured output samples from when
  the adapter is served, so what is learnt is what runs get. Open-ended
  outputs (``extract``) are sampled unconstrained.
* **GPU (TRL's vLLM generation, ``use_vllm``).** TRL drives a colocated vLLM.
  For a closed set each prompt is constrained to *its own* answers (one
  structured-output regex per prompt, set on vLLM's per-prompt sampling
  parameters), and forced tokens are left out of the loss as on the CPU path.
  TRL's vLLM importance-sampling correction is turned off for closed sets: it
  divides the trainer's unconstrained token probabilities by vLLM's
  grammar-constrained ones, so the ratio measures the constraint, not a
  mismatch between engines — over an answer's forced tokens its product goes
  to about 0 and the default ``sequence_mask`` mode would zero every update.
  ``bench/gpu_smoke.sh`` runs this path end to end on a GPU machine.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium
import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import (
    AutoTokenizer,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedTokenizerBase,
    PrinterCallback,
    TrainerCallback,
)
from trl import GRPOConfig, GRPOTrainer

from training import environment_id
from training.config import GRPOJobConfig
from training.envs import RewardCallable

__all__ = [
    "PerPromptConstraint",
    "TrainingOutcome",
    "answers_regex",
    "closed_answers",
    "default_base_model",
    "node_dataset",
    "train_grpo",
]

CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
# Names TRL logs under → the names stored per step.
METRIC_NAMES = {
    "reward": "reward_mean",
    "reward_std": "reward_std",
    "frac_reward_zero_std": "frac_zero_std",
    "kl": "kl",
    "loss": "loss",
}
MAX_CLOSED_ANSWERS = 512


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


def default_base_model() -> Path:
    """The model the server serves by default (:func:`training.config.default_model_dir`)."""
    from forgeyard.settings import get_settings
    from training.config import default_model_dir

    return default_model_dir(get_settings())


def closed_answers(schema: dict[str, Any]) -> list[str] | None:
    """Every compact-JSON answer a closed output schema allows, or None when open.

    Closed: an object whose properties are all required enums and which allows
    no other property; keys in schema order, as vLLM's structured output
    writes them.
    """
    props = schema.get("properties")
    if schema.get("type") != "object" or not isinstance(props, dict) or not props:
        return None
    if schema.get("additionalProperties", True) is not False:
        return None
    if set(schema.get("required", [])) != set(props):
        return None
    choices = []
    for sub in props.values():
        if not isinstance(sub, dict) or not isinstance(sub.get("enum"), list) or not sub["enum"]:
            return None
        choices.append(sub["enum"])
    combos = list(itertools.islice(itertools.product(*choices), MAX_CLOSED_ANSWERS + 1))
    if len(combos) > MAX_CLOSED_ANSWERS:
        return None
    return [
        json.dumps(dict(zip(props, combo, strict=True)), separators=(",", ":")) for combo in combos
    ]


class _ClosedAnswers(LogitsProcessor):
    """Per row, allow only the tokens that continue one of that row's answers, then EOS."""

    def __init__(self, eos_token_id: int) -> None:
        self.eos = eos_token_id
        self.rows: list[list[list[int]] | None] = []
        self.prompt_len = 0

    def arm(self, rows: list[list[list[int]] | None], prompt_len: int) -> None:
        self.rows, self.prompt_len = rows, prompt_len

    def disarm(self) -> None:
        self.rows, self.prompt_len = [], 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> Any:
        if not self.rows:
            return scores
        done = input_ids.shape[1] - self.prompt_len
        mask = torch.zeros_like(scores, dtype=torch.bool)
        for row, answers in enumerate(self.rows):
            if answers is None:
                mask[row] = True
                continue
            generated = input_ids[row, self.prompt_len :].tolist()
            allowed = {a[done] for a in answers if len(a) > done and a[:done] == generated}
            mask[row, list(allowed or {self.eos})] = True
        return scores.masked_fill(~mask, float("-inf"))


def answers_regex(answers: Sequence[str]) -> str:
    """A structured-output regex that admits exactly ``answers``."""
    return "|".join(re.escape(a) for a in sorted(answers))


class PerPromptConstraint:
    """Wraps ``vllm.LLM.generate`` so that each prompt samples only its own answers.

    TRL's colocated generation passes one ``SamplingParams`` for the whole
    batch (one regex: the union of every prompt's answers); vLLM also takes a
    list with one per prompt, which is what this builds.
    """

    def __init__(self, generate: Callable[..., Any], regexes: dict[tuple[int, ...], str]) -> None:
        self._generate = generate
        self._regexes = regexes

    def __call__(self, prompts: list[dict[str, Any]], sampling_params: Any, **kwargs: Any) -> Any:
        from vllm.sampling_params import StructuredOutputsParams

        per_prompt = []
        for prompt in prompts:
            params = sampling_params.clone()
            regex = self._regexes.get(tuple(prompt["prompt_token_ids"]))
            if regex is not None:
                params.structured_outputs = StructuredOutputsParams(regex=regex)
            per_prompt.append(params)
        return self._generate(prompts, sampling_params=per_prompt, **kwargs)


class _GRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose generation samples only a prompt's allowed answers for closed nodes."""

    def __init__(
        self,
        *args: Any,
        answers: dict[tuple[int, ...], list[list[int]]],
        answer_regexes: dict[tuple[int, ...], str] | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self._answers = answers
        eos = self.processing_class.eos_token_id  # type: ignore[union-attr]
        self._closed = _ClosedAnswers(int(eos))
        if answers and self.use_vllm and self.vllm_mode == "colocate":
            llm: Any = self.vllm_generation.llm
            llm.generate = PerPromptConstraint(llm.generate, answer_regexes or {})
        if answers and not self.use_vllm:
            model: Any = self.model
            generate = model.generate
            processors = LogitsProcessorList([self._closed])

            def constrained_generate(*a: Any, **kw: Any) -> Any:
                kw.setdefault("logits_processor", processors)
                return generate(*a, **kw)

            model.generate = constrained_generate

    def _generate_single_turn(self, prompt_ids: list[list[int]], *args: Any, **kwargs: Any) -> Any:
        if self._answers and not self.use_vllm:
            rows = [self._answers.get(tuple(ids)) for ids in prompt_ids]
            self._closed.arm(rows, prompt_len=max(len(ids) for ids in prompt_ids))
        try:
            return super()._generate_single_turn(prompt_ids, *args, **kwargs)
        finally:
            self._closed.disarm()

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        """Leave forced tokens out of the loss: only where an answer had a choice is a decision.

        Under the constrained policy a token that is the only allowed
        continuation has probability 1, so it carries no policy gradient; left
        in, its unconstrained log-probability would only add noise.
        """
        output = super()._generate_and_score_completions(inputs)
        if not self._answers:
            return output
        prompts, prompt_mask = output["prompt_ids"], output["prompt_mask"].bool()
        completions = output["completion_ids"]
        decisions = torch.ones_like(completions)
        for row in range(completions.shape[0]):
            answers = self._answers.get(tuple(prompts[row][prompt_mask[row]].tolist()))
            if answers is None:
                continue
            generated = completions[row].tolist()
            for t in range(len(generated)):
                options = {a[t] for a in answers if len(a) > t and a[:t] == generated[:t]}
                if len(options) <= 1:
                    decisions[row, t] = 0
        tool_mask = output.get("tool_mask")
        output["tool_mask"] = decisions if tool_mask is None else tool_mask * decisions
        # The loss is normalised by the tokens it counts (single process: no gather).
        counted = (output["completion_mask"] * output["tool_mask"]).sum()
        output["num_items_in_batch"] = counted.clamp(min=1)
        return output


class EnvironmentReward:
    """TRL reward function: each completion's reward from a fresh episode of its task."""

    __name__ = "reward_model"

    def __init__(self, env: gymnasium.Env[Any, Any]) -> None:
        self.env = env
        # Seconds spent scoring since the last logged step (sandboxed runs + reward model).
        self.seconds = 0.0

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], task_id: Sequence[str], **_: Any
    ) -> list[float | None]:
        started = time.perf_counter()
        rewards: list[float | None] = []
        for completion, task in zip(completions, task_id, strict=True):
            text = completion[-1]["content"] if isinstance(completion, list) else str(completion)
            self.env.reset(options={"task_id": task})
            _, reward, *_rest = self.env.step(text)
            rewards.append(float(reward))
        self.seconds += time.perf_counter() - started
        return rewards


class _MetricsCallback(TrainerCallback):
    def __init__(
        self,
        total: int,
        on_step: Callable[[dict[str, Any]], None] | None,
        reward: EnvironmentReward,
    ) -> None:
        self.total = total
        self.on_step = on_step
        self.reward = reward
        self.metrics: list[dict[str, Any]] = []

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any
    ) -> None:
        if not logs or "reward" not in logs:  # the end-of-training summary has no reward
            return
        entry: dict[str, Any] = {"step": int(state.global_step), "total": self.total}
        for trl_name, name in METRIC_NAMES.items():
            value = logs.get(trl_name)
            entry[name] = None if value is None else float(value)
        entry["values"] = {k: v for k, v in logs.items() if isinstance(v, (int, float))}
        entry["values"]["reward_time"] = self.reward.seconds
        self.reward.seconds = 0.0
        self.metrics.append(entry)
        if self.on_step is not None:
            self.on_step(entry)


def _latest_checkpoint(directory: Path) -> Path | None:
    found = [
        (int(m.group(1)), p)
        for p in directory.glob("checkpoint-*")
        if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)) and (p / "trainer_state.json").exists()
    ]
    return max(found)[1] if found else None


def node_dataset(
    env: gymnasium.Env[Any, Any], tokenizer: PreTrainedTokenizerBase
) -> tuple[Dataset, dict[tuple[int, ...], list[list[int]]]]:
    """One row per training task (its chat messages) and each closed prompt's answer tokens."""
    base = env.unwrapped
    rows: list[dict[str, Any]] = []
    answers: dict[tuple[int, ...], list[list[int]]] = {}
    eos = tokenizer.eos_token_id
    for task in base.tasks:  # type: ignore[attr-defined]
        _, info = base.reset(options={"task_id": task.task_id})
        rows.append({"prompt": info["messages"], "task_id": task.task_id})
        closed = closed_answers(info["schema"])
        if closed is None:
            continue
        rendered: Any = tokenizer.apply_chat_template(
            info["messages"], add_generation_prompt=True, tokenize=True, return_dict=True
        )
        prompt_ids = rendered["input_ids"]
        answers[tuple(prompt_ids)] = [
            tokenizer.encode(a, add_special_tokens=False) + [eos] for a in closed
        ]
    return Dataset.from_list(rows), answers


def train_grpo(
    config: GRPOJobConfig,
    *,
    reward_fn: RewardCallable,
    output_dir: Path,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    tasks: Sequence[Any] | None = None,
    env_options: dict[str, Any] | None = None,
) -> TrainingOutcome:
    """Train a LoRA adapter for ``config.node`` with GRPO.

    Checkpoints go to ``output_dir/checkpoints`` every ``config.save_steps``;
    if one is there already the run resumes from the newest. The final adapter
    is written to ``output_dir/adapter`` (a temporary directory renamed into
    place, so it is complete or absent). ``on_step`` gets each logged step's
    metrics (see :class:`TrainingOutcome`) with ``total`` = ``config.max_steps``.
    ``tasks`` replaces the generated pool (``config.task_pool``/``task_seed``);
    ``env_options`` go to the environment (``ChooseEnv``'s ``opaque_quotes``, …).

    Raises:
        TrainingError: no environment for the node.
    """
    env_id = environment_id(config.workflow, config.node)
    base_model = Path(config.base_model or default_base_model())
    output_dir = Path(output_dir)
    checkpoints = output_dir / CHECKPOINTS
    checkpoints.mkdir(parents=True, exist_ok=True)
    use_vllm = torch.cuda.is_available() if config.use_vllm is None else config.use_vllm

    pool: dict[str, Any] = (
        {"tasks": list(tasks)}
        if tasks is not None
        else {"task_pool": config.task_pool, "task_seed": config.task_seed}
    )
    env = gymnasium.make(env_id, reward_fn=reward_fn, **pool, **(env_options or {}))
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset, answers = node_dataset(env, tokenizer)

    # Each closed prompt's answers as text (without EOS), for vLLM's per-prompt constraint.
    answer_regexes = {
        prompt: answers_regex([str(tokenizer.decode(a[:-1])) for a in rows])
        for prompt, rows in answers.items()
    }

    args = GRPOConfig(
        output_dir=str(checkpoints),
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        num_generations=config.num_generations,
        learning_rate=config.learning_rate,
        beta=config.beta,
        temperature=config.temperature,
        max_completion_length=config.max_completion_length,
        logging_steps=1,
        save_strategy="steps",
        save_steps=config.save_steps,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        bf16=False,
        use_vllm=use_vllm,
        vllm_mode="colocate",
        # Constrained answers: the correction would compare constrained with
        # unconstrained probabilities (see the module docstring).
        vllm_importance_sampling_correction=not answers,
        dataloader_num_workers=0,
    )
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_module_list,
        task_type="CAUSAL_LM",
    )
    reward = EnvironmentReward(env)
    metrics = _MetricsCallback(config.max_steps, on_step, reward)
    trainer = _GRPOTrainer(
        model=str(base_model),
        reward_funcs=[reward],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[metrics],
        answers=answers,
        answer_regexes=answer_regexes,
    )
    trainer.remove_callback(PrinterCallback)  # progress goes to ``on_step``, not stdout
    resume = _latest_checkpoint(checkpoints)
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)

    final = output_dir / ADAPTER
    staging = output_dir / f".{ADAPTER}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    trained: Any = trainer.model
    trained.save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    if final.exists():
        shutil.rmtree(final)
    staging.rename(final)
    env.close()
    return TrainingOutcome(
        adapter_dir=final,
        rank=config.lora_rank,
        steps=int(trainer.state.global_step),
        metrics=metrics.metrics,
        resumed_from_step=int(resume.name.split("-")[1]) if resume else None,
    )
