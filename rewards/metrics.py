"""Agreement between a reward model and human labels.

Rank correlations come from SciPy (Spearman ρ; Kendall τ-b, which handles
ties); Cohen's κ is computed here from its definition and checked against
scikit-learn in the tests.  Every function returns ``None`` where the figure is
undefined (fewer than two points, a constant series), never NaN: a report is
JSON and a gate must be able to say "not measurable".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["calibration", "cohen_kappa", "kendall", "pairwise_accuracy", "spearman"]


def _usable(x: Sequence[float], y: Sequence[float]) -> bool:
    if len(x) != len(y):
        raise ValueError(f"series of different lengths: {len(x)} and {len(y)}")
    return len(x) >= 2 and len(set(x)) > 1 and len(set(y)) > 1


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation ρ (``scipy.stats.spearmanr``)."""
    if not _usable(x, y):
        return None
    from scipy import stats

    return _finite(stats.spearmanr(x, y).statistic)


def kendall(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's τ-b (``scipy.stats.kendalltau``)."""
    if not _usable(x, y):
        return None
    from scipy import stats

    return _finite(stats.kendalltau(x, y).statistic)


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's κ of two binary raters: ``(pₒ − pₑ) / (1 − pₑ)``.

    ``None`` when chance agreement is total (both raters constant and equal),
    where κ is undefined.
    """
    if len(a) != len(b):
        raise ValueError(f"series of different lengths: {len(a)} and {len(b)}")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


def pairwise_accuracy(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Share of ``(chosen, rejected)`` reward pairs ordered as the human did; a tie counts ½."""
    if not pairs:
        return None
    won = sum(1.0 if c > r else 0.5 if c == r else 0.0 for c, r in pairs)
    return won / len(pairs)


def calibration(
    rewards: Sequence[float], labels: Sequence[float], bins: int = 10
) -> list[dict[str, float | int | None]]:
    """Mean label per reward bin over [0, 1]: the data of a reliability plot."""
    out: list[dict[str, float | int | None]] = []
    for i in range(bins):
        lo, hi = i / bins, (i + 1) / bins
        inside = [
            (r, lab)
            for r, lab in zip(rewards, labels, strict=True)
            if lo <= r < hi or (i == bins - 1 and r == hi)
        ]
        out.append(
            {
                "lo": lo,
                "hi": hi,
                "n": len(inside),
                "mean_reward": sum(r for r, _ in inside) / len(inside) if inside else None,
                "mean_label": sum(lab for _, lab in inside) / len(inside) if inside else None,
            }
        )
    return out
