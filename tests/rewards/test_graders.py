from __future__ import annotations

import pytest

from rewards.graders import GRADERS, LLMJudge
from tests.rewards.factories import example, grade

FM = {
    "name": "g",
    "kind": "field_match",
    "path": "output.quote_id",
    "expected": "expected.choice_quote_id",
}


def test_registry_has_every_kind() -> None:
    assert set(GRADERS) == {
        "field_match",
        "string_check",
        "text_similarity",
        "json_schema",
        "constraint",
        "python",
        "llm_judge",
        "learned",
    }


@pytest.mark.parametrize(
    ("grader", "output", "score"),
    [
        (FM, {"quote_id": "Q1"}, 1.0),
        (FM, {"quote_id": "Q2"}, 0.0),
        (FM, {}, 0.0),
        (FM, "not a mapping", 0.0),
        (dict(FM, mode="casefold"), {"quote_id": "  q1 "}, 1.0),
        (dict(FM, mode="casefold"), {"quote_id": None}, 0.0),
        (
            {
                "name": "g",
                "kind": "field_match",
                "path": "output.price_usd",
                "expected": "expected.price",
                "mode": "numeric",
                "tolerance": 5,
            },
            {"price_usd": 1204},
            1.0,
        ),
        (
            {
                "name": "g",
                "kind": "field_match",
                "path": "output.price_usd",
                "expected": "expected.price",
                "mode": "numeric",
                "tolerance": 5,
            },
            {"price_usd": "1,206"},
            0.0,
        ),
        (
            {
                "name": "g",
                "kind": "field_match",
                "path": "output.price_usd",
                "expected": "expected.price",
                "mode": "numeric",
                "tolerance": 0.01,
                "relative": True,
            },
            {"price_usd": 1210},
            1.0,
        ),
        (
            {
                "name": "g",
                "kind": "field_match",
                "path": "output.price_usd",
                "expected": "expected.price",
                "mode": "numeric",
            },
            {"price_usd": True},
            0.0,
        ),
        (
            {
                "name": "g",
                "kind": "field_match",
                "path": "output.price_usd",
                "expected": "expected.price",
                "mode": "numeric",
            },
            {"price_usd": "NaN"},
            0.0,
        ),
    ],
)
def test_field_match(grader, output, score) -> None:  # type: ignore[no-untyped-def]
    assert grade(grader, example(output)).score == score


def test_field_match_does_not_apply_without_expected_value() -> None:
    result = grade(FM, example(expected={}))
    assert result.score is None and "no expected value" in result.reason


def test_when_false_means_not_applicable() -> None:
    result = grade(dict(FM, when="output.status == 'refused'"))
    assert result.score is None


SC = {"name": "g", "kind": "string_check", "path": "output.confirmation"}


@pytest.mark.parametrize(
    ("extra", "score"),
    [
        ({"op": "contains", "expected": "output.booking_reference"}, 1.0),
        ({"op": "contains", "value": "bk-1"}, 0.0),
        ({"op": "contains", "value": "bk-1", "case_sensitive": False}, 1.0),
        ({"op": "equals", "value": "Booking BK-1 is confirmed."}, 1.0),
        ({"op": "regex", "value": r"^Booking BK-\d+"}, 1.0),
        ({"op": "regex", "value": r"absolutely right", "negate": True}, 1.0),
        ({"op": "regex", "value": r"BOOKING", "case_sensitive": False}, 1.0),
    ],
)
def test_string_check(extra, score) -> None:  # type: ignore[no-untyped-def]
    assert grade(SC | extra).score == score


def test_string_check_missing_text() -> None:
    ex = example({"status": "refused"})
    assert grade(SC | {"op": "contains", "value": "x"}, ex).score == 0.0
    assert grade(SC | {"op": "contains", "value": "x", "negate": True}, ex).score is None


TS = {
    "name": "g",
    "kind": "text_similarity",
    "path": "output.confirmation",
    "value": "Booking BK-1 is confirmed.",
}


@pytest.mark.parametrize("metric", ["ratio", "bleu", "rouge_l"])
def test_text_similarity_identical_and_empty(metric: str) -> None:
    assert grade(TS | {"metric": metric}).score == pytest.approx(1.0)
    assert grade(TS | {"metric": metric}, example({"confirmation": ""})).score == 0.0
    partial = grade(TS | {"metric": metric}, example({"confirmation": "Booking BK-1 cancelled"}))
    assert 0.0 < partial.score < 1.0


