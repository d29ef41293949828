from __future__ import annotations

import json

import pytest
from scipy import stats

from rewards.dataset import Preference
from rewards.evaluate import evaluate
from rewards.spec import DEFAULT_THRESHOLDS
from tests.rewards.factories import example, model

QUOTE = {
    "name": "quote",
    "kind": "field_match",
    "path": "output.quote_id",
    "expected": "expected.choice_quote_id",
}
REF = {
    "name": "ref",
    "kind": "string_check",
    "path": "output.confirmation",
    "op": "contains",
    "expected": "output.booking_reference",
}
SHORT = {"name": "short", "kind": "constraint", "expr": "len(output.confirmation or '') < 80"}
POLITE = {
    "name": "polite",
    "kind": "string_check",
    "path": "output.confirmation",
    "op": "regex",
    "value": "absolutely right",
    "negate": True,
    "case_sensitive": False,
}


def answers() -> list:  # type: ignore[type-arg]
    good = {"quote_id": "Q1", "booking_reference": "BK-1", "confirmation": "BK-1 booked."}
    return [
        example(good, label=1.0, id="a", group="t1"),
        example(good | {"quote_id": "Q2"}, label=0.6, id="b", group="t1"),
        example(good | {"confirmation": "Booked."}, label=0.7, id="c", group="t2"),
        example(good | {"quote_id": "Q3", "confirmation": "ok"}, label=0.0, id="d", group="t2"),
        example(good, label=0.9, id="e", group="t3"),
        example(good, label=None, id="f", group="t3"),
    ]


def test_report_figures_match_an_independent_computation() -> None:
    rm = model(QUOTE, REF, SHORT, POLITE, thresholds={"spearman": 0.5, "hack_pass_rate": 0.9})
    exs = answers()
    prefs = [Preference("a", "b"), Preference("c", "d"), Preference("b", "a")]
    report = evaluate(rm, exs, prefs)
    # By hand: the four graders, equal weights.
    totals = {"a": 1.0, "b": 0.75, "c": 0.75, "d": 0.5, "e": 1.0, "f": 1.0}
    assert {e["id"]: e["total"] for e in report["per_example"]} == totals
    labelled = [(totals[i], lab) for i, lab in zip("abcde", [1, 0.6, 0.7, 0, 0.9], strict=True)]
    r, lab = zip(*labelled, strict=True)
    agreement = report["agreement"]
    assert agreement["spearman"] == pytest.approx(stats.spearmanr(r, lab).statistic)
    assert agreement["kendall"] == pytest.approx(stats.kendalltau(r, lab).statistic)
    assert agreement["pairwise_accuracy"] == pytest.approx((1 + 1 + 0) / 3)
    assert report["scores"]["total"]["mean"] == pytest.approx(sum(totals.values()) / 6)
    # Probes: each degraded answer here scores lower except none; all groups vary.
    probes = report["hack_probes"]
    assert probes["applied"] > 0 and probes["pass_rate"] == pytest.approx(
        1 - probes["not_lower"] / probes["applied"]
    )
    zv = report["zero_variance"]
    assert zv["method"] == "task groups" and zv["groups"] == 3 and zv["zero_variance_groups"] == 1
    assert report["gate"]["checks"][0]["check"] == "spearman"
    json.dumps(report)  # JSON-ready


def test_a_gameable_model_fails_the_probes_and_the_gate() -> None:
    # Only checks that the reference is mentioned: padding and flattery keep full reward.
    rm = model(
        REF, thresholds={"hack_pass_rate": 0.95}, probes={"text_paths": ["output.confirmation"]}
    )
    report = evaluate(rm, answers())
    per = report["hack_probes"]["per_probe"]
    assert per["padding"]["share_not_lower"] == 1.0
    assert per["flattery"]["share_not_lower"] == 1.0
    # Empty: no grader applies, reward None; TRL gives such an answer zero advantage,
    # so it is not pushed down either: reported as not lower.
    assert per["empty"]["share_not_lower"] == 1.0
    assert report["gate"]["passed"] is False


