"""The ``extract`` environment: observation, parsing, the rule-answered ``choose``, rewards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, func, select

from forgeyard.db import get_engine
from training.extract_env import EXTRACTED_FIELDS, ExtractEnv, reference_extraction
from workflows.examples.logistics_booking.models import Booking
from workflows.examples.logistics_booking.tasks import BookingTask


def make_env(**kwargs: Any) -> ExtractEnv:
    # 40 tasks hold 12 free-text ones, of every scenario (standard, invalid, denied, hazardous).
    return ExtractEnv(task_pool=40, task_seed=3, **kwargs)


@pytest.fixture
def env() -> Iterator[ExtractEnv]:
    env = make_env()
    yield env
    env.close()


def bookable(env: ExtractEnv) -> BookingTask:
    """The first task a right reading books."""
    for task in env.tasks:
        if isinstance(task, BookingTask) and task.expected.choice_quote_id is not None:
            return task
    raise AssertionError("no bookable free-text task in the pool")


def other_port(task: BookingTask) -> str:
    request = task.expected.request
    assert request is not None
    return next(p for p in ("NLRTM", "SGSIN", "USLAX") if p not in request.values())


def test_pool_is_every_free_text_task(env: ExtractEnv) -> None:
    assert env.tasks and all(t.free_text for t in env.tasks)
    assert {t.scenario for t in env.tasks} == {"standard", "invalid", "denied", "hazardous"}


def test_observation_is_the_extract_prompt_with_the_shippers_message(env: ExtractEnv) -> None:
    obs, info = env.reset(seed=2)
    task = next(t for t in env.tasks if t.task_id == info["task_id"])
    assert task.input["text"] in obs
    assert [m["role"] for m in info["messages"]] == ["system", "user"]
    assert "UN/LOCODEs" in info["messages"][0]["content"]
    assert set(info["schema"]["required"]) == set(EXTRACTED_FIELDS)
    assert info["ground_truth"] is True
    assert env.observation_space.contains(obs)


def test_right_reading_books_the_expected_quote_and_outscores_wrong_and_invalid(
    env: ExtractEnv,
) -> None:
    task = bookable(env)
    right = reference_extraction(task)
    assert right is not None and env.action_space.contains(json.dumps(right))

    env.reset(options={"task_id": task.task_id})
    _, right_reward, terminated, truncated, info = env.step(json.dumps(right))
    assert terminated and not truncated and "error" not in info
    # `choose` is answered by the workflow's rule, so the booked quote is the expected one.
    assert info["output"]["status"] == "booked"
    assert info["output"]["quote_id"] == task.expected.choice_quote_id

    env.reset(options={"task_id": task.task_id})
    _, wrong_reward, _, _, wrong_info = env.step(
        json.dumps(right | {"destination": other_port(task)})
    )
    assert "error" not in wrong_info

    env.reset(options={"task_id": task.task_id})
    _, prose_reward, _, _, prose_info = env.step("It goes to Rotterdam, 2 boxes.")
    assert prose_info["error"].startswith("not a valid `extract` output")

    env.reset(options={"task_id": task.task_id})
    partial = {k: v for k, v in right.items() if k != "shipper"}
    _, partial_reward, _, _, partial_info = env.step(json.dumps(partial))
    assert "'shipper' is a required property" in partial_info["error"]

    assert right_reward == 1.0
    assert right_reward > wrong_reward >= prose_reward == partial_reward == 0.0


def test_reading_an_incomplete_request_right_asks_the_shipper(env: ExtractEnv) -> None:
    task = next(t for t in env.tasks if isinstance(t, BookingTask) and not t.expected.valid)
    assert reference_extraction(task) is None  # the ground truth holds no request to read back
    env.reset(options={"task_id": task.task_id})
    nothing = {name: None for name in EXTRACTED_FIELDS} | {"hazardous": False}
    _, reward, _, _, info = env.step(json.dumps(nothing))
    assert info["output"]["status"] == "needs_information"
    assert reward > 0.0


def test_reading_a_denied_request_right_is_refused_with_full_reward(env: ExtractEnv) -> None:
    task = next(t for t in env.tasks if t.expected is not None and t.expected.cleared is False)
    env.reset(options={"task_id": task.task_id})
    _, reward, _, _, info = env.step(json.dumps(reference_extraction(task)))
    assert info["output"]["status"] == "refused"
    assert reward == 1.0


def test_custom_reward_sees_the_extraction_in_the_final_state() -> None:
    seen: list[tuple[Any, str]] = []

    def reward(final_state, output, task):  # type: ignore[no-untyped-def]
        seen.append((final_state["extracted"], task.task_id))
        return 0.5

    env = make_env(reward_fn=reward)
    task = bookable(env)
    env.reset(options={"task_id": task.task_id})
    _, value, *_ = env.step(json.dumps(reference_extraction(task)))
    env.close()
    assert value == 0.5
    assert seen == [(reference_extraction(task), task.task_id)]


def test_bookings_go_to_the_sandbox_never_the_real_database(sqlite_db: str) -> None:
    env = make_env()
    task = bookable(env)
    for _ in range(2):
        env.reset(options={"task_id": task.task_id})
        _, _, _, _, info = env.step(json.dumps(reference_extraction(task)))
        assert info["output"]["status"] == "booked"
    sandboxed = env.sandbox.count(Booking)
    env.close()
    with Session(get_engine()) as session:
        real = session.exec(select(func.count()).select_from(Booking)).one()
    assert real == 0
    assert sandboxed == 2


def test_a_pool_without_free_text_is_refused() -> None:
    structured = [t for t in ExtractEnv(task_pool=20, task_seed=3).tasks if not t.free_text]
    with pytest.raises(ValueError, match="No free-text task among the 0 given"):
        ExtractEnv(tasks=structured)