def test_text_similarity_matches_the_libraries() -> None:
    import sacrebleu
    from rapidfuzz import fuzz
    from rouge_score import rouge_scorer

    hyp, ref = "the booking is confirmed today", "Booking BK-1 is confirmed."
    ex = example({"confirmation": hyp})
    assert grade(TS | {"metric": "ratio"}, ex).score == pytest.approx(fuzz.ratio(hyp, ref) / 100)
    assert grade(TS | {"metric": "bleu"}, ex).score == pytest.approx(
        sacrebleu.sentence_bleu(hyp, [ref]).score / 100, abs=1e-6
    )
    rl = rouge_scorer.RougeScorer(["rougeL"]).score(ref, hyp)["rougeL"].fmeasure
    assert grade(TS | {"metric": "rouge_l"}, ex).score == pytest.approx(rl, abs=1e-6)


def test_text_similarity_without_reference() -> None:
    g = {
        "name": "g",
        "kind": "text_similarity",
        "path": "output.confirmation",
        "expected": "expected.text",
    }
    assert grade(g).score is None


JS = {
    "name": "g",
    "kind": "json_schema",
    "path": "output",
    "schema": {
        "type": "object",
        "required": ["quote_id"],
        "properties": {"quote_id": {"type": "string"}},
    },
}


def test_json_schema() -> None:
    assert grade(JS).score == 1.0
    bad = grade(JS, example({"quote_id": 3}))
    assert bad.score == 0.0 and "quote_id" in bad.reason
    assert grade(JS, example("plain text")).score == 0.0
    text = grade(JS | {"path": "completion"}, example(completion='{"quote_id": "Q"}'))
    assert text.score == 1.0
    assert grade(JS | {"path": "completion"}, example(completion="{oops")).score == 0.0


@pytest.mark.parametrize(
    ("expr", "score"),
    [
        ("output.status == 'booked' and expected.cleared", 1.0),
        ("output.price_usd < 1000", 0.0),
        ("output.price_usd / 2400", 0.5),
        ("output.price_usd", 1.0),  # clipped
        ("output.missing", 0.0),
        ("len(output.confirmation) < 100", 1.0),
    ],
)
def test_constraint(expr: str, score: float) -> None:
    assert grade({"name": "g", "kind": "constraint", "expr": expr}).score == score


def test_constraint_runtime_error_is_recorded() -> None:
    result = grade({"name": "g", "kind": "constraint", "expr": "output.quote_id + 1"})
    assert result.score is None and "cannot evaluate" in result.error


PY = {"name": "g", "kind": "python"}


def test_python_grader() -> None:
    fn = "tests.rewards.graders_support:long_confirmation"
    result = grade(PY | {"function": fn, "params": {"limit": 5}})
    assert result.score == 1.0 and result.reason == "26 characters"
    assert grade(PY | {"function": "tests.rewards.graders_support.not_applicable"}).score is None


@pytest.mark.parametrize(
    ("function", "error"),
    [("boom", "RuntimeError: kaboom"), ("slow", "timed out"), ("out_of_range", "outside [0, 1]")],
)
def test_python_grader_errors_are_recorded(function: str, error: str) -> None:
    g = PY | {"function": f"tests.rewards.graders_support:{function}", "timeout_seconds": 0.2}
    result = grade(g)
    assert result.score is None and error in result.error


class FakeJudge:
    def __init__(self, scores: list[int | Exception]) -> None:
        self.scores = scores
        self.calls: list[dict] = []

    def complete(self, messages, *, schema, temperature, max_tokens, seed):  # type: ignore[no-untyped-def]
        self.calls.append({"messages": messages, "schema": schema, "seed": seed})
        value = self.scores[seed]
        if isinstance(value, Exception):
            raise value

        class Call:
            parsed = {"score": value, "reason": "fine"}

        return Call()


def test_llm_judge_averages_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    judge = FakeJudge([5, 3, RuntimeError("down")])
    monkeypatch.setattr(LLMJudge, "client_factory", staticmethod(lambda spec: judge))
    g = {
        "name": "g",
        "kind": "llm_judge",
        "samples": 3,
        "scale": 5,
        "rubric": "Is this polite? {{ output.confirmation }}",
    }
    result = grade(g)
    assert result.score == pytest.approx((1.0 + 0.5) / 2)
    assert "over 2 sample(s) (1 failed: RuntimeError: down)" in result.reason
    assert "Booking BK-1" in judge.calls[0]["messages"][1]["content"]
    assert judge.calls[0]["schema"]["properties"]["score"]["maximum"] == 5
    assert [c["seed"] for c in judge.calls] == [0, 1, 2]


def test_llm_judge_all_samples_failing_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    judge = FakeJudge([RuntimeError("down")])
    monkeypatch.setattr(LLMJudge, "client_factory", staticmethod(lambda spec: judge))
    result = grade({"name": "g", "kind": "llm_judge", "samples": 1, "rubric": "x"})
    assert result.score is None and "down" in result.error
