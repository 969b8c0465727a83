"""Tables people decide from, as pure pandas functions of the tidy results frame.

Input is what `suite.results.load_results` returns (one row per number). A *board* is a
variants × metrics frame (one number per cell) made by `leaderboard`; `ranks`, `ratio_to_baseline`
and `win_rates` take a board. Directions come from `suite.metrics.METRICS` (rows cannot override
them; only a metric it does not know takes its rows' `lower_is_better`); a metric with no direction
(e.g. total parameters) is shown, never ranked.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from suite.metrics import METRICS, info, key_metrics
from suite.scaling_fit import fit_exponent

_SETTINGS = "settings."


# --------------------------------------------------------------------- helpers
def ok_rows(df: pd.DataFrame, metric: str | None = None) -> pd.DataFrame:
    """Successful rows with a number (of one metric)."""
    rows = df[(df["status"] == "ok") & df["metric"].astype(str).ne("")]
    if metric is not None:
        rows = rows[rows["metric"] == metric]
    return rows[pd.to_numeric(rows["value"], errors="coerce").notna()]


def variants_in_order(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df["variant"].dropna().astype(str)))


def direction(metric: str, df: pd.DataFrame | None = None) -> bool | None:
    """lower_is_better of a metric: as METRICS says (the one home); for a metric it does not know,
    as its ok rows say (majority)."""
    if metric in METRICS:
        return METRICS[metric].lower_is_better
    if df is not None and "lower_is_better" in df.columns:
        df = df[df["status"] == "ok"] if "status" in df.columns else df
        said = df.loc[df["metric"] == metric, "lower_is_better"].dropna()
        if len(said):
            return bool(said.astype(bool).mode().iloc[0])
    return info(metric).lower_is_better


def _varying(rows: pd.DataFrame) -> list[str]:
    cols = ["scale"] + [c for c in rows.columns if c.startswith(_SETTINGS)]
    return [c for c in cols if c in rows.columns and rows[c].nunique(dropna=True) > 1]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _tidy(value: Any) -> Any:
    """256.0 -> 256 (a column with gaps is float), numpy scalars -> Python."""
    if hasattr(value, "item"):
        value = value.item()
    return int(value) if isinstance(value, float) and value.is_integer() else value


def match_setting(rows: pd.DataFrame, col: str, value: Any) -> pd.DataFrame:
    """Rows whose setting equals `value`: numerically for numbers (64 == 64.0), else as text."""
    if _missing(value):
        return rows[rows[col].isna()]
    if _number(value):
        return rows[pd.to_numeric(rows[col], errors="coerce") == float(value)]
    return rows[rows[col].astype(str) == str(value)]


def canonical_settings(rows: pd.DataFrame) -> dict[str, Any]:
    """One value for each setting that varies among one metric's rows: the combination measured
    for the most variants; on a tie batch 1, then the largest context, then the first seen.
    E.g. decode latency measured at contexts 128 and 256 for all variants -> context 256."""
    split = _varying(rows)
    if not split:
        return {}
    combos = rows.groupby(split, dropna=False, sort=False)["variant"].nunique().reset_index()
    combos["_order"] = range(len(combos))
    ctx = combos["settings.context"] if "settings.context" in combos else pd.Series(0, index=combos.index)
    batch = combos["settings.batch"] if "settings.batch" in combos else pd.Series(1, index=combos.index)
    combos["_ctx"] = pd.to_numeric(ctx, errors="coerce").fillna(-1)
    combos["_batch1"] = pd.to_numeric(batch, errors="coerce").fillna(1).eq(1)
    best = combos.sort_values(["variant", "_batch1", "_ctx", "_order"], ascending=[False, False, False, True]).iloc[0]
    return {col: None if _missing(best[col]) else _tidy(best[col]) for col in split}


def _settings_label(chosen: dict[str, Any]) -> str:
    return ", ".join(f"{c.removeprefix(_SETTINGS)}={v}" for c, v in chosen.items())


# ------------------------------------------------------------------ leaderboard
def leaderboard(
    df: pd.DataFrame, metrics: Iterable[str] | None = None, canonical: dict[str, dict[str, Any]] | None = None
) -> pd.DataFrame:
    """Variants × metrics, one number each (median of the matching rows).

    Each metric is read at one setting (see `canonical_settings`; override per metric with
    `canonical={"prefill_ms": {"settings.context": 128}}`). The chosen settings are in
    `board.attrs["settings"]`, directions in `board.attrs["lower_is_better"]`. Default metrics:
    the key metrics (METRICS[...].key) present in `df`.
    """
    rows_all = ok_rows(df)
    if metrics is None:
        present = set(rows_all["metric"])
        metrics = [m for m in key_metrics() if m in present]
    metrics = list(metrics)
    board = pd.DataFrame(index=pd.Index(variants_in_order(df), name="variant"))
    chosen_all: dict[str, dict[str, Any]] = {}
    for metric in metrics:
        rows = rows_all[rows_all["metric"] == metric]
        home = info(metric).probe
        if home and "probe" in rows and (rows["probe"] == home).any():
            rows = rows[rows["probe"] == home]  # e.g. prefill_ms from `latency`, not from `scaling`
        chosen = dict(canonical_settings(rows))
        chosen.update((canonical or {}).get(metric, {}))
        for col, value in chosen.items():
            rows = match_setting(rows, col, value)
        board[metric] = rows.groupby("variant")["value"].median().astype(float)
        chosen_all[metric] = chosen
    board.attrs["settings"] = chosen_all
    board.attrs["lower_is_better"] = {m: direction(m, df) for m in metrics}
    return board


def column_label(board: pd.DataFrame, metric: str) -> str:
    """'Decode latency/token (ms) @ context=256' for a board column."""
    meta = info(metric)
    unit = f" ({meta.unit})" if meta.unit else ""
    where = _settings_label(board.attrs.get("settings", {}).get(metric, {}))
    return f"{meta.display_name}{unit}" + (f" @ {where}" if where else "")


def _directions(board: pd.DataFrame) -> dict[str, bool | None]:
    said = board.attrs.get("lower_is_better", {})
    return {m: said[m] if m in said else info(m).lower_is_better for m in board.columns}


def ranks(board: pd.DataFrame) -> pd.DataFrame:
    """1 = best in each metric (ties share the better rank); NaN where a metric has no direction."""
    out = pd.DataFrame(index=board.index)
    for metric, lower in _directions(board).items():
        out[metric] = board[metric].rank(ascending=lower, method="min") if lower is not None else float("nan")
    return out


def ratio_to_baseline(board: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Each value divided by the baseline variant's value in the same metric."""
    if baseline not in board.index:
        raise KeyError(
            f"baseline variant '{baseline}' is not in the results; variants: {', '.join(map(str, board.index))}"
        )
    base = board.loc[baseline].replace(0, np.nan)
    out = board.div(base, axis=1)
    out.attrs = dict(board.attrs, baseline=baseline)
    return out


