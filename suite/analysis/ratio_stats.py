"""Is a ratio of two measurements real? The bootstrap CI of a ratio of medians from raw samples, or
the ratio bounds from summary statistics when only those were kept."""

from __future__ import annotations

import math
import statistics
from typing import Any, Iterable

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95


def bootstrap_ratio(
    base: Iterable[float],
    cand: Iterable[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(median(cand) / median(base), CI low, CI high): percentile bootstrap, each side resampled
    with replacement on its own, seeded so that the same inputs always give the same verdict."""
    b, c = np.asarray(list(base), float), np.asarray(list(cand), float)
    rng = np.random.default_rng(seed)
    mb = np.median(b[rng.integers(0, len(b), (resamples, len(b)))], axis=1)
    mc = np.median(c[rng.integers(0, len(c), (resamples, len(c)))], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = mc / mb
    alpha = (1.0 - confidence) / 2
    low, high = np.nanquantile(ratios, [alpha, 1.0 - alpha])
    return float(np.median(c) / np.median(b)), float(low), float(high)


def _median_se(stats: dict[str, Any]) -> float | None:
    """Standard error of a median from pytest-benchmark stats: 1.2533 sigma / sqrt(n), sigma
    estimated robustly from the IQR (stddev when the IQR is 0)."""
    n = stats.get("rounds") or 0
    sigma = (stats.get("iqr") or 0) / 1.349 or stats.get("stddev") or 0
    if n < 2 or not sigma:
        return None if n < 2 else 0.0
    return 1.2533 * sigma / math.sqrt(n)


def stats_ratio(
    base: dict[str, Any], cand: dict[str, Any], *, confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float, float] | None:
    """Ratio of medians and a normal-approximation CI on the log scale, from summary stats only."""
    mb, mc = base.get("median"), cand.get("median")
    sb, sc = _median_se(base), _median_se(cand)
    if not mb or not mc or sb is None or sc is None:
        return None
    ratio = mc / mb
    se_log = math.sqrt((sb / mb) ** 2 + (sc / mc) ** 2)
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    return ratio, ratio * math.exp(-z * se_log), ratio * math.exp(z * se_log)
