"""Picking what a figure draws from the results frame: one setting per series, one number per variant, labels."""

from __future__ import annotations

import math
from typing import Any, Iterable

import pandas as pd

from suite.analysis import aggregate
from suite.metrics import METRICS


def _settings_cols(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("settings.")]


def _varying(rows: pd.DataFrame, ignore: Iterable[str] = ()) -> list[str]:
    """Scale and settings columns that take more than one value among `rows` (they split a series)."""
    cols = (["scale"] if "scale" in rows.columns else []) + _settings_cols(rows)
    return [c for c in cols if c not in ignore and rows[c].nunique(dropna=True) > 1]


def prefer(rows: pd.DataFrame, prefs: dict[str, Any]) -> pd.DataFrame:
    """Narrow `rows` to one value of each varying setting: the preferred one, else the most common."""
    for col in _varying(rows, ignore=prefs.get("_keep", ())):
        wanted = prefs.get(col.removeprefix("settings."))
        values = rows[col].dropna()
        if wanted is not None and (values.astype(str) == str(wanted)).any():
            rows = rows[rows[col].astype(str) == str(wanted)]
        else:
            rows = rows[rows[col].astype(str) == str(values.astype(str).mode().iloc[0])]
    return rows


def per_variant(df: pd.DataFrame, metric: str, **prefs) -> pd.Series:
    """One number per variant for `metric`, settings narrowed by `prefer` (latest row wins)."""
    rows = prefer(aggregate.ok_rows(df, metric), prefs)
    if rows.empty:
        return pd.Series(dtype=float)
    return pd.to_numeric(rows.groupby("variant", sort=False)["value"].last(), errors="coerce")


def choices_text(candidates: pd.DataFrame, chosen: pd.DataFrame, skip: Iterable[str] = ()) -> str:
    """The choices a figure made: each scale/setting that varies among `candidates` (all rows of
    the metric) with the one value left in `chosen`, e.g. 'phase decode · tiny proxy'. Settings
    every row shares (seed, threads...) are not choices and stay out of the caption."""
    parts = []
    for col in _varying(candidates, ignore=skip):
        values = chosen[col].dropna().unique()
        if len(values) == 1:
            parts.append(
                scale_label(values[0]) if col == "scale" else f"{col.removeprefix('settings.')} {plain(values[0])}"
            )
    return " · ".join(parts)


def scale_label(scale: Any) -> str:
    return "full size" if str(scale) == "full" else f"{scale} proxy"


def plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def common(rows: pd.DataFrame, col: str) -> Any:
    if col not in rows.columns or rows[col].dropna().empty:
        return None
    return rows[col].dropna().mode().iloc[0]


def max_shared_context(rows: pd.DataFrame) -> Any:
    """The largest context every variant has a row for (else the most common one)."""
    ctx = rows.dropna(subset=["settings.context"])
    per = ctx.groupby("variant")["settings.context"].apply(set)
    shared = set.intersection(*per) if len(per) else set()
    if shared:
        return max(shared, key=lambda c: float(c))
    return ctx["settings.context"].mode().iloc[0]


def nan_none(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def metric_info(metric: str, df: pd.DataFrame | None = None) -> dict[str, Any]:
    """Display name, unit and direction from `suite.metrics.METRICS`, else from the rows."""
    if metric in METRICS:
        info = METRICS[metric]
        return dict(name=info.display_name, unit=info.unit, lower_is_better=info.lower_is_better)
    unit = ""
    if df is not None:
        rows = df[df["metric"] == metric]
        if not rows.empty and rows["unit"].notna().any():
            unit = str(rows["unit"].dropna().iloc[0])
    # the leaderboard's rule for a metric METRICS does not know (majority of its ok rows)
    return dict(name=metric.replace("_", " "), unit=unit, lower_is_better=aggregate.direction(metric, df))


def metric_title(metric: str, df: pd.DataFrame | None = None) -> str:
    """'Prefill latency (ms)': an axis or figure title."""
    info = metric_info(metric, df)
    unit = info["unit"] if info["unit"] not in ("", "count") else ""
    return f"{info['name']} ({unit})" if unit else info["name"]
