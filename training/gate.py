"""The promotion gate: is a candidate adapter better than what serves now?

Both models answer the same held-out tasks (:mod:`training.evaluation`), so
the comparison is *paired*: per task, ``d = reward(candidate) - reward(current)``.

Method: the mean of ``d`` with a 95 % **paired bootstrap** percentile interval
(:data:`BOOTSTRAP_RESAMPLES` resamples of the tasks with replacement, fixed
seed :data:`BOOTSTRAP_SEED`, so the same rewards always give the same
decision).  The candidate passes only when

1. the interval's lower bound is above ``margin`` (default 0: the improvement
   is distinguishable from none), and
2. the reward model's hack probes (:func:`rewards.evaluate.probe_report`) on
   the candidate's answers pass at least as often as on the current model's.

The decision is plain JSON (stored on the adapter's row, returned by the API).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewards.evaluate import probe_report
from rewards.model import RewardModel
from training.evaluation import Evaluation

__all__ = ["BOOTSTRAP_RESAMPLES", "BOOTSTRAP_SEED", "CONFIDENCE", "decide"]

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95


def paired_interval(
    differences: list[float], *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """The 95 % paired-bootstrap percentile interval of the mean of ``differences``."""
    d = np.asarray(differences, dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(d), size=(resamples, len(d)))
    means = d[picks].mean(axis=1)
    tail = (1.0 - CONFIDENCE) / 2
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def decide(
    candidate: Evaluation,
    current: Evaluation,
    reward_model: RewardModel,
    *,
    margin: float = 0.0,
) -> dict[str, Any]:
    """The gate's decision on ``candidate`` against ``current`` (same tasks, same order).

    Returns:
        ``passed``, a human ``reason``, and the figures: ``tasks``, both models'
        ``mean_reward``, ``mean_difference``, ``ci_low``/``ci_high``, ``margin``,
        ``method``, both ``hack_pass_rate``s, and the per-task rewards.

    Raises:
        ValueError: the two evaluations are not over the same tasks.
    """
    ids = [r.task_id for r in candidate.results]
    if ids != [r.task_id for r in current.results]:
        raise ValueError("candidate and current were not evaluated on the same held-out tasks")
    if not ids:
        raise ValueError("no held-out task to compare on; raise the number of held-out tasks")
    differences = [c - b for c, b in zip(candidate.rewards, current.rewards, strict=True)]
    low, high = paired_interval(differences)
    mean_difference = float(np.mean(differences))
    probes_candidate = probe_report(reward_model, candidate.examples)
    probes_current = probe_report(reward_model, current.examples)
    rate_candidate = probes_candidate["pass_rate"]
    rate_current = probes_current["pass_rate"]

    better = low > margin
    if rate_current is None:
        probes_ok = True  # the current model's answers gave the probes nothing to test
    else:
        probes_ok = rate_candidate is not None and rate_candidate >= rate_current
    reasons = []
    if not better:
        reasons.append(
            f"the mean reward gain {mean_difference:+.3f} has a 95% interval "
            f"[{low:+.3f}, {high:+.3f}] whose lower bound is not above the margin {margin:g}"
        )
    if not probes_ok:
        shown = "n/a" if rate_candidate is None else f"{rate_candidate:.3f}"
        reasons.append(
            f"the hack probes pass less often on the candidate's answers ({shown}) "
            f"than on the current model's ({rate_current:.3f})"
        )
    passed = better and probes_ok
    reason = (
        f"better by {mean_difference:+.3f} mean reward (95% interval [{low:+.3f}, {high:+.3f}] "
        f"above the margin {margin:g}) and the hack probes do no worse"
        if passed
        else "; ".join(reasons)
    )
    return {
        "passed": passed,
        "reason": reason,
        "method": f"paired bootstrap, {BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}, "
        f"{CONFIDENCE:.0%} percentile interval",
        "tasks": len(ids),
        "candidate": candidate.model,
        "current": current.model,
        "mean_reward": {"candidate": candidate.mean_reward, "current": current.mean_reward},
        "mean_difference": mean_difference,
        "ci_low": low,
        "ci_high": high,
        "margin": margin,
        "hack_pass_rate": {"candidate": rate_candidate, "current": rate_current},
        "per_task": [
            {"task_id": t, "candidate": c, "current": b}
            for t, c, b in zip(ids, candidate.rewards, current.rewards, strict=True)
        ],
    }
