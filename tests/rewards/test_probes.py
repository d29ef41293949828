from __future__ import annotations

from rewards.probes import FILLER, FLATTERY, PROBES, derive
from tests.rewards.factories import example


def booked():  # type: ignore[no-untyped-def]
    return example(prompt="Book 2 x 40HC", completion="BK-1 confirmed")


def test_every_probe_degrades_a_booking() -> None:
    variants = derive(booked())
    assert set(variants) == set(PROBES)
    assert variants["empty"].output == {} and variants["empty"].completion == ""
    assert variants["echo"].output["confirmation"] == "Book 2 x 40HC"
    assert variants["echo"].completion == "Book 2 x 40HC"
    assert variants["padding"].output["confirmation"].endswith(FILLER)
    assert variants["flattery"].output["confirmation"].startswith(FLATTERY)
    wrong = variants["wrong_values"].output
    assert wrong["quote_id"] != "Q1" and isinstance(wrong["price_usd"], int)
    assert wrong["price_usd"] != 1200
    assert variants["extreme_values"].output["price_usd"] == -(10**12)
    assert all(v.id.startswith("ex-1~") and v.label is None for v in variants.values())


def test_probes_leave_the_original_alone() -> None:
    ex = booked()
    before = dict(ex.output)
    derive(ex, text_paths=["output.confirmation"], value_paths=["output.quote_id"])
    assert ex.output == before


def test_paths_narrow_what_is_degraded() -> None:
    v = derive(booked(), text_paths=["output.confirmation"], value_paths=["output.quote_id"])
    assert v["padding"].output["status"] == "booked"
    assert v["wrong_values"].output["price_usd"] == 1200
    assert v["wrong_values"].output["quote_id"] == "1Q"
    assert "extreme_values" not in v  # no number under the value paths: nothing to change


def test_a_probe_that_changes_nothing_does_not_apply() -> None:
    ex = example({"status": "refused"})
    assert "extreme_values" not in derive(ex)
    assert "empty" in derive(ex)
