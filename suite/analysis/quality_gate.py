"""Which quality columns a board may rank: those with a seed interval, on matched proxies.

A quality number from one seed has no interval, so a difference between two variants cannot be
told from seed noise; proxies of different sizes differ by their size as much as by their
architecture (`fairness`). Such a column is still shown, with the reason beside it, but it gets no
rank and never counts in a win rate, so no board ranks what it cannot tell apart.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from suite.analysis.aggregate import _match
from suite.analysis.fairness import fairness_problems

# Probes whose metrics are trained-model quality: a seed changes them, an interval says by how much.
QUALITY_PROBES = frozenset({"quality", "recall", "stability", "extrapolation"})


def column_rows(df: pd.DataFrame, metric: str, settings: dict[str, Any], status: str | None = "ok") -> pd.DataFrame:
    """The rows behind one board column (the metric at the settings the board chose)."""
    rows = df[df["metric"] == metric]
    if status:
        rows = rows[rows["status"] == status]
    for col, value in settings.items():
        if col in rows.columns:
            rows = _match(rows, col, value)
    return rows


def extra_dict(value: Any) -> dict:
    """A row's `extra` as a dict, whether the frame holds it parsed or as its JSON text ({} if neither)."""
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value or "{}")
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def intervals(rows: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """variant -> (low, high) of the 95% seed interval its row carries (`extra.ci_low/ci_high`)."""
    out = {}
    for variant, extra in zip(rows["variant"], rows["extra"] if "extra" in rows else [{}] * len(rows)):
        e = extra_dict(extra)
        lo, hi = e.get("ci_low"), e.get("ci_high")
        if _finite(lo) and _finite(hi):
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
    entries = []
    for variant, extra, tokens in zip(
        rows["variant"],
        rows["extra"] if "extra" in rows else [{}] * len(rows),
        rows["settings.tokens"] if "settings.tokens" in rows else [None] * len(rows),
    ):
        e = extra_dict(extra)
        size = e.get("active_excl_embedding", e.get("non_embedding_active"))
        if not _finite(size):
            continue
        budget = tokens if _finite(tokens) else e.get("tokens_seen", 0)
        entries.append(dict(variant=str(variant), active_excl_embedding=size, tokens=budget or 0))
    problems = fairness_problems(list({e["variant"]: e for e in entries}.values()))
    if problems:
        return "not ranked: the proxies are not matched (" + problems[0] + "; run with --match-params)"
    return ""


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Two intervals that overlap: the difference is within seed noise."""
    return a[0] <= b[1] and b[0] <= a[1]
