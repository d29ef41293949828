from __future__ import annotations

import pickle

import pytest

from tests.rewards.factories import example, model

QUOTE = {
    "name": "quote",
    "kind": "field_match",
    "path": "output.quote_id",
    "expected": "expected.choice_quote_id",
    "weight": 3,
}
REF = {
    "name": "ref",
    "kind": "string_check",
    "path": "output.confirmation",
    "op": "contains",
    "expected": "output.booking_reference",
}
NA = {"name": "na", "kind": "constraint", "expr": "true", "when": "false"}
ERR = {"name": "err", "kind": "constraint", "expr": "output.quote_id + 1"}
DENIED = {
    "name": "denied",
    "when": "output.status == 'booked' and expected.cleared == false",
    "cap": 0.0,
}


def test_weighted_sum_renormalises_over_applicable_graders() -> None:
    rm = model(QUOTE, REF, NA)
    ex = example({"quote_id": "Q2", "confirmation": "BK-1 ok", "booking_reference": "BK-1"})
    assert rm.score(ex).total == pytest.approx(1 / 4)


def test_min_and_product() -> None:
    ex = example({"quote_id": "Q1", "confirmation": "nothing", "booking_reference": "BK-1"})
    assert model(QUOTE, REF, combine={"method": "min"}).reward(ex) == 0.0
    half = {"name": "h", "kind": "constraint", "expr": "0.5"}
    assert (
        model(QUOTE, half, half | {"name": "h2"}, combine={"method": "product"}).reward(ex) == 0.25
    )


def test_nothing_applies_gives_none_and_errors_count_as_zero() -> None:
    assert model(NA).reward(example()) is None
    score = model(QUOTE, ERR).score(example())
    assert score.total == pytest.approx(3 / 4)
    assert "err" in score.errors


def test_penalty_caps_the_reward() -> None:
    rm = model(QUOTE, REF, penalties=[DENIED])
    clean = rm.score(example())
    assert clean.total == 1.0 and clean.penalties == []
    denied = rm.score(example(expected={"choice_quote_id": "Q1", "cleared": False}))
    assert denied.total == 0.0 and denied.base == 1.0 and denied.penalties == ["denied"]


def test_batch_and_picklable_trl_adapter() -> None:
    rm = model(QUOTE, REF, penalties=[DENIED])
    fn = pickle.loads(pickle.dumps(rm.as_reward_function()))
    assert fn.__name__ == "test_rm"
    completions = [
        '{"quote_id": "Q1", "booking_reference": "BK-9", "confirmation": "BK-9 done"}',
        [{"role": "assistant", "content": '{"quote_id": "Q7"}'}],
        "not json at all",
    ]
    expected = [{"choice_quote_id": "Q1", "cleared": True}] * 3
    rewards = fn(
        prompts=["p"] * 3,
        completions=completions,
        expected=expected,
        task_id=["t1"] * 3,
        trainer_state=None,
    )
    assert len(rewards) == 3 and all(isinstance(r, float) for r in rewards)
    assert rewards == rm.score_batch(["p"] * 3, completions, expected=expected)
    assert rewards[0] == 1.0 and rewards[1] == 0.0


def test_batch_column_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="column `expected`"):
        model(QUOTE).score_batch(None, ["a", "b"], expected=[{}])
