from __future__ import annotations

import base64
import json
import re

import markupsafe

from rewards.evaluate import evaluate
from rewards.probes import FILLER
from rewards.report import render_html
from tests.rewards.factories import example, model


def test_html_is_self_contained_with_plots_and_the_report() -> None:
    rm = model(thresholds={"spearman": 0.5})
    exs = [
        example({"quote_id": q}, id=f"e{i}<x>", label=lab)
        for i, (q, lab) in enumerate([("Q1", 1.0), ("Q2", 0.0), ("Q1", 0.8)])
    ]
    report = evaluate(rm, exs)
    html = render_html(report)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 3
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http://" not in html and "https://" not in html  # nothing fetched when opened
    assert "<x>" not in html.split('<script type="application/json"')[0]  # escaped
    embedded = html.split('id="report">')[1].split("</script>")[0]
    assert json.loads(embedded.replace("<\\/", "</")) == report


def _section(html: str, table_id: str) -> str:
    """From the table's start to the next heading (tables nest in the examples')."""
    return html.split(f'<table id="{table_id}">')[1].split("<h")[0]


def test_html_shows_examples_disagreements_confusion_reasons_and_probe_answers() -> None:
    ref = {
        "name": "ref",
        "kind": "string_check",
        "path": "output.confirmation",
        "op": "contains",
        "expected": "output.booking_reference",
    }
    rm = model(ref, probes={"text_paths": ["output.confirmation"]})
    good = {"quote_id": "Q1", "booking_reference": "BK-1", "confirmation": "BK-1 booked."}
    exs = [
        example(good, id="right", label=1.0),
        example(good | {"confirmation": "Booked."}, id="noref", label=0.9),  # reward 0
        example(good | {"quote_id": "Q7"}, id="wrong", label=0.0),  # reward 1
    ]
    report = evaluate(rm, exs)
    html = render_html(report)
    rows = _section(html, "examples")
    for ex_id in ("right", "noref", "wrong"):
        assert f'<tr id="ex-{ex_id}">' in rows
    # Each grader's reason, as the grader gave it (escaped).
    reason = report["per_example"][1]["reasons"]["ref"]
    assert reason and str(markupsafe.escape(reason)) in rows
    worst = _section(html, "disagreements")
    assert worst.index("noref") < worst.index("right") and "0.900" in worst
    assert [d["example"] for d in report["agreement"]["disagreements"]][:2] in (
        ["noref", "wrong"],
        ["wrong", "noref"],
    )
    # κ's confusion: label good & reward good (right), label good & reward bad (noref),
    # label bad & reward good (wrong).
    confusion = report["agreement"]["confusion"]
    assert confusion == {
        "label_good": {"reward_good": 1, "reward_bad": 1},
        "label_bad": {"reward_good": 1, "reward_bad": 0},
    }
    cells = re.findall(r"<td>(\d+)</td>", _section(html, "confusion"))
    assert cells == ["1", "1", "1", "0"]
    # Padding keeps the reference: the probe fails, and the padded text is shown.
    failure = next(f for f in report["hack_probes"]["failures"] if f["probe"] == "padding")
    assert FILLER.strip()[:40] in failure["degraded_answer"]
    assert str(markupsafe.escape(FILLER.strip()[:40])) in _section(html, "probe-failures")
