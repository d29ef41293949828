"""The shipped logistics reward model and its labelled set."""

from __future__ import annotations

from pathlib import Path

from forgeyard.records.rewards import RewardModelStatus
from rewards import RewardModel, load_reward_spec
from rewards.dataset import read_dataset, write_dataset
from rewards.evaluate import evaluate
from rewards.examples.logistics_booking.build_dataset import DATASET, build
from rewards.store import create_evaluation, get_version, register, run_evaluation

SPEC = Path(DATASET).with_name("reward.yaml")


def test_shipped_set_is_what_the_builder_writes(tmp_path: Path) -> None:
    examples, preferences = build()
    write_dataset(tmp_path / "d.jsonl", examples, preferences)
    assert (tmp_path / "d.jsonl").read_text() == DATASET.read_text()
    assert len(examples) >= 60 and all(ex.label is not None for ex in examples)


def test_the_example_reward_model_is_approved_on_its_labelled_set(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    version = register(load_reward_spec(SPEC))
    evaluation = run_evaluation(create_evaluation(version.id, dataset=DATASET).id)
    report = evaluation.report
    assert report["dataset"]["problems"] == []
    assert report["gate"]["passed"], report["gate"]
    assert get_version(version.id).status == RewardModelStatus.approved


def test_a_denied_booking_is_floored_whatever_else_is_right() -> None:
    rm = RewardModel(load_reward_spec(SPEC))
    ds = read_dataset(DATASET)
    denied = [ex for ex in ds.examples if ex.task["answer"] == "booked_denied"]
    assert denied
    for ex in denied:
        score = rm.score(ex)
        assert score.total == 0.0 and "denied_destination" in score.penalties


def test_every_probe_is_caught_on_correct_bookings() -> None:
    rm = RewardModel(load_reward_spec(SPEC))
    ds = read_dataset(DATASET)
    correct = [ex for ex in ds.examples if ex.task["answer"] == "correct"]
    report = evaluate(rm, correct)
    assert report["hack_probes"]["pass_rate"] == 1.0
    assert all(p["applied"] > 0 for p in report["hack_probes"]["per_probe"].values())


def test_without_ground_truth_only_the_checks_that_need_none_apply() -> None:
    rm = RewardModel(load_reward_spec(SPEC))
    ex = next(
        e
        for e in read_dataset(DATASET).examples
        if e.task["answer"] == "correct" and e.output["status"] == "booked"
    )
    ex.expected = None
    score = rm.score(ex)
    applied = {n for n, r in score.graders.items() if r.score is not None}
    assert applied == {
        "confirmation_reference",
        "confirmation_details",
        "confirmation_concise",
        "no_flattery",
    }
    assert score.total == 1.0 and not score.errors


def _by_kind(kind: str) -> list:  # type: ignore[type-arg]
    return [ex for ex in read_dataset(DATASET).examples if ex.task["answer"] == kind]


def _correct(task_id: str):  # type: ignore[no-untyped-def]
    return next(ex for ex in _by_kind("correct") if ex.group == task_id)


def test_hazardous_cargo_booked_without_a_persons_approval_is_floored() -> None:
    rm = RewardModel(load_reward_spec(SPEC))
    cases = [
        ex
        for kind in (
            "hazardous_policy_approved",
            "hazardous_approved_as_harmless",
            "hazardous_unapproved",
        )
        for ex in _by_kind(kind)
    ]
    assert len(cases) == 3 and all(ex.label == 0.0 for ex in cases)
    for ex in cases:
        score = rm.score(ex)
        assert score.total == 0.0 and "hazardous_without_approval" in score.penalties
        # The same booking, signed off by a person who was told of the hazard, is right.
        right = _correct(ex.group)
        assert right.state["approval"]["by"] != "policy"
        assert right.state["validation"]["request"]["hazardous"] is True
        assert rm.score(right).total == 1.0


def test_an_empty_confirmation_and_a_wrong_price_score_as_the_rubric_labels_them() -> None:
    rm = RewardModel(load_reward_spec(SPEC))
    empty, wrong = _by_kind("empty_confirmation"), _by_kind("wrong_price")
    # Blank, whitespace, null and absent confirmations; three kinds of wrong price.
    assert {repr(ex.output.get("confirmation", "absent")) for ex in empty} == {
        "''", "'   '", "None", "'absent'"
    }  # fmt: skip
    assert len(wrong) == 3 and all(ex.label == 0.2 for ex in wrong)
    for ex in empty:
        score = rm.score(ex)
        assert ex.label == 0.3 and score.total == 0.35 and "no_confirmation" in score.penalties
    for ex in wrong:
        assert ex.output["quote_id"] == ex.expected["choice_quote_id"]
        assert ex.output["price_usd"] != ex.expected["choice_price_usd"]
        score = rm.score(ex)
        assert score.total == 0.3 and "wrong_price" in score.penalties
    # Ranked as the rubric ranks them: a wrong price below an empty confirmation,
    # both far below the right booking of the same task.
    for ex in empty + wrong:
        assert rm.score(_correct(ex.group)).total == 1.0


def test_the_figures_quoted_in_the_readme_and_docs_are_measured() -> None:
    report = evaluate(
        RewardModel(load_reward_spec(SPEC)),
        *(lambda ds: (ds.examples, ds.preferences))(read_dataset(DATASET)),
    )
    ag, hp = report["agreement"], report["hack_probes"]
    quoted = (
        f"ρ {ag['spearman']:.3f}, τ {ag['kendall']:.3f}, κ {ag['cohen_kappa']:.3f}, "
        f"pairwise accuracy {ag['pairwise_accuracy']:.3f}, hack-probe pass rate "
        f"{hp['pass_rate']:.3f}"
    )
    root = Path(__file__).resolve().parents[3]
    for doc in ("README.md", "docs/rewards.md"):
        text = " ".join((root / doc).read_text().split())
        assert quoted in text, (doc, quoted)
    assert f"{report['dataset']['examples']}-example" in " ".join(
        (root / "README.md").read_text().split()
    )
