"""What each rung of the ladder buys: its change in cost beside its change in quality, with noise.

A cost change (parameters, FLOPs, cache bytes) is exact; a latency change is measured once; a quality
change comes from seeds, so it is only a change when it is larger than the seeds' spread. The
interval of a difference of two independent means is taken as the root sum of squares of their
half-widths (both 95% t-intervals); a difference inside it is reported as "within noise".
"""

from __future__ import annotations

import math

import pandas as pd

from suite.analysis import aggregate
from suite.analysis.quality_gate import column_rows, intervals
from suite.metrics import info

# What a rung costs (full-size analytic, then the proxy's measured speed) and what it buys (quality
# of the matched proxies, then learning-rate sensitivity): each list in order of preference.
COST_METRICS = (
    "params_active",
    "flops_decode_per_token",
    "kv_cache_bytes_per_token_marginal",
    "decode_ms_per_token",
)
QUALITY_METRICS = ("bits_per_byte", "mqar_accuracy", "lr_sensitivity")

COLUMNS = ["rung", "previous", "metric", "kind", "value", "delta", "ratio", "noise", "verdict"]


def _verdict(delta: float, noise: float, lower_is_better: bool | None) -> str:
    if not math.isfinite(delta) or not math.isfinite(noise):
        return ""
    if abs(delta) <= noise:
        return "within noise"
    if lower_is_better is None:
        return "changed"
    return "better" if (delta < 0) == lower_is_better else "worse"


def rung_changes(
    df: pd.DataFrame, cost: tuple[str, ...] = COST_METRICS, quality: tuple[str, ...] = QUALITY_METRICS
) -> pd.DataFrame:
    """Long form, one row per (rung, metric) from the second rung on: value, delta and ratio to the
    rung before; for quality metrics `noise` (95% half-width of the difference, NaN without seed
    intervals) and `verdict` (better / worse / within noise; "" when it cannot be told)."""
    present = set(aggregate.ok_rows(df)["metric"])
    metrics = [m for m in (*cost, *quality) if m in present]
    steps = aggregate.ladder(df, metrics)
    if steps.empty:
        return pd.DataFrame(columns=COLUMNS)
    chosen = steps.attrs.get("settings", {})
    halves: dict[str, dict[str, float]] = {}
    for metric in quality:
        if metric in metrics:
            spans = intervals(column_rows(df, metric, chosen.get(metric, {})))
            halves[metric] = {v: (hi - lo) / 2 for v, (lo, hi) in spans.items()}
    out = []
    for step in steps.itertuples():
        if not step.previous or pd.isna(step.value):
            continue
        kind = "quality" if step.metric in quality else "cost"
        noise = math.nan
        if kind == "quality":
            h = halves.get(step.metric, {})
            a, b = h.get(step.rung), h.get(step.previous)
            noise = math.hypot(a, b) if a is not None and b is not None else math.nan
        lower = info(step.metric).lower_is_better
        out.append(
            dict(
                rung=step.rung,
                previous=step.previous,
                metric=step.metric,
                kind=kind,
                value=step.value,
                delta=step.delta,
                ratio=step.ratio,
                noise=noise,
                verdict=_verdict(step.delta, noise, lower) if kind == "quality" else "",
            )
        )
    return pd.DataFrame(out, columns=COLUMNS)
