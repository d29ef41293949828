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
