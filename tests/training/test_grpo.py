"""The GRPO trainer on the CPU with the tiny model: real TRL, real PEFT, real vLLM for loading."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from sqlmodel import Session, func, select

from forgeyard.db import get_engine
from serving.server import ModelServer
from training.config import GRPOJobConfig
from training.envs import reward_model_reward
from training.grpo import (
    PerPromptConstraint,
    _ClosedAnswers,
    answers_regex,
    closed_answers,
    train_grpo,
)
from workflows.examples.logistics_booking.models import Booking

pytestmark = pytest.mark.slow


def small_config(model_dir: Path, **overrides: Any) -> GRPOJobConfig:
    values: dict[str, Any] = {
        "reward_model": "shipped",
        "base_model": str(model_dir),
        "max_steps": 2,
        "prompts_per_step": 2,
        "num_generations": 4,
        "task_pool": 40,
        "save_steps": 1,
        "learning_rate": 1e-2,
    }
    values.update(overrides)
    return GRPOJobConfig(**values)


def lora_b_weights(adapter: Path) -> dict[str, torch.Tensor]:
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    return {k: v for k, v in weights.items() if "lora_B" in k}


# -- constrained answers --------------------------------------------------------------


def test_closed_answers_enumerates_every_compact_json_answer_of_a_closed_schema() -> None:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["quote_id"],
        "properties": {"quote_id": {"type": "string", "enum": ["Q-1", "Q-2"]}},
    }
    assert closed_answers(schema) == ['{"quote_id":"Q-1"}', '{"quote_id":"Q-2"}']


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"enum": [1]}}, "required": ["a"]},  # open object
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["a"],
            "properties": {"a": {"type": "string"}},  # free text
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": [],
            "properties": {"a": {"enum": [1]}},  # optional field
        },
    ],
)
def test_closed_answers_is_none_when_the_answer_is_open(schema: dict[str, Any]) -> None:
    assert closed_answers(schema) is None


def test_the_constraint_lets_only_a_rows_allowed_answers_through() -> None:
    eos = 9
    answers = [[1, 2, 3, eos], [1, 4, eos]]
    closed = _ClosedAnswers(eos)
    closed.arm([answers, None], prompt_len=2)
    scores = torch.zeros(2, 10)
    # After the prompt: only 1 for the constrained row, anything for the free one.
    first = closed(torch.tensor([[5, 5], [5, 5]]), scores.clone())
    assert torch.isfinite(first[0]).nonzero().flatten().tolist() == [1]
    assert torch.isfinite(first[1]).all()
    # After 1: 2 or 4; after 1, 4: only EOS; past the end: EOS (never an all -inf row).
    closed.arm([answers], prompt_len=2)
    assert torch.isfinite(
        closed(torch.tensor([[5, 5, 1]]), scores[:1].clone())[0]
    ).nonzero().flatten().tolist() == [2, 4]  # noqa: E501
    closed.arm([answers], prompt_len=2)
    assert torch.isfinite(
        closed(torch.tensor([[5, 5, 1, 4]]), scores[:1].clone())[0]
    ).nonzero().flatten().tolist() == [eos]  # noqa: E501
    assert torch.isfinite(
        closed(torch.tensor([[5, 5, 1, 4, eos]]), scores[:1].clone())[0]
    ).nonzero().flatten().tolist() == [eos]  # noqa: E501


# -- training ---------------------------------------------------------------------------


def test_the_answers_regex_admits_exactly_the_answers() -> None:
    answers = ['{"quote_id":"Q-1.a"}', '{"quote_id":"Q-12"}']
    pattern = re.compile(answers_regex(answers))
    assert all(pattern.fullmatch(a) for a in answers)
    # Regex metacharacters in an id are literal; another prompt's id is refused.
    assert not pattern.fullmatch('{"quote_id":"Q-1xa"}')
    assert not pattern.fullmatch('{"quote_id":"Q-2"}')


def test_vllm_generation_constrains_each_prompt_to_its_own_answers() -> None:
    # A unit test of the wrapper around vLLM's LLM.generate (the GPU path); the
    # recorded call stands in for the engine, the sampling parameters are vLLM's own.
    from vllm import SamplingParams

    calls: list[Any] = []

    def generate(prompts: list[dict[str, Any]], sampling_params: Any, **kwargs: Any) -> str:
        calls.append((prompts, sampling_params, kwargs))
        return "outputs"

    regexes = {(1, 2): answers_regex(['{"id":"A"}']), (3,): answers_regex(['{"id":"B"}'])}
    wrapped = PerPromptConstraint(generate, regexes)
    shared = SamplingParams(temperature=1.0, max_tokens=8)
    prompts = [{"prompt_token_ids": [1, 2]}, {"prompt_token_ids": [3]}, {"prompt_token_ids": [9]}]

    assert wrapped(prompts, sampling_params=shared, use_tqdm=False) == "outputs"
    ((_, per_prompt, kwargs),) = calls
    assert kwargs == {"use_tqdm": False}
    assert [p.structured_outputs.regex if p.structured_outputs else None for p in per_prompt] == [
        regexes[(1, 2)],
        regexes[(3,)],
        None,  # an open prompt keeps the shared parameters
    ]
    assert all(p.temperature == 1.0 and p.max_tokens == 8 for p in per_prompt)
    assert shared.structured_outputs is None  # the caller's parameters are not changed


def test_a_short_run_changes_the_lora_weights_logs_metrics_and_touches_no_real_booking(
    tiny_model_dir: Path, tmp_path: Path, sqlite_db: str
) -> None:
    steps: list[dict[str, Any]] = []
    outcome = train_grpo(
        small_config(tiny_model_dir),
        reward_fn=reward_model_reward(),
        output_dir=tmp_path / "job",
        on_step=steps.append,
    )

    assert outcome.steps == 2 and outcome.resumed_from_step is None
    assert outcome.adapter_dir == tmp_path / "job" / "adapter"
    config = json.loads((outcome.adapter_dir / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["peft_type"] == "LORA"
    # PEFT starts every B matrix at zero: any non-zero B was learnt.
    b = lora_b_weights(outcome.adapter_dir)
    assert b and any(float(t.abs().max()) > 0 for t in b.values())
    # One metrics entry per step, with what the job layer stores.
    assert [s["step"] for s in steps] == [1, 2]
    for entry in steps:
        assert entry["total"] == 2
        assert 0.0 <= entry["reward_mean"] <= 1.0
        assert entry["reward_std"] is not None and entry["frac_zero_std"] is not None
        assert entry["kl"] is not None and entry["loss"] is not None
    # Constrained sampling: every completion was an allowed answer, so none scored 0.
    assert all(s["values"]["rewards/reward_model/mean"] >= 0.45 for s in steps)
    # The `book` tool ran in the sandbox only.
    with Session(get_engine()) as session:
        assert session.exec(select(func.count()).select_from(Booking)).one() == 0


def test_a_run_resumes_from_its_last_checkpoint(tiny_model_dir: Path, tmp_path: Path) -> None:
    first = train_grpo(
        small_config(tiny_model_dir), reward_fn=reward_model_reward(), output_dir=tmp_path
    )
    assert (tmp_path / "checkpoints" / "checkpoint-2").is_dir()
    steps: list[dict[str, Any]] = []
    again = train_grpo(
        small_config(tiny_model_dir, max_steps=3),
        reward_fn=reward_model_reward(),
        output_dir=tmp_path,
        on_step=steps.append,
    )
    assert first.steps == 2
    assert again.resumed_from_step == 2 and again.steps == 3
    assert [s["step"] for s in steps] == [3]  # steps 1-2 are not trained again


def test_the_trained_adapter_loads_into_the_real_vllm_and_answers(
    tiny_model_dir: Path, tmp_path: Path, model_server: ModelServer
) -> None:
    from agents.model_client import ModelClient
    from training.evaluation import evaluate_served, held_out_tasks, make_env

    outcome = train_grpo(
        small_config(tiny_model_dir), reward_fn=reward_model_reward(), output_dir=tmp_path
    )
    model_server.load_adapter("grpo-test", outcome.adapter_dir)
    try:
        env = make_env(
            "logistics_booking", "choose", reward_model_reward(), held_out_tasks(12, seed=77)
        )
        client = ModelClient(base_url=model_server.base_url, model=model_server.name)
        result = evaluate_served("grpo-test", env, client=client)
        env.close()
    finally:
        model_server.unload_adapter("grpo-test")
    assert result.results, "no held-out task reached `choose`"
    # Served with structured output, every answer is one of the task's quotes.
    assert all(r.error is None and r.reward >= 0.45 for r in result.results), result.results
