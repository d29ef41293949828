from __future__ import annotations

import base64
import json
import re

from rewards.evaluate import evaluate
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
