from __future__ import annotations

import json

import pytest

from rewards import DatasetError
from rewards.dataset import Preference, read_dataset, write_dataset
from tests.rewards.factories import example


def test_bad_lines_are_reported_and_the_rest_read(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "d.jsonl"
    lines = [
        json.dumps({"id": "a", "output": {"x": 1}, "label": 1}),
        "{not json",
        json.dumps({"id": "b", "label": 3}),
        json.dumps({"id": "c", "colour": "red"}),
        "",
        json.dumps({"id": "a"}),
        json.dumps({"id": "d", "label": 0.25}),
        json.dumps({"chosen": "a", "rejected": "d"}),
        json.dumps({"chosen": "a", "rejected": "a"}),
        json.dumps([1, 2]),
    ]
    path.write_text("\n".join(lines) + "\n")
    ds = read_dataset(path)
    assert [ex.id for ex in ds.examples] == ["a", "d"]
    assert ds.preferences == [Preference("a", "d")]
    assert [p.line for p in ds.problems] == [2, 3, 4, 6, 9, 10]
    assert "not valid JSON" in str(ds.problems[0]) and str(path) in str(ds.problems[0])


def test_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ex = example(label=0.5, group="t1")
    write_dataset(tmp_path / "d.jsonl", [ex, example(id="ex-2")], [Preference("ex-1", "ex-2")])
    ds = read_dataset(tmp_path / "d.jsonl")
    assert ds.examples[0] == ex and ds.preferences == [Preference("ex-1", "ex-2")]


def test_unreadable_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DatasetError, match="cannot read"):
        read_dataset(tmp_path / "none.jsonl")


def test_preference_naming_an_unknown_example_keeps_its_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"chosen": "a", "rejected": "zz"}) + "\n" + json.dumps({"id": "a"}))
    ds = read_dataset(path)
    assert ds.preferences == [] and ds.problems[0].line == 1 and "zz" in ds.problems[0].message