def test_unmeasurable_threshold_fails_and_problems_are_carried() -> None:
    from rewards.dataset import LineProblem

    rm = model(QUOTE, thresholds={"kendall": 0.1, "min_labelled": 1})
    exs = [example(id="x"), example(id="y")]
    report = evaluate(rm, exs, problems=[LineProblem("d", 3, "bad")])
    assert report["dataset"]["problems"] == [{"line": 3, "message": "bad"}]
    checks = {c["check"]: c for c in report["gate"]["checks"]}
    assert checks["kendall"]["value"] is None and not checks["kendall"]["passed"]
    assert report["zero_variance"]["method"] == "answer and its probe variants"


def test_progress_is_reported() -> None:
    seen: list[float] = []
    evaluate(model(QUOTE), answers(), progress=lambda f, _m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)


def test_probes_skip_answers_at_or_below_min_reward() -> None:
    rm = model(QUOTE, REF, probes={"min_reward": 0.6})
    report = evaluate(rm, answers())
    # b and c (0.5) and d (0) are not probed; the three right answers are.
    assert report["hack_probes"]["min_reward"] == 0.6
    assert report["hack_probes"]["per_probe"]["empty"]["applied"] == 3


SLOW = {
    "name": "slow",
    "kind": "python",
    "function": "tests.rewards.graders_support:slow",
    "timeout_seconds": 0.01,
}


def labelled(n: int = 24) -> list:  # type: ignore[type-arg]
    """``n`` answers, right and wrong quotes alternately, labelled accordingly."""
    return [
        example({"quote_id": "Q2" if i % 2 else "Q1"}, id=f"x{i}", label=0.0 if i % 2 else 1.0)
        for i in range(n)
    ]


def test_a_spec_without_thresholds_is_held_to_the_defaults() -> None:
    # A grader timing out on every example used to be approved: nothing was checked.
    report = evaluate(model(QUOTE, SLOW), labelled())
    gate = report["gate"]
    assert gate["passed"] is False
    checks = {c["check"]: c for c in gate["checks"]}
    assert set(checks) == set(DEFAULT_THRESHOLDS) == set(gate["defaults_applied"])
    assert all(c["source"] == "default" for c in checks.values())
    assert checks["max_grader_error_rate"]["value"] == 1.0
    assert not checks["max_grader_error_rate"]["passed"]
    assert report["scores"]["worst_grader"] == "slow"


def test_spec_thresholds_replace_the_defaults_and_say_so() -> None:
    rm = model(QUOTE, thresholds={"spearman": 0.9, "kendall": 0.8, "min_labelled": 24})
    gate = evaluate(rm, labelled())["gate"]
    sources = {c["check"]: (c["source"], c["threshold"]) for c in gate["checks"]}
    assert sources == {
        "spearman": ("spec", 0.9),
        "kendall": ("spec", 0.8),
        "min_labelled": ("spec", 24),
    } | {
        name: ("default", DEFAULT_THRESHOLDS[name])
        for name in ("hack_pass_rate", "max_grader_error_rate", "max_inapplicable_share")
    }
    assert gate["passed"] is True


def test_fewer_than_the_minimum_examples_are_refused() -> None:
    from rewards import DatasetError

    with pytest.raises(DatasetError, match=r"d.jsonl has 1 example\(s\); .* at least 2"):
        evaluate(model(QUOTE), [example(id="only")], source="d.jsonl")


def test_grader_errors_are_counted_apart_from_not_applying() -> None:
    # Indexing a missing list is an error; `when` false is "does not apply".
    fragile = {"name": "fragile", "kind": "constraint", "expr": "output.items[0] > 1"}
    scoped = {"name": "scoped", "kind": "constraint", "expr": "true", "when": "false"}
    exs = labelled(24)
    exs[0].output = exs[0].output | {"items": [5]}  # the only one it can read
    report = evaluate(model(QUOTE, fragile, scoped), exs)
    graders = report["scores"]["graders"]
    assert (graders["fragile"]["count"], graders["fragile"]["none"]) == (1, 0)
    assert graders["fragile"]["errors"] == 23 and graders["fragile"]["error_rate"] == 23 / 24
    assert (graders["scoped"]["none"], graders["scoped"]["errors"]) == (24, 0)
    assert set(report["per_example"][1]["errors"]) == {"fragile"}
    assert report["scores"]["grader_errors"] == 23
    check = next(c for c in report["gate"]["checks"] if c["check"] == "max_grader_error_rate")
    assert check["value"] == 23 / 24 and not check["passed"]


