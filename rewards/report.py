"""The evaluation report as a self-contained HTML page (plots embedded as PNG data URIs)."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import jinja2

__all__ = ["render_html"]


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("rewards", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _plots(report: dict[str, Any]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and workers
    import matplotlib.pyplot as plt

    scores = report["scores"]
    names = ["total", *scores["graders"]]
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        dist = scores["total"] if name == "total" else scores["graders"][name]
        edges, counts = dist["histogram"]["edges"], dist["histogram"]["counts"]
        ax.bar(
            edges[:-1],
            counts,
            width=edges[1] - edges[0],
            align="edge",
            color="#345" if name == "total" else "#79a",
            edgecolor="white",
        )
        ax.set_title(name, fontsize=9)
        ax.set_xlim(0, 1)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    histograms = _png(fig)

    agreement = report["agreement"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    if agreement["points"]:
        xs, ys = zip(*agreement["points"], strict=True)
        ax.scatter(xs, ys, s=12, alpha=0.5, color="#79a", label="examples")
    bins = [b for b in agreement["calibration"] if b["n"]]
    if bins:
        ax.plot(
            [b["mean_reward"] for b in bins],
            [b["mean_label"] for b in bins],
            "o-",
            color="#345",
            label="mean label per reward bin",
        )
    ax.plot([0, 1], [0, 1], "--", color="#aaa", label="perfect calibration")
    ax.set_xlabel("reward")
    ax.set_ylabel("human label")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, loc="upper left")
    calibration = _png(fig)

    per_probe = report["hack_probes"]["per_probe"]
    fig, ax = plt.subplots(figsize=(6, 2.6))
    shares = [p["share_not_lower"] or 0.0 for p in per_probe.values()]
    ax.bar(list(per_probe), shares, color=["#a11" if s > 0.05 else "#176117" for s in shares])
    ax.set_ylim(0, 1)
    ax.set_ylabel("share not scored lower")
    ax.tick_params(axis="x", labelsize=8)
    probes = _png(fig)
    return {"histograms": histograms, "calibration": calibration, "probes": probes}


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML page: tables, plots, and the JSON itself embedded."""
    # `</` cannot close the script element when escaped this way; the JSON stays valid.
    report_json = json.dumps(report).replace("</", "<\\/")
    return _env.get_template("report.html.jinja").render(
        rm=report["reward_model"],
        ds=report["dataset"],
        gate=report["gate"],
        ag=report["agreement"],
        sc=report["scores"],
        hp=report["hack_probes"],
        zv=report["zero_variance"],
        per_example=report["per_example"],
        plots=_plots(report),
        fmt=_fmt,
        report_json=jinja2.utils.markupsafe.Markup(report_json),
    )
