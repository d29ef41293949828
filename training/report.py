"""A training job's report: the metrics plot (PNG) and a small JSON summary.

The figure is a :class:`matplotlib.figure.Figure` drawn on its own Agg
canvas, never pyplot's global state, so jobs in threads (or an API request
next to a worker) cannot draw on each other's figures.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["PLOT_NAME", "REPORT_NAME", "plot_png", "write_report"]

PLOT_NAME = "metrics.png"
REPORT_NAME = "report.json"


def _series(rows: Sequence[Any], name: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one metric, skipping steps where it was not logged."""
    points = [(int(r.step), getattr(r, name)) for r in rows if getattr(r, name) is not None]
    return [s for s, _ in points], [float(v) for _, v in points]


def plot_png(rows: Sequence[Any], *, title: str = "GRPO training") -> bytes:
    """The metrics against step as a PNG: reward mean ± std, zero-variance share, KL, loss.

    ``rows`` are :class:`~forgeyard.records.training.TrainingMetricRecord` (or anything
    with ``step`` and the metric attributes); missing values leave gaps.
    """
    figure = Figure(figsize=(10, 7), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 2, sharex=True)
    reward_ax, zero_ax, kl_ax, loss_ax = axes.flat

    steps, mean = _series(rows, "reward_mean")
    std_by_step = {int(r.step): r.reward_std for r in rows}
    reward_ax.plot(steps, mean, marker="o", markersize=3, color="tab:blue", label="mean")
    if steps and all(std_by_step.get(s) is not None for s in steps):
        std = [float(std_by_step[s]) for s in steps]
        low = [m - d for m, d in zip(mean, std, strict=True)]
        high = [m + d for m, d in zip(mean, std, strict=True)]
        reward_ax.fill_between(steps, low, high, color="tab:blue", alpha=0.2, label="± std")
    reward_ax.set_title("reward (group mean ± std)")
    reward_ax.legend(loc="best", fontsize="small")

    for ax, name, label, colour in (
        (zero_ax, "frac_zero_std", "share of zero-variance groups", "tab:orange"),
        (kl_ax, "kl", "KL to the base model", "tab:green"),
        (loss_ax, "loss", "loss", "tab:red"),
    ):
        xs, ys = _series(rows, name)
        if xs:
            ax.plot(xs, ys, marker="o", markersize=3, color=colour)
        else:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(label)
    zero_ax.set_ylim(-0.05, 1.05)
    for ax in (kl_ax, loss_ax):
        ax.set_xlabel("step")
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_report(
    job: Any, rows: Sequence[Any], summary: dict[str, Any], directory: Path
) -> dict[str, str]:
    """Write the plot and ``report.json`` into ``directory``; their paths (as ``plot``, ``report``).

    Each file is written to a temporary name and renamed, so a reader sees it
    whole or not at all.
    """
    directory.mkdir(parents=True, exist_ok=True)
    plot_path, report_path = directory / PLOT_NAME, directory / REPORT_NAME
    title = f"{job.workflow}.{job.node} — training job {job.id}"
    _write_atomic(plot_path, plot_png(rows, title=title))
    report = {
        "job_id": job.id,
        "tenant": job.tenant_id,
        "workflow": job.workflow,
        "node": job.node,
        "reward_model_id": job.reward_model_id,
        "base_model": job.base_model,
        "config": job.config,
        "summary": summary,
        "metrics": [
            {
                "step": r.step,
                "reward_mean": r.reward_mean,
                "reward_std": r.reward_std,
                "frac_zero_std": r.frac_zero_std,
                "kl": r.kl,
                "loss": r.loss,
            }
            for r in rows
        ],
        "plot": PLOT_NAME,
    }
    _write_atomic(report_path, (json.dumps(report, indent=2, default=str) + "\n").encode())
    return {"plot": str(plot_path), "report": str(report_path)}


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