@pytest.mark.parametrize(("broken", "passed"), [(1, True), (2, False)])
def test_the_error_share_a_spec_allows(broken: int, passed: bool) -> None:
    fragile = {"name": "fragile", "kind": "constraint", "expr": "output.items[0] > 1"}
    exs = labelled(20)
    for ex in exs[broken:]:
        ex.output = ex.output | {"items": [5]}
    rm = model(QUOTE, fragile, thresholds={"max_grader_error_rate": 0.05})
    check = next(
        c for c in evaluate(rm, exs)["gate"]["checks"] if c["check"] == "max_grader_error_rate"
    )
    assert check["value"] == broken / 20 and check["passed"] is passed


GOOD_BOOKING = {"status": "booked", "quote_id": "Q1", "hazardous": False}


def test_a_penalty_on_absent_fields_is_reported_and_fails_the_gate() -> None:
    # `expected.hazmat` is in no example (the data says `hazardous`): the rule never
    # fires. It used to be silent; now each example says so, and the gate fails.
    penalty = {"name": "hazmat", "when": "output.status == 'booked' and expected.hazmat", "cap": 0}
    exs = labelled(24)
    for ex in exs:
        ex.output = GOOD_BOOKING | ex.output
    report = evaluate(model(QUOTE, penalties=[penalty]), exs)
    inapplicable = report["scores"]["inapplicable"]
    assert inapplicable["penalties"] == {"hazmat": 24}
    assert inapplicable["worst"] == "hazmat" and inapplicable["worst_share"] == 1.0
    assert report["per_example"][0]["inapplicable"] == {"hazmat": "read absent expected.hazmat"}
    check = next(c for c in report["gate"]["checks"] if c["check"] == "max_inapplicable_share")
    assert (check["source"], check["passed"]) == ("default", False)
    # Where the rule's other condition already decides, nothing absent is read.
    refused = example({"status": "refused"}, id="r")
    assert model(QUOTE, penalties=[penalty]).score(refused).inapplicable == {}


def test_inapplicable_graders_are_told_from_graders_out_of_scope() -> None:
    # An answer without `x` is the agent's doing, not missing data: out of scope.
    scoped = {"name": "scoped", "kind": "constraint", "expr": "true", "when": "output.x == 1"}
    misspelt = {"name": "misspelt", "kind": "constraint", "expr": "true", "when": "expected.hazmat"}
    price = {
        "name": "price",
        "kind": "field_match",
        "path": "output.price_usd",
        "expected": "expected.price_usd",  # the data calls it `price`
    }
    exs = labelled(24)
    exs[0].output = exs[0].output | {"x": 2}
    report = evaluate(
        model(QUOTE, scoped, misspelt, price, thresholds={"max_inapplicable_share": 1}), exs
    )
    counts = report["scores"]["inapplicable"]["graders"]
    assert counts == {"quote": 0, "scoped": 0, "misspelt": 24, "price": 24}
    assert report["per_example"][0]["inapplicable"] == {
        "misspelt": "does not apply: `when` read absent expected.hazmat",
        "price": "no expected value at `expected.price_usd`",
    }
    check = next(c for c in report["gate"]["checks"] if c["check"] == "max_inapplicable_share")
    assert (check["source"], check["threshold"], check["passed"]) == ("spec", 1, True)


@pytest.mark.parametrize(("missing", "passed"), [(6, True), (7, False)])
def test_the_inapplicable_share_allowed_by_default(missing: int, passed: bool) -> None:
    price = {
        "name": "price",
        "kind": "field_match",
        "path": "output.price_usd",
        "expected": "expected.price",
    }
    exs = labelled(24)
    for ex in exs[:missing]:
        ex.expected = {"choice_quote_id": "Q1"}
    report = evaluate(model(QUOTE, price), exs)
    check = next(c for c in report["gate"]["checks"] if c["check"] == "max_inapplicable_share")
    assert check["value"] == missing / 24 and check["passed"] is passed
