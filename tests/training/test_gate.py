"""The promotion gate's rule on given rewards: paired interval above the margin, probes no worse."""

from __future__ import annotations

import pytest

from training.envs import reward_model_reward
from training.evaluation import Evaluation, TaskResult
from training.gate import decide, paired_interval


def evaluation(name: str, rewards: list[float]) -> Evaluation:
    return Evaluation(
        name, [TaskResult(f"t{i}", r, completion="{}") for i, r in enumerate(rewards)]
    )


@pytest.fixture(scope="module")
def reward_model():  # type: ignore[no-untyped-def]
    return reward_model_reward().model


def test_equal_answers_are_refused(reward_model):  # type: ignore[no-untyped-def]
    same = [0.5, 1.0, 0.45, 1.0, 0.0, 1.0]
    gate = decide(evaluation("cand", same), evaluation("base", same), reward_model)
    assert gate["passed"] is False
    assert gate["mean_difference"] == gate["ci_low"] == gate["ci_high"] == 0.0
    assert "not above the margin 0" in gate["reason"]


def test_a_consistent_gain_passes_and_a_margin_can_forbid_it(reward_model):  # type: ignore[no-untyped-def]
    base = [0.45, 0.5, 0.45, 1.0, 0.0, 0.5, 0.45, 0.5] * 3
    better = [min(1.0, r + 0.3) for r in base]
    gate = decide(evaluation("cand", better), evaluation("base", base), reward_model)
    assert gate["passed"] is True and gate["ci_low"] > 0.0
    assert gate["mean_reward"]["candidate"] > gate["mean_reward"]["current"]
    strict = decide(evaluation("cand", better), evaluation("base", base), reward_model, margin=0.5)
    assert strict["passed"] is False


def test_a_noisy_gain_is_refused(reward_model):  # type: ignore[no-untyped-def]
    base = [0.5] * 10
    noisy = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.6]
    gate = decide(evaluation("cand", noisy), evaluation("base", base), reward_model)
    assert gate["mean_difference"] > 0.0 and gate["ci_low"] < 0.0 and not gate["passed"]


def test_interval_is_reproducible_and_tasks_must_match(reward_model):  # type: ignore[no-untyped-def]
    d = [0.1, -0.2, 0.3, 0.0, 0.5]
    assert paired_interval(d) == paired_interval(d)
    with pytest.raises(ValueError, match="same held-out tasks"):
        decide(evaluation("a", [1.0]), evaluation("b", [1.0, 0.0]), reward_model)
