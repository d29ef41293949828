from __future__ import annotations

import json

import pytest

from forgeyard.records.rewards import EvaluationStatus, RewardModelStatus
from rewards import DatasetError, RewardError, RewardModelNotFound
from rewards.dataset import write_dataset
from rewards.evaluate import MIN_EXAMPLES
from rewards.store import (
    create_evaluation,
    get_evaluation,
    get_version,
    list_versions,
    register,
    require_approved,
    run_evaluation,
)
from tests.rewards.factories import example, loaded
from tests.rewards.runs_support import ADDER_RM, adder_run

QUOTE = {
    "name": "quote",
    "kind": "field_match",
    "path": "output.quote_id",
    "expected": "expected.choice_quote_id",
}


def dataset(tmp_path, labels=(1.0, 0.0, 1.0, 0.0)):  # type: ignore[no-untyped-def]
    good, bad = {"quote_id": "Q1"}, {"quote_id": "Q9"}
    # Answers alternate good, bad, good, bad; the labels say what people thought.
    examples = [
        example(bad if i % 2 else good, id=f"e{i}", label=lab) for i, lab in enumerate(labels)
    ]
    path = tmp_path / "d.jsonl"
    write_dataset(path, examples)
    return path


def test_versions_are_content_hashes_per_tenant(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    a = register(loaded(QUOTE))
    assert register(loaded(QUOTE)).id == a.id
    b = register(loaded(QUOTE), tenant_id="acme")
    c = register(loaded(QUOTE, version="2"))
    assert len({a.id, b.id, c.id}) == 3 and a.hash == b.hash != c.hash
    assert get_version(a.hash[:10], tenant_id="default").id == a.id
    assert [v.id for v in list_versions(tenant_id="acme")] == [b.id]
    with pytest.raises(RewardModelNotFound):
        get_version(a.id, tenant_id="acme")


def test_approval_follows_the_latest_evaluation(any_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    version = register(loaded(QUOTE, thresholds={"spearman": 0.9, "min_labelled": 4}))
    with pytest.raises(RewardError, match="not approved"):
        require_approved(version.id)
    seen: list[float] = []
    ev = create_evaluation(version.id, dataset=dataset(tmp_path))
    done = run_evaluation(ev.id, progress=lambda f, _m: seen.append(f))
    assert done.status == EvaluationStatus.succeeded and done.passed and seen[-1] == 1.0
    assert get_evaluation(ev.id).report["agreement"]["spearman"] == pytest.approx(1.0)
    assert require_approved(version.id).status == RewardModelStatus.approved
    # Labels that disagree: the next evaluation fails the gate and demotes the version.
    ev2 = create_evaluation(version.id, dataset=dataset(tmp_path, labels=(0.0, 1.0, 0.0, 1.0)))
    assert run_evaluation(ev2.id).passed is False
    stored = get_version(version.id)
    assert stored.status == RewardModelStatus.draft and stored.latest_evaluation_id == ev2.id


def test_failed_evaluation_is_recorded(sqlite_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    version = register(loaded(QUOTE))
    path = dataset(tmp_path)
    ev = create_evaluation(version.id, dataset=path)
    path.unlink()  # gone by the time a worker runs it
    with pytest.raises(RewardError):
        run_evaluation(ev.id)
    failed = get_evaluation(ev.id)
    assert failed.status == EvaluationStatus.failed and "cannot read" in failed.error


def test_evaluation_request_is_checked(sqlite_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    version = register(loaded(QUOTE))
    with pytest.raises(ValueError, match="exactly one"):
        create_evaluation(version.id)
    with pytest.raises(ValueError, match="unknown run filter"):
        create_evaluation(version.id, runs="colour=red")


def test_evaluation_job_over_runs(any_db) -> None:  # type: ignore[no-untyped-def]
    adder_run(1, 2)
    adder_run(30)
    import io

    from ruamel.yaml import YAML

    buf = io.StringIO()
    YAML().dump(ADDER_RM, buf)
    from rewards import load_reward_spec_text

    version = register(load_reward_spec_text(buf.getvalue()))
    ev = run_evaluation(create_evaluation(version.id, runs="status=succeeded").id)
    report = ev.report
    assert report["dataset"]["examples"] == 2 and report["dataset"]["source"].startswith("runs")
    json.dumps(report)
    # Nobody labelled these runs, and without --tasks `sum` has no ground truth:
    # the default checks of agreement and of the data the graders need fail.
    failed = {c["check"] for c in report["gate"]["checks"] if not c["passed"]}
    assert failed == {"spearman", "min_labelled", "max_inapplicable_share"}
    assert report["scores"]["inapplicable"]["graders"]["sum"] == 2
    assert get_version(version.id).status == RewardModelStatus.draft


def test_runs_get_ground_truth_from_a_tasks_file(sqlite_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    adder_run(1, 2)
    adder_run(2, 2)
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(
        json.dumps({"input": {"a": 1, "b": 2}, "expected": {"sum": 3}})
        + "\n"
        + json.dumps({"input": {"a": 2, "b": 2}, "expected": {"sum": 5}})
        + "\n"
    )
    spec = {
        "name": "sum",
        "kind": "field_match",
        "path": "state.total.sum",
        "expected": "expected.sum",
    }
    version = register(loaded(spec, workflow="adder"))
    ev = run_evaluation(create_evaluation(version.id, runs="limit=10", tasks=tasks).id)
    assert sorted(e["total"] for e in ev.report["per_example"]) == [0.0, 1.0]
    with pytest.raises(ValueError, match="use it with runs"):
        create_evaluation(version.id, dataset=tasks, tasks=tasks)
    tasks.write_text("{oops\n")
    with pytest.raises(RewardError, match="tasks.jsonl:1"):
        run_evaluation(create_evaluation(version.id, runs="limit=10", tasks=tasks).id)


def _approved(tmp_path):  # type: ignore[no-untyped-def]
    version = register(loaded(QUOTE, thresholds={"spearman": 0.9, "min_labelled": 4}))
    assert run_evaluation(create_evaluation(version.id, dataset=dataset(tmp_path)).id).passed
    return get_version(version.id)


def _evaluations() -> int:
    from sqlmodel import select

    from forgeyard.db import session_scope
    from forgeyard.records.rewards import EvaluationRecord

    with session_scope() as session:
        return len(list(session.exec(select(EvaluationRecord))))


@pytest.mark.parametrize("lines", [0, 1])
def test_a_too_small_dataset_is_refused_and_changes_nothing(sqlite_db, tmp_path, lines) -> None:  # type: ignore[no-untyped-def]
    version = _approved(tmp_path)
    before = _evaluations()
    small = tmp_path / "small.jsonl"
    small.write_text(
        "".join(json.dumps(example(id=f"s{i}", label=1.0).to_dict()) + "\n" for i in range(lines))
        + "{broken\n"
    )
    with pytest.raises(DatasetError, match=rf"has {lines} example\(s\) \(1 unreadable line"):
        create_evaluation(version.id, dataset=small)
    with pytest.raises(DatasetError, match=f"at least {MIN_EXAMPLES}"):
        create_evaluation(version.id, dataset_text=small.read_text())
    after = get_version(version.id)
    assert after.status == RewardModelStatus.approved
    assert after.latest_evaluation_id == version.latest_evaluation_id
    assert _evaluations() == before


def test_too_few_runs_fail_the_evaluation_not_the_version(sqlite_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    version = _approved(tmp_path)
    adder_run(1, 2)  # one run of `adder`; the version is for logistics_booking: none match
    ev = create_evaluation(version.id, runs="status=succeeded")
    with pytest.raises(DatasetError, match=r"has 0 example\(s\)"):
        run_evaluation(ev.id)
    assert get_evaluation(ev.id).status == EvaluationStatus.failed
    assert get_version(version.id).status == RewardModelStatus.approved


# -- evaluations are leased worker jobs (forgeyard.leases) -----------------------------
def _expire(evaluation_id: str) -> None:
    """As if the evaluation's worker died (or froze): its lease expired."""
    from datetime import timedelta

    from sqlalchemy import update

    from forgeyard.db import session_scope
    from forgeyard.models import utcnow
    from forgeyard.records.rewards import EvaluationRecord

    with session_scope() as session:
        session.exec(  # type: ignore[call-overload]
            update(EvaluationRecord)
            .where(EvaluationRecord.id == evaluation_id)  # type: ignore[arg-type]
            .values(lease_expires_at=utcnow() - timedelta(seconds=5))
        )


def _take(evaluation_id: str):  # type: ignore[no-untyped-def]
    """Take the evaluation's lease as a worker starting it does."""
    from forgeyard import leases
    from forgeyard.records.rewards import EvaluationRecord

    return leases.acquire(
        EvaluationRecord,
        evaluation_id,
        leases.holder_identity(),
        status=EvaluationStatus.running,
        attempts=EvaluationRecord.attempts + 1,
    )


def test_a_frozen_evaluators_late_writes_raise_lease_lost_and_write_nothing(any_db, tmp_path):  # type: ignore[no-untyped-def]
    from forgeyard.leases import LeaseLost
    from rewards.store import process_evaluation, sweep_evaluations

    version = register(loaded(QUOTE, thresholds={"spearman": 0.9, "min_labelled": 4}))
    ev = create_evaluation(version.id, dataset=dataset(tmp_path))
    frozen = _take(ev.id)
    assert frozen is not None
    assert process_evaluation(ev.id) is None  # a live lease: a redelivered message waits
    _expire(ev.id)
    sent: list[str] = []
    assert sweep_evaluations(lambda e: sent.append(e) or True) == [ev.id] == sent
    assert get_evaluation(ev.id).status == EvaluationStatus.queued
    with pytest.raises(LeaseLost):
        frozen.update(progress=0.5, message="late")
    done = process_evaluation(ev.id)  # the re-sent message
    assert done is not None and done.status == EvaluationStatus.succeeded and done.attempts == 2
    with pytest.raises(LeaseLost):  # the frozen one wakes with its report: refused
        frozen.update(status=EvaluationStatus.failed, error="late")
    stored = get_evaluation(ev.id)
    assert (stored.status, stored.error, stored.progress) == (EvaluationStatus.succeeded, None, 1.0)
    assert get_version(version.id).latest_evaluation_id == ev.id


def test_an_evaluation_whose_workers_keep_dying_is_failed_cleanly(any_db, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from forgeyard.settings import get_settings
    from rewards.store import process_evaluation, sweep_evaluations

    monkeypatch.setenv("FORGEYARD_EVALUATION_MAX_ATTEMPTS", "2")
    get_settings.cache_clear()
    ev = create_evaluation(register(loaded(QUOTE)).id, dataset=dataset(tmp_path))
    for attempt in (1, 2):
        assert _take(ev.id) is not None
        _expire(ev.id)
        sent = sweep_evaluations(lambda e: True)
        assert sent == ([ev.id] if attempt == 1 else [])
    failed = get_evaluation(ev.id)
    assert failed.status == EvaluationStatus.failed and "died 2 time(s)" in (failed.error or "")
    assert process_evaluation(ev.id) is None  # a late message finds nothing to do


def test_a_queued_evaluation_whose_message_was_lost_is_sent_again(any_db, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from forgeyard.settings import get_settings
    from rewards.store import sweep_evaluations

    ev = create_evaluation(register(loaded(QUOTE)).id, dataset=dataset(tmp_path))
    assert sweep_evaluations(lambda e: True) == []  # sent just now
    monkeypatch.setenv("FORGEYARD_REQUEUE_AFTER_SECONDS", "0.001")
    get_settings.cache_clear()
    assert sweep_evaluations(lambda e: True) == [ev.id]
