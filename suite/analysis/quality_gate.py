"""Which quality columns a board may rank: those with a seed interval, on matched proxies.

A quality number from one seed has no interval, so a difference between two variants cannot be
told from seed noise; proxies of different sizes differ by their size as much as by their
architecture (`fairness`). Such a column is still shown, with the reason beside it, but it gets no
rank and never counts in a win rate, so no board ranks what it cannot tell apart.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from suite.analysis.aggregate import match_setting
from suite.analysis.fairness import extra_dict, fairness_entries, fairness_problems, finite

__all__ = ["QUALITY_PROBES", "column_rows", "extra_dict", "intervals", "is_quality", "overlap", "unranked_reason"]

# Probes whose metrics are trained-model quality: a seed changes them, an interval says by how much.
QUALITY_PROBES = frozenset({"quality", "recall", "stability", "extrapolation"})


def column_rows(df: pd.DataFrame, metric: str, settings: dict[str, Any], status: str | None = "ok") -> pd.DataFrame:
    """The rows behind one board column (the metric at the settings the board chose)."""
    rows = df[df["metric"] == metric]
    if status:
        rows = rows[rows["status"] == status]
    for col, value in settings.items():
        if col in rows.columns:
            rows = match_setting(rows, col, value)
    return rows


def intervals(rows: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """variant -> (low, high) of the 95% seed interval its row carries (`extra.ci_low/ci_high`)."""
    out = {}
    for variant, extra in zip(rows["variant"], rows["extra"] if "extra" in rows else [{}] * len(rows)):
        e = extra_dict(extra)
        lo, hi = e.get("ci_low"), e.get("ci_high")
        if finite(lo) and finite(hi):
            out[str(variant)] = (float(lo), float(hi))
    return out


def is_quality(rows: pd.DataFrame) -> bool:
    return "probe" in rows and rows["probe"].isin(QUALITY_PROBES).any()


def unranked_reason(rows: pd.DataFrame) -> str:
    """Why a quality column may not be ranked ("" when it may): every variant needs an interval,
    and the proxies must be matched (same token budget, non-embedding active parameters ±10%)."""
    variants = sorted(set(rows["variant"].astype(str)))
    if len(variants) < 2:
        return ""
    have = intervals(rows)
    missing = [v for v in variants if v not in have]
    if missing:
        return (
            f"not ranked: {len(missing)} of {len(variants)} variants have one seed, so no interval "
            "(run more seeds, e.g. the quality preset standard)"
        )
    problems = fairness_problems(fairness_entries(rows))
    if problems:
        return "not ranked: the proxies are not matched (" + problems[0] + "; run with --match-params)"
    return ""


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Two intervals that overlap: the difference is within seed noise."""
    return a[0] <= b[1] and b[0] <= a[1]