def win_rates(board: pd.DataFrame) -> pd.Series:
    """Mean win rate (HELM): per metric, the fraction of the other variants this one beats
    (a tie counts half), averaged over the metrics it has a number for and that have a direction.
    Size metrics (parameters, bytes, FLOPs: `MetricInfo.size`) do not count: the smallest model
    would win them by construction. A board of size metrics only has no win rate (NaN)."""
    scores = []
    for metric, lower in _directions(board).items():
        values = board[metric]
        n = values.notna().sum()
        if lower is None or n < 2 or info(metric).size:
            continue
        beaten = values.rank(ascending=not lower, method="average") - 1  # variants it beats (+ half ties)
        scores.append(beaten / (n - 1))
    if not scores:
        return pd.Series(np.nan, index=board.index, name="win_rate")
    return pd.concat(scores, axis=1).mean(axis=1, skipna=True).rename("win_rate")


# ----------------------------------------------------------------------- pareto
def pareto_front(
    df: pd.DataFrame,
    x_metric: str,
    y_metric: str,
    *,
    x_lower_is_better: bool | None = None,
    y_lower_is_better: bool | None = None,
    canonical: dict[str, dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Every variant with both metrics, as columns variant, x, y, on_front (sorted by x).

    A variant is on the front when no other is at least as good on both metrics and better on one.
    Directions come from the rows / METRICS; a metric with none (e.g. total parameters) is
    treated as a cost (lower is better) unless told otherwise.
    """
    board = leaderboard(df, [x_metric, y_metric], canonical=canonical)
    lower = board.attrs["lower_is_better"]
    sx = 1 if (x_lower_is_better if x_lower_is_better is not None else lower[x_metric] is not False) else -1
    sy = 1 if (y_lower_is_better if y_lower_is_better is not None else lower[y_metric] is not False) else -1
    pts = board[[x_metric, y_metric]].dropna().rename(columns={x_metric: "x", y_metric: "y"})
    x, y = sx * pts["x"].to_numpy(), sy * pts["y"].to_numpy()
    on_front = []
    for i in range(len(pts)):
        dominated = ((x <= x[i]) & (y <= y[i]) & ((x < x[i]) | (y < y[i]))).any()
        on_front.append(not dominated)
    out = pts.assign(on_front=on_front).reset_index().sort_values("x", kind="stable").reset_index(drop=True)
    out.attrs = dict(x_metric=x_metric, y_metric=y_metric, settings=board.attrs["settings"])
    return out


# ---------------------------------------------------------------------- scaling
def scaling_exponents(df: pd.DataFrame, metric: str, x: str = "settings.context") -> pd.DataFrame:
    """Least-squares slope of log(metric) vs log(x) per variant (and per any other setting that
    varies, e.g. phase or batch): metric ~ x ** exponent over the measured range.

    Columns: variant, <other varying settings>, exponent, r2, x_min, x_max, n (points used).
    Non-positive values cannot be logged and are left out; fewer than two distinct x: no fit.
    """
    rows = ok_rows(df, metric)
    if x not in rows.columns:
        return pd.DataFrame(columns=["variant", "exponent", "r2", "x_min", "x_max", "n"])
    rows = rows.assign(_x=pd.to_numeric(rows[x], errors="coerce"), _y=rows["value"].astype(float))
    rows = rows[(rows["_x"] > 0) & (rows["_y"] > 0)]
    by = ["variant"] + [c for c in _varying(rows) if c != x]
    out = []
    for key, group in rows.groupby(by, dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        if group["_x"].nunique() < 2:
            continue
        fit = fit_exponent(group["_x"].tolist(), group["_y"].tolist())
        out.append(dict(zip(by, key), exponent=fit.exponent, r2=fit.r2, x_min=fit.x_min, x_max=fit.x_max, n=fit.n))
    return pd.DataFrame(out, columns=by + ["exponent", "r2", "x_min", "x_max", "n"])


# ----------------------------------------------------------------------- ladder
def ladder_variants(df: pd.DataFrame, prefix: str = "ladder/", family: str | None = "ladder") -> list[str]:
    """The rungs, ordered by name: variants named `ladder/...` (or of the `ladder` family)."""
    names = df["variant"].astype(str)
    chosen = names.str.startswith(prefix)
    if family is not None and "family" in df.columns:
        chosen |= df["family"].astype(str).eq(family)
    return sorted(set(names[chosen]))


def ladder(
    df: pd.DataFrame, metrics: Iterable[str] | None = None, *, prefix: str = "ladder/", family: str | None = "ladder"
) -> pd.DataFrame:
    """What each rung of the evolution ladder changes, metric by metric (long form).

    Columns: rung, previous (the rung before, "" for the first), metric, value, delta (value minus
    the previous rung's), ratio (value / previous). Values are read as in `leaderboard`.
    """
    rungs = ladder_variants(df, prefix, family)
    cols = ["rung", "previous", "metric", "value", "delta", "ratio"]
    if not rungs:
        return pd.DataFrame(columns=cols)
    board = leaderboard(df[df["variant"].isin(rungs)], metrics).reindex(rungs)
    out = []
    for metric in board.columns:
        values = board[metric]
        previous = values.shift()
        for i, rung in enumerate(rungs):
            out.append(
                dict(
                    rung=rung,
                    previous=rungs[i - 1] if i else "",
                    metric=metric,
                    value=values[rung],
                    delta=values[rung] - previous[rung],
                    ratio=values[rung] / previous[rung] if previous[rung] else np.nan,
                )
            )
    result = pd.DataFrame(out, columns=cols)
    result.attrs = dict(settings=board.attrs["settings"])
    return result
