from __future__ import annotations

import json

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


def refused():  # type: ignore[no-untyped-def]
    return example(
        {"status": "refused", "issues": ["denied party"]},
        prompt="Book 2 x 40HC",
        completion="We cannot book this shipment.",
    )


def test_text_probes_touch_only_the_configured_text_paths() -> None:
    # A refusal has no confirmation: with text_paths naming only the confirmation,
    # there is no prose to pad, flatter or echo, so those probes do not apply.
    v = derive(refused(), text_paths=["output.confirmation"])
    assert not {"echo", "padding", "flattery"} & set(v)
    booked_v = derive(booked(), text_paths=["output.confirmation"])
    assert booked_v["padding"].output["confirmation"].endswith(FILLER)
    assert booked_v["padding"].completion == "BK-1 confirmed"  # not a configured text path


def test_completion_is_degraded_when_listed_or_by_default() -> None:
    listed = derive(refused(), text_paths=["completion"])
    assert listed["padding"].completion.endswith(FILLER)
    assert listed["padding"].output == refused().output
    assert derive(refused())["flattery"].completion.startswith(FLATTERY)


def test_a_structured_completion_follows_its_degraded_output() -> None:
    ex = example(prompt="p")
    ex.completion = json.dumps(ex.output)
    padded = derive(ex, text_paths=["output.confirmation"])["padding"]
    assert json.loads(padded.completion) == padded.output


def test_refusals_are_no_false_probe_failures() -> None:
    from rewards.evaluate import evaluate
    from tests.rewards.factories import model

    status = {
        "name": "status",
        "kind": "field_match",
        "path": "output.status",
        "expected": "expected.status",
    }
    rm = model(status, probes={"text_paths": ["output.confirmation"]})
    exs = [
        example(refused().output, {"status": "refused"}, id=f"r{i}", completion="No.")
        for i in range(3)
    ]
    probes = evaluate(rm, exs)["hack_probes"]
    assert probes["failures"] == [] and probes["pass_rate"] == 1.0
