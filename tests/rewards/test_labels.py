from __future__ import annotations

import json

import pytest

from rewards import LabelError
from rewards.dataset import Preference
from rewards.labels import (
    add_preference,
    add_score,
    apply_labels,
    export_labels,
    import_labels,
    list_labels,
)
from tests.rewards.factories import example
from tests.rewards.runs_support import adder_run


def test_score_and_preference_labels_on_runs(any_db) -> None:  # type: ignore[no-untyped-def]
    a, b, other = adder_run(1, 2), adder_run(1, 2), adder_run(4)
    add_score(run_id=a.id, score=0.9, by="ana")
    add_preference(chosen=a.id, rejected=b.id, by="ana", note="cleaner")
    labels = list_labels(workflow="adder")
    assert [(lab.kind, lab.workflow) for lab in labels] == [
        ("score", "adder"),
        ("preference", "adder"),
    ]
    with pytest.raises(LabelError, match="different tasks"):
        add_preference(chosen=a.id, rejected=other.id, by="ana")
    with pytest.raises(LabelError, match="twice"):
        add_preference(chosen=a.id, rejected=a.id, by="ana")
    with pytest.raises(LabelError, match="No run"):
        add_score(run_id="nope", score=0.5, by="ana")
    with pytest.raises(LabelError, match="No run"):
        add_score(run_id=a.id, score=0.5, by="ana", tenant_id="acme")  # another tenant's run
    with pytest.raises(LabelError, match="between 0 and 1"):
        add_score(run_id=a.id, score=1.5, by="ana")


def test_stored_labels_join_examples(sqlite_db) -> None:  # type: ignore[no-untyped-def]
    add_score(example_id="x", score=1.0, by="ana", workflow="w")
    add_score(example_id="x", score=0.0, by="bo", workflow="w")
    add_preference(chosen="y", rejected="x", by="ana", runs=False, workflow="w")
    exs, prefs = apply_labels([example(id="x", label=0.5), example(id="y")], [], workflow="w")
    assert exs[0].label == pytest.approx(0.5) and exs[1].label is None
    assert prefs == [Preference("y", "x")]


def test_export_import_round_trip_reports_bad_lines(sqlite_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    add_score(example_id="x", score=0.25, by="ana", workflow="w")
    add_preference(chosen="y", rejected="x", by="ana", runs=False, workflow="w")
    path = tmp_path / "labels.jsonl"
    assert export_labels(path) == 2
    lines = path.read_text().splitlines()
    lines += [
        "{oops",
        json.dumps({"kind": "score", "score": 0.5}),
        json.dumps({"kind": "vibe", "by": "x"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    result = import_labels(path, tenant_id="acme")
    assert result.imported == 2 and [p.line for p in result.problems] == [3, 4, 5]
    copied = list_labels(tenant_id="acme")
    assert [(c.kind, c.example_id, c.score) for c in copied] == [
        ("score", "x", 0.25),
        ("preference", "y", None),
    ]


def test_importing_the_same_labels_twice_skips_and_counts_them(any_db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = adder_run(1, 2)
    add_score(run_id=run.id, score=0.9, by="ana")
    add_score(example_id="x", score=0.25, by="ana", workflow="w", note="late")
    add_preference(chosen="y", rejected="x", by="ana", runs=False, workflow="w")
    path = tmp_path / "labels.jsonl"
    assert export_labels(path) == 3
    # Into the tenant they came from: all three are there already.
    again = import_labels(path)
    assert (again.imported, again.duplicates, again.problems) == (0, 3, [])
    # Into another tenant (the run is not theirs: that line is a problem): stored
    # once, then skipped.
    first, second = import_labels(path, tenant_id="acme"), import_labels(path, tenant_id="acme")
    assert (first.imported, first.duplicates, len(first.problems)) == (2, 0, 1)
    assert (second.imported, second.duplicates, len(second.problems)) == (0, 2, 1)
    assert len(list_labels()) == 3 and len(list_labels(tenant_id="acme")) == 2
    # A different judgement of the same answer is a new label.
    path.write_text(
        json.dumps({"kind": "score", "example_id": "x", "score": 0.5, "by": "ana"}) + "\n"
    )
    assert import_labels(path, tenant_id="acme").imported == 1
    exs, _ = apply_labels([example(id="x")], [], tenant_id="acme", workflow="w")
    assert exs[0].label == pytest.approx((0.25 + 0.5) / 2)  # not weighted by re-imports
