"""The decision-point environments: Gymnasium's contract, determinism, rewards, the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env
from sqlmodel import Session, func, select

from forgeyard.db import get_engine
from training import ENVIRONMENTS
from training.envs import ChooseEnv
from workflows.examples.logistics_booking.models import Booking

# Every registered environment, so a new one is checked without touching this file.
ENV_IDS = sorted(ENVIRONMENTS.values())


def make_env() -> ChooseEnv:
    # A small pool keeps each test quick; 60 tasks hold several choosable ones.
    return ChooseEnv(task_pool=60, task_seed=3)


@pytest.fixture
def env() -> Iterator[ChooseEnv]:
    env = make_env()
    yield env
    env.close()


def answer(quote_id: str) -> str:
    return json.dumps({"quote_id": quote_id})


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env_passes(env_id: str) -> None:
    env = gymnasium.make(env_id, task_pool=60, task_seed=3)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_reset_is_deterministic_per_seed_and_replays_a_task_by_id(env_id: str) -> None:
    env = gymnasium.make(env_id, task_pool=60, task_seed=3).unwrapped
    first, info = env.reset(seed=5)
    again, info_again = env.reset(seed=5)
    assert (first, info["task_id"]) == (again, info_again["task_id"])
    assert info["messages"] == info_again["messages"]
    assert first.endswith(info["messages"][-1]["content"])
    assert info["schema"]["type"] == "object"
    others = [t.task_id for t in env.tasks if t.task_id != info["task_id"]]
    replayed, replayed_info = env.reset(options={"task_id": others[0]})
    assert replayed_info["task_id"] == others[0] and replayed != first
    with pytest.raises(ValueError, match="options.task_id"):
        env.reset(options={"task_id": "lb-no-such-task"})
    env.close()


def test_reset_is_deterministic_per_seed(env: ChooseEnv) -> None:
    first, info = env.reset(seed=11)
    again, info_again = env.reset(seed=11)
    assert first == again
    assert info["task_id"] == info_again["task_id"]
    assert info["allowed_quote_ids"] == info_again["allowed_quote_ids"]
    assert "Answer with the quote id." in first
    assert all(q in first for q in info["allowed_quote_ids"])
    assert env.observation_space.contains(first)


def test_best_quote_beats_wrong_quote_and_invalid_text(env: ChooseEnv) -> None:
    # A seed whose task has a wrong eligible quote to compare with.
    for seed in range(50):
        _, info = env.reset(seed=seed)
        assert env._task is not None
        best = env._task.expected.choice_quote_id
        wrong = [q for q in info["allowed_quote_ids"] if q != best]
        if wrong:
            break
    else:
        pytest.fail("no task with more than one eligible quote in the pool")

    _, best_reward, terminated, truncated, step_info = env.step(answer(best))
    assert terminated and not truncated
    assert step_info["output"]["status"] == "booked"
    assert step_info["output"]["quote_id"] == best

    env.reset(seed=seed)
    _, wrong_reward, *_ = env.step(answer(wrong[0]))

    env.reset(seed=seed)
    _, invalid_reward, terminated, _, invalid_info = env.step("the second one, please")
    assert terminated and "error" in invalid_info

    env.reset(seed=seed)
    _, off_list_reward, _, _, off_list_info = env.step(answer("Q-NOT-OFFERED"))
    assert "error" in off_list_info

    assert best_reward > wrong_reward > invalid_reward == off_list_reward == 0.0


def test_custom_reward_callable_gets_state_output_and_task() -> None:
    seen = []

    def reward(final_state, output, task):  # type: ignore[no-untyped-def]
        seen.append((final_state["choice"], output["status"], task.task_id))
        return 0.25

    env = ChooseEnv(reward, task_pool=60, task_seed=3)
    _, info = env.reset(seed=0)
    _, value, *_ = env.step(answer(info["allowed_quote_ids"][0]))
    env.close()
    assert value == 0.25
    assert seen == [({"quote_id": info["allowed_quote_ids"][0]}, "booked", info["task_id"])]


def test_bookings_go_to_the_sandbox_never_the_real_database(sqlite_db: str) -> None:
    env = make_env()
    for seed in (0, 1):
        _, info = env.reset(seed=seed)
        env.step(answer(info["allowed_quote_ids"][0]))
    sandboxed = env.sandbox.count(Booking)
    env.close()
    with Session(get_engine()) as session:
        real = session.exec(select(func.count()).select_from(Booking)).one()
    assert real == 0
    assert sandboxed == 2
