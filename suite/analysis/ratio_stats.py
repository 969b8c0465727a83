"""Is a ratio of two measurements real? The bootstrap CI of a ratio of medians from raw samples (two
levels when a side pools several attempts), or the ratio bounds from summary statistics when only
those were kept."""

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


def _resampled_medians(groups: list[list[float]], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap medians of one side. Several attempts: attempts are resampled first, then samples
    within each chosen attempt, so the spread between attempts (run-to-run noise, which samples of
    one attempt cannot show) widens the interval; one attempt: its samples are resampled."""
    arrays = [np.asarray(g, float) for g in groups if len(g)]
    if len(arrays) == 1:
        x = arrays[0]
        return np.median(x[rng.integers(0, len(x), (resamples, len(x)))], axis=1)
    out = np.empty(resamples)
    for i, picks in enumerate(rng.integers(0, len(arrays), (resamples, len(arrays)))):
        out[i] = np.median(np.concatenate([a[rng.integers(0, len(a), len(a))] for a in (arrays[j] for j in picks)]))
    return out


def bootstrap_ratio_groups(
    base: list[list[float]],
    cand: list[list[float]],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float, float]:
    """`bootstrap_ratio` of sides that pool several attempts each (a list of sample lists per side)."""
    if len(base) <= 1 and len(cand) <= 1:
        return bootstrap_ratio(base[0], cand[0], resamples=resamples, confidence=confidence, seed=seed)
    rng = np.random.default_rng(seed)
    mb, mc = _resampled_medians(base, resamples, rng), _resampled_medians(cand, resamples, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = mc / mb
    alpha = (1.0 - confidence) / 2
    low, high = np.nanquantile(ratios, [alpha, 1.0 - alpha])
    pooled_b, pooled_c = (
        np.concatenate([np.asarray(g, float) for g in base]),
        np.concatenate([np.asarray(g, float) for g in cand]),
    )
    return float(np.median(pooled_c) / np.median(pooled_b)), float(low), float(high)


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
