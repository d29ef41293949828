from __future__ import annotations

import random

import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from rewards import metrics


def series(seed: int, n: int = 40) -> tuple[list[float], list[float]]:
    rng = random.Random(seed)
    x = [round(rng.random(), 1) for _ in range(n)]  # rounded: ties, as real rewards have
    y = [min(1.0, max(0.0, v + rng.gauss(0, 0.3))) for v in x]
    return x, y


@pytest.mark.parametrize("seed", range(5))
def test_rank_correlations_equal_scipy(seed: int) -> None:
    x, y = series(seed)
    assert metrics.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert metrics.kendall(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)


@pytest.mark.parametrize("seed", range(5))
def test_kappa_equals_scikit_learn(seed: int) -> None:
    x, y = series(seed)
    a, b = [v >= 0.5 for v in x], [v >= 0.5 for v in y]
    assert metrics.cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


def test_undefined_figures_are_none() -> None:
    assert metrics.spearman([0.5], [1.0]) is None
    assert metrics.spearman([0.5, 0.5], [0.0, 1.0]) is None
    assert metrics.kendall([1, 2], [3, 3]) is None
    assert metrics.cohen_kappa([True, True], [True, True]) is None
    assert metrics.cohen_kappa([], []) is None
    assert metrics.pairwise_accuracy([]) is None
    with pytest.raises(ValueError, match="different lengths"):
        metrics.spearman([1, 2], [1])


def test_pairwise_accuracy_counts_ties_half() -> None:
    assert metrics.pairwise_accuracy([(0.9, 0.1), (0.2, 0.8), (0.5, 0.5), (1, 0)]) == 0.625


def test_calibration_bins() -> None:
    bins = metrics.calibration([0.05, 0.07, 1.0], [0.0, 1.0, 1.0], bins=10)
    assert bins[0]["n"] == 2 and bins[0]["mean_label"] == 0.5
    assert bins[-1]["n"] == 1 and bins[5]["mean_reward"] is None
