"""Results -> one self-contained HTML report (jinja2 + plotly), a Markdown or a CSV leaderboard.

The HTML file carries everything it needs: plotly.js is inlined once, each figure is a JSON blob
drawn by a few lines of our own JS, the CSS is inlined, and nothing is fetched over the network,
so the file opens from `file://`, from a CI artifact or from an e-mail attachment.

Each section is built by one `_section_*` function from the tidy results frame; a section whose
metrics are absent still appears and says which probe to run. Numbers come from
`suite.aggregate` (leaderboard, ranks, win rates, Pareto fronts, exponents, ladder deltas); this
module only chooses what to show and how.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

FORMATS = ("html", "md", "csv")

# Ladder rungs are the variants of the `ladder` family (named `ladder/NN-...` in architectures/).
LADDER_FAMILY = "ladder"

# Distinct, colour-blind friendly palette (Okabe-Ito, then Tableau); variants keep one colour
# across every figure of a report.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C564B",
           "#F0E442", "#4E79A7", "#F28E2B", "#59A14F", "#E15759", "#76B7B2", "#B07AA1",
           "#9C755F", "#BAB0AC")


# ================================================================= loading and selection
def load(result_dirs: Iterable[str | Path]) -> pd.DataFrame:
    from .results import load_results
    return load_results(*[Path(d) for d in result_dirs])


def _settings_cols(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("settings.")]


def _ok(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = df[(df["metric"] == metric) & (df["status"] == "ok")]
    return rows[pd.to_numeric(rows["value"], errors="coerce").notna()]


def _varying(rows: pd.DataFrame, ignore: Iterable[str] = ()) -> list[str]:
    """Settings columns that take more than one value among `rows` (they split a series)."""
    return [c for c in _settings_cols(rows) if c not in ignore and rows[c].nunique(dropna=True) > 1]


def _prefer(rows: pd.DataFrame, prefs: dict[str, Any]) -> pd.DataFrame:
    """Narrow `rows` to one value of each varying setting: the preferred one, else the most common."""
    for col in _varying(rows, ignore=prefs.get("_keep", ())):
        wanted = prefs.get(col.removeprefix("settings."))
        values = rows[col].dropna()
        if wanted is not None and (values.astype(str) == str(wanted)).any():
            rows = rows[rows[col].astype(str) == str(wanted)]
        else:
            rows = rows[rows[col].astype(str) == str(values.astype(str).mode().iloc[0])]
    return rows


def _per_variant(df: pd.DataFrame, metric: str, **prefs) -> pd.Series:
    """One number per variant for `metric`, settings narrowed by `_prefer` (latest row wins)."""
    rows = _prefer(_ok(df, metric), prefs)
    if rows.empty:
        return pd.Series(dtype=float)
    return pd.to_numeric(rows.groupby("variant", sort=False)["value"].last(), errors="coerce")


def _settings_text(rows: pd.DataFrame) -> str:
    """The settings shared by `rows`, e.g. 'context 1024 · dtype bf16'."""
    parts = []
    for col in _settings_cols(rows):
        values = rows[col].dropna().unique()
        if len(values) == 1:
            parts.append(f"{col.removeprefix('settings.')} {_plain(values[0])}")
    return " · ".join(parts)


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ================================================================= metric metadata and format
def _metric_info(metric: str, df: pd.DataFrame | None = None) -> dict[str, Any]:
    """Display name, unit and direction from `suite.metrics.METRICS`, else from the rows."""
    from .metrics import METRICS
    info = METRICS.get(metric)
    if info is not None:
        return dict(name=info.display_name, unit=info.unit, lower_is_better=info.lower_is_better)
    unit, lower = "", None
    if df is not None:
        rows = df[df["metric"] == metric]
        if not rows.empty:
            unit = str(rows["unit"].dropna().iloc[0]) if rows["unit"].notna().any() else ""
            lib = rows["lower_is_better"].dropna()
            lower = bool(lib.iloc[0]) if not lib.empty else None
    return dict(name=metric.replace("_", " "), unit=unit, lower_is_better=lower)


_BINARY = (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10))
_SI = (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3))
_SI_FLOP = (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3))


def format_value(value: Any, unit: str = "") -> str:
    """A number as a person reads it: '1.5 GiB', '124.4M', '12.3 ms', '87.5%', '2.1 GFLOP'."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "—"
    if math.isinf(x):
        return "∞"
    unit = unit or ""
    u = unit.lower()
    if u in ("bytes", "byte", "b"):
        for name, size in _BINARY:
            if abs(x) >= size:
                return f"{_sig(x / size)} {name}"
        return f"{x:.0f} B"
    if u in ("flop", "flops"):
        for name, size in _SI_FLOP:
            if abs(x) >= size:
                return f"{_sig(x / size)} {name}FLOP"
        return f"{_sig(x)} FLOP"
    if u in ("fraction", "accuracy", "acc"):
        return f"{x * 100:.1f}%"
    if u in ("ratio", "x", "×"):
        return f"{_sig(x)}×"
    if u in ("count", "params", "parameters", "tokens", ""):
        for name, size in _SI:
            if abs(x) >= size:
                return f"{_sig(x / size)}{name}" + (f" {unit}" if u == "tokens" else "")
        text = f"{x:.0f}" if x.is_integer() else _sig(x)
        return text + (f" {unit}" if u == "tokens" else "")
    return f"{_sig(x)} {unit}"


def _sig(x: float, digits: int = 3) -> str:
    """`digits` significant figures without scientific notation for everyday magnitudes."""
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(x)))))
    return f"{x:.{decimals}f}"


def _axis_format(unit: str) -> dict[str, Any]:
    """Plotly axis tick settings for a unit (SI prefixes on log axes)."""
    u = (unit or "").lower()
    if u in ("bytes", "byte", "b"):
        return dict(ticksuffix="B", tickformat="~s")
    if u in ("flop", "flops"):
        return dict(ticksuffix="FLOP", tickformat="~s")
    if u in ("fraction", "accuracy", "acc"):
        return dict(tickformat=".0%")
    if u in ("ms", "s"):
        return dict(ticksuffix=f" {unit}", tickformat="~g")
    return dict(tickformat="~s")


def _title(metric: str, df: pd.DataFrame | None = None) -> str:
    info = _metric_info(metric, df)
    unit = info["unit"] if info["unit"] not in ("", "count") else ""
    return f"{info['name']} ({unit})" if unit else info["name"]


# ================================================================= figures
@dataclass
class Figure:
    """A plotly figure ready for the template: `id` for the div, `json` safe inside <script>."""
    id: str
    title: str
    json: str
    note: str = ""
    wide: bool = False


def _layout(**extra) -> dict[str, Any]:
    """One small layout shared by every figure (no plotly template: it would add ~8 KB per figure)."""
    base = dict(
        template=dict(layout=dict()),
        font=dict(family="Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12,
                  color="#1f2937"),
        paper_bgcolor="#ffffff", plot_bgcolor="#ffffff",
        margin=dict(l=64, r=16, t=16, b=48), height=360,
        hoverlabel=dict(bgcolor="#111827", font=dict(color="#f9fafb")),
        legend=dict(font=dict(size=11), bgcolor="rgba(255,255,255,0.8)"),
        colorway=list(PALETTE),
    )
    base.update(extra)
    return base


def _axis(title: str = "", log: bool = False, **extra) -> dict[str, Any]:
    axis = dict(title=dict(text=title, font=dict(size=12)), gridcolor="#eef0f4", zeroline=False,
                linecolor="#d1d5db", ticks="outside", tickcolor="#d1d5db", automargin=True)
    if log:
        axis["type"] = "log"
    axis.update(extra)
    return axis


def figure_json(fig: dict[str, Any]) -> str:
    """Figure dict -> JSON that can sit inside a <script> element (no `</`, no `<!--`)."""
    from plotly.utils import PlotlyJSONEncoder
    text = json.dumps(fig, cls=PlotlyJSONEncoder, separators=(",", ":"), allow_nan=False
                      ) if _finite(fig) else json.dumps(_clean(fig), cls=PlotlyJSONEncoder, separators=(",", ":"))
    return _script_safe(text)


def _script_safe(text: str) -> str:
    # `\/` and `\u0021` are valid JSON escapes, so JSON.parse gives back the original strings.
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


def _finite(obj: Any) -> bool:
    try:
        json.dumps(obj, allow_nan=False, default=lambda o: None)
        return True
    except ValueError:
        return False


def _clean(obj: Any) -> Any:
    """NaN/inf -> null (plotly leaves a gap), recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


class _Figures:
    """Hands out unique figure ids so a report never has two divs with the same id."""

    def __init__(self):
        self.count = 0

    def make(self, title: str, data: list[dict], layout: dict, note: str = "", wide: bool = False) -> Figure:
        self.count += 1
        return Figure(id=f"fig-{self.count}", title=title, json=figure_json(dict(data=data, layout=layout)),
                      note=note, wide=wide)


# ================================================================= sections
@dataclass
class Section:
    id: str
    title: str
    lead: str                               # one sentence: what the section shows
    figures: list[Figure] = field(default_factory=list)
    empty: str = ""                         # shown instead of figures when there is no data
    extra: dict[str, Any] = field(default_factory=dict)


def _empty(probe: str, what: str = "") -> str:
    hint = f" {what}" if what else ""
    return f"No data for this section in these results (run probe {probe}).{hint}"


# ----------------------------------------------------------------- aggregate adapter
# FALLBACK until suite.aggregate lands: the few pandas reductions below belong in aggregate.py
# (leaderboard columns/values, ranks, ratio to baseline, win rates, Pareto front, exponents,
# ladder deltas). Each `_agg_*` is one call site to switch to `aggregate.*`.
@dataclass(frozen=True)
class Column:
    """One leaderboard column: a metric at one choice of settings (and scale)."""
    key: str
    metric: str
    unit: str
    lower_is_better: bool | None
    settings: tuple[tuple[str, Any], ...]    # (settings column, value) pairs the column fixes
    settings_text: str
    scale: str


def _agg_columns(df: pd.DataFrame) -> list[Column]:
    """Key metrics present in the results; a metric measured at several settings gets the
    settings (and scale) that cover the most variants, the largest context on a tie."""
    from .metrics import key_metrics
    columns = []
    for metric in key_metrics():
        rows = _ok(df, metric)
        if rows.empty:
            continue
        split = [c for c in ["scale"] + _settings_cols(rows) if rows[c].nunique(dropna=True) > 1]
        fixed: tuple[tuple[str, Any], ...] = ()
        if split:
            combos = rows.groupby(split, dropna=False)["variant"].nunique().reset_index()
            combos["_ctx"] = pd.to_numeric(combos.get("settings.context", 0), errors="coerce").fillna(0)
            combos["_batch1"] = pd.to_numeric(combos.get("settings.batch", 1), errors="coerce").fillna(1) == 1
            best = combos.sort_values(["variant", "_batch1", "_ctx"], ascending=False).iloc[0]
            fixed = tuple((c, best[c]) for c in split)
            for c, v in fixed:
                rows = rows[rows[c].isna()] if pd.isna(v) else rows[rows[c] == v]
        info = _metric_info(metric, df)
        scale = ", ".join(map(str, rows["scale"].dropna().unique())) if "scale" in rows.columns else ""
        text = _settings_text(rows.drop(columns=[c for c in _settings_cols(rows) if c == "settings.dtype"
                                                 and metric.startswith("params")], errors="ignore"))
        key = metric + "".join(f"|{c}={_plain(v)}" for c, v in fixed)
        columns.append(Column(key=key, metric=metric, unit=info["unit"], lower_is_better=info["lower_is_better"],
                              settings=fixed, settings_text=text, scale=scale))
    return columns


def _column_rows(df: pd.DataFrame, col: Column, status: str | None = "ok") -> pd.DataFrame:
    rows = df[df["metric"] == col.metric]
    if status:
        rows = rows[rows["status"] == status]
    for c, v in col.settings:
        rows = rows[rows[c].isna()] if pd.isna(v) else rows[rows[c] == v]
    return rows


def _agg_values(df: pd.DataFrame, columns: list[Column]) -> pd.DataFrame:
    """Variants × column keys (latest row wins)."""
    variants = _variants(df)
    table = pd.DataFrame(index=pd.Index(variants, name="variant"))
    for col in columns:
        rows = _column_rows(df, col)
        table[col.key] = pd.to_numeric(rows.groupby("variant")["value"].last(), errors="coerce")
    return table


def _agg_ranks(values: pd.DataFrame, columns: list[Column]) -> pd.DataFrame:
    """1 = best; metrics with no direction (None) are not ranked."""
    ranks = pd.DataFrame(index=values.index)
    for col in columns:
        if col.lower_is_better is None:
            ranks[col.key] = float("nan")
        else:
            ranks[col.key] = values[col.key].rank(ascending=col.lower_is_better, method="min")
    return ranks


def _agg_win_rates(values: pd.DataFrame, columns: list[Column]) -> pd.Series:
    """Mean over ranked metrics of the fraction of other variants this one beats (HELM's mean win rate)."""
    scores = []
    for col in columns:
        if col.lower_is_better is None:
            continue
        v = values[col.key]
        n = v.notna().sum()
        if n < 2:
            continue
        beaten = v.rank(ascending=not col.lower_is_better, method="average") - 1
        scores.append(beaten / (n - 1))
    if not scores:
        return pd.Series(float("nan"), index=values.index)
    return pd.concat(scores, axis=1).mean(axis=1, skipna=True)


def _agg_pareto_front(points: pd.DataFrame, x: str, y: str, x_lower: bool, y_lower: bool) -> list:
    """Index labels of the points no other point beats on both axes."""
    sx = 1 if x_lower else -1
    sy = 1 if y_lower else -1
    front = []
    for i, p in points.iterrows():
        dominated = ((sx * points[x] <= sx * p[x]) & (sy * points[y] <= sy * p[y]) &
                     ((sx * points[x] < sx * p[x]) | (sy * points[y] < sy * p[y]))).any()
        if not dominated:
            front.append(i)
    return front


def _agg_exponents(df: pd.DataFrame, metric: str, exponent_metric: str, phase: str | None) -> dict[str, float]:
    """Fitted exponents from the scaling probe's rows for this phase; else a log-log fit here."""
    import numpy as np
    rows = _ok(df, exponent_metric)
    if phase is not None and "settings.phase" in rows.columns:
        rows = rows[rows["settings.phase"] == phase]
    found = rows.groupby("variant")["value"].last().to_dict() if not rows.empty else {}
    measured = _ok(df, metric)
    if "settings.context" in measured.columns:
        for variant, group in measured.groupby("variant"):
            if variant in found:
                continue
            x = pd.to_numeric(group["settings.context"], errors="coerce")
            y = pd.to_numeric(group["value"], errors="coerce")
            ok = (x > 0) & (y > 0)
            if x[ok].nunique() >= 2:
                found[variant] = float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])
    return found


def _agg_ladder_deltas(values: pd.Series) -> pd.DataFrame:
    """Rung-by-rung change of one metric: value, delta to the rung before, relative change in %."""
    frame = pd.DataFrame({"variant": values.index, "value": values.to_numpy(dtype=float)})
    frame = frame.dropna(subset=["value"]).reset_index(drop=True)
    frame["delta"] = frame["value"].diff()
    frame["pct"] = frame["delta"] / frame["value"].shift().abs() * 100
    return frame


# ----------------------------------------------------------------- leaderboard
def default_baseline(df: pd.DataFrame, registry=None) -> str | None:
    """The ladder's first rung when the ladder was run, else the first variant of the results."""
    rungs = _ladder_order(df, registry)
    if rungs:
        return rungs[0]
    variants = _variants(df)
    return variants[0] if variants else None


def leaderboard_view(df: pd.DataFrame, baseline: str | None = None, registry=None) -> dict[str, Any]:
    """Variants × key metrics, each cell with its value, rank, ratio to the baseline and status."""
    columns = _agg_columns(df)
    values = _agg_values(df, columns)
    ranks = _agg_ranks(values, columns)
    wins = _agg_win_rates(values, columns)
    baseline = baseline or default_baseline(df, registry)
    families = df.groupby("variant", sort=False)["family"].first().fillna("").astype(str).to_dict()
    probe_of = df.dropna(subset=["metric"]).groupby("metric")["probe"].first().to_dict()
    failures = _failures(df)

    header = [dict(key=c.key, metric=c.metric, name=_metric_info(c.metric, df)["name"], unit=c.unit,
                   unit_label=_unit_label(c.unit), lower_is_better=c.lower_is_better,
                   settings=c.settings_text, scale=c.scale, column=c) for c in columns]
    rows = []
    for variant in values.index:
        cells = []
        for c in columns:
            value = values.at[variant, c.key]
            rank = ranks.at[variant, c.key]
            rank = None if pd.isna(rank) else int(rank)
            count = int(values[c.key].notna().sum())
            if pd.notna(value):
                base = values.at[baseline, c.key] if baseline in values.index else float("nan")
                ratio = value / base if pd.notna(base) and base != 0 else float("nan")
                cells.append(dict(status="ok", text=format_value(value, c.unit), sort=float(value),
                                  title=f"{value:.6g} {c.unit}".strip() + (f" · rank {rank} of {count}" if rank else ""),
                                  rank=rank, heat=_heat(rank, count) if rank else None,
                                  ratio=f"{ratio:.2f}×" if math.isfinite(ratio) and variant != baseline else None))
                continue
            status, error = failures.get((variant, probe_of.get(c.metric)), ("missing", ""))
            failed = _column_rows(df[df["variant"] == variant], c, status=None)
            failed = failed[failed["status"] != "ok"]
            if not failed.empty:
                status, error = str(failed["status"].iloc[-1]), str(failed["error"].iloc[-1])
            text = {"missing": "—", "oom": "OOM", "timeout": "timeout"}.get(status, "failed")
            title = error or ("not measured in these results" if status == "missing" else status)
            cells.append(dict(status=status, text=text, title=title, sort=None, rank=None, heat=None, ratio=None))
        win = wins.get(variant)
        win = None if win is None or pd.isna(win) else float(win)
        rows.append(dict(variant=variant, family=families.get(variant, ""), cells=cells, win_rate=win,
                         win_text="—" if win is None else f"{win * 100:.0f}%",
                         win_heat=None if win is None else _heat_fraction(1 - win),
                         is_baseline=variant == baseline))
    rows.sort(key=lambda r: -1 if r["win_rate"] is None else -r["win_rate"])
    for i, row in enumerate(rows, 1):
        row["position"] = i
    return dict(columns=header, rows=rows, baseline=baseline, n_variants=len(rows),
                families=sorted({r["family"] for r in rows if r["family"]}))


def _failures(df: pd.DataFrame) -> dict[tuple[str, str], tuple[str, str]]:
    """(variant, probe) -> (status, error) of a failed cell (a crashed probe writes no metric rows)."""
    bad = df[df["status"] != "ok"]
    return {(r.variant, r.probe): (str(r.status), str(r.error)) for r in bad.itertuples()}


def _unit_label(unit: str) -> str:
    return {"count": "", "accuracy": "%", "bytes": "bytes", "exponent": "exponent"}.get(unit, unit)


def _heat(rank: int, count: int) -> str:
    """Cell background by rank: green for the best, through sand, to rose for the worst."""
    return _heat_fraction(0.0 if count <= 1 else (rank - 1) / (count - 1))


def _heat_fraction(f: float) -> str:
    f = min(1.0, max(0.0, f))
    hue = 145 - f * 140
    return f"hsl({hue:.0f} 65% {90 - 3 * (1 - abs(2 * f - 1)):.0f}%)"


# ----------------------------------------------------------------- evolution ladder
def _section_ladder(df: pd.DataFrame, figs: _Figures, board: dict, registry) -> Section:
    section = Section("ladder", "Evolution ladder",
                      "What each rung from GPT-2 to gpt-oss changes: a waterfall per key metric, one "
                      "bar per rung, the delta it adds to the rung before.")
    from . import aggregate
    rungs = _ladder_order(df, registry)
    if len(rungs) < 2:
        section.empty = ("No data for this section in these results (run the ladder variants, "
                         "`archbench run ladder/*`, with the analytic, latency and quality probes).")
        return section
    descriptions = {}
    for name in rungs:
        cfg = _config(registry, name)
        descriptions[name] = (cfg.description if cfg is not None else "") or name
    for col in board["columns"]:
        deltas = aggregate.ladder_deltas(df, col["metric"], rungs, settings=col.get("settings_filter"))
        if deltas is None or deltas["value"].notna().sum() < 2:
            continue
        deltas = deltas.dropna(subset=["value"])
        lower = col["lower_is_better"]
        good, bad = "#10b981", "#f43f5e"
        measure = ["absolute"] + ["relative"] * (len(deltas) - 1)
        y = [float(deltas["value"].iloc[0])] + [float(v) for v in deltas["delta"].iloc[1:]]
        text = [format_value(deltas["value"].iloc[0], col["unit"])] + [
            (("+" if d >= 0 else "") + (f"{pct:+.0f}%".lstrip("+") if math.isfinite(pct) else ""))
            for d, pct in zip(deltas["delta"].iloc[1:], deltas["pct"].iloc[1:])]
        hover = [f"{_short(r)}<br>{descriptions.get(r, r)}<br>{format_value(v, col['unit'])}"
                 for r, v in zip(deltas["variant"], deltas["value"])]
        trace = dict(type="waterfall", x=[_short(r) for r in deltas["variant"]], y=y, measure=measure,
                     text=text, textposition="outside", hovertext=hover, hoverinfo="text",
                     cliponaxis=False,
                     connector=dict(line=dict(color="#cbd5e1", width=1)),
                     increasing=dict(marker=dict(color=bad if lower else good)),
                     decreasing=dict(marker=dict(color=good if lower else bad)),
                     totals=dict(marker=dict(color="#64748b")))
        trace["absolute"] = dict(marker=dict(color="#64748b"))
        trace.pop("absolute")
        layout = _layout(height=340, showlegend=False, margin=dict(l=64, r=16, t=28, b=90),
                         xaxis=_axis(tickangle=-30), yaxis=_axis(col["name"], **_axis_format(col["unit"])))
        note = " · ".join(x for x in (col["settings"], col["scale"] and f"scale {col['scale']}") if x)
        section.figures.append(figs.make(_title(col["metric"], df), [trace], layout, note=note))
    if not section.figures:
        section.empty = _empty("analytic", "The ladder variants have no key metric in common.")
    section.extra["rungs"] = [dict(name=r, description=descriptions[r]) for r in rungs]
    return section


def _short(variant: str) -> str:
    return variant.split("/", 1)[1] if variant.startswith(LADDER_FAMILY + "/") else variant


def _ladder_order(df: pd.DataFrame, registry) -> list[str]:
    """Ladder rungs in order: by depth of the `base:` chain when the registry knows them, else by name."""
    names = sorted(set(df.loc[df["family"] == LADDER_FAMILY, "variant"]) |
                   {v for v in df["variant"].unique() if str(v).startswith(LADDER_FAMILY + "/")})

    def depth(name: str) -> tuple[int, str]:
        try:
            return (len(registry.resolve(name).chain) if registry is not None else 0, name)
        except Exception:  # not in this registry: name order
            return (0, name)
    return sorted(names, key=depth)


# ----------------------------------------------------------------- context scaling
_SCALING_PANELS = (
    # metric, exponent metric, phase, y unit for the axis, probe to run when missing
    ("prefill_ms", "time_exponent", "prefill", "latency"),
    ("decode_ms_per_token", "time_exponent", "decode", "latency"),
    ("peak_memory_bytes", "memory_exponent", None, "memory"),
)


def _section_scaling(df: pd.DataFrame, figs: _Figures, colors: dict[str, str]) -> Section:
    from . import aggregate
    section = Section("scaling", "Context scaling",
                      "Latency and memory against context length on log-log axes; the legend gives "
                      "each variant's fitted exponent (1 = linear, 2 = quadratic), ✕ marks where two "
                      "variants cross, the dashed line is the memory budget.")
    crossings = _ok(df, "crossover_context")
    for metric, exp_metric, phase, probe in _SCALING_PANELS:
        rows = _ok(df, metric)
        if "settings.context" not in rows.columns:
            continue
        rows = rows[pd.to_numeric(rows["settings.context"], errors="coerce").notna()]
        rows = _prefer(rows, dict(_keep=("settings.context",), batch=1, phase=phase))
        if rows.empty or rows["settings.context"].nunique() < 2:
            continue
        info = _metric_info(metric, df)
        exps = aggregate.scaling_exponents(df, metric, exponent_metric=exp_metric, phase=phase)
        traces = []
        curves: dict[str, tuple[list[float], list[float]]] = {}
        for variant, group in rows.groupby("variant", sort=False):
            group = group.assign(_ctx=pd.to_numeric(group["settings.context"])).sort_values("_ctx")
            group = group.groupby("_ctx", as_index=False)["value"].last()
            x, y = group["_ctx"].tolist(), pd.to_numeric(group["value"]).tolist()
            curves[variant] = (x, y)
            k = exps.get(variant)
            label = variant + (f"  (n^{k:.2f})" if k is not None and math.isfinite(k) else "")
            traces.append(dict(type="scatter", mode="lines+markers", name=label, x=x, y=y,
                               line=dict(color=colors.get(variant), width=2), marker=dict(size=6),
                               legendgroup=variant,
                               hovertemplate=f"{_hover_escape(variant)}<br>context %{{x:,}}<br>"
                                             f"%{{y:.4~s}} {info['unit']}<extra></extra>"))
        traces += _crossover_markers(crossings, curves, phase, metric)
        layout = _layout(xaxis=_axis("context (tokens)", log=True, tickformat="~s"),
                         yaxis=_axis(_title(metric, df), log=True, **_axis_format(info["unit"])),
                         legend=dict(font=dict(size=11), orientation="h", y=-0.22, x=0),
                         height=400, margin=dict(l=64, r=16, t=16, b=40))
        section.figures.append(figs.make(_title(metric, df) + " vs context", traces, layout,
                                         note=_settings_text(rows.drop(columns=["settings.context"]))))
    budget_fig = _budget_figure(df, figs, colors)
    if budget_fig is not None:
        section.figures.append(budget_fig)
    if not section.figures:
        section.empty = _empty("latency, memory and scaling",
                               "They need at least two context lengths per variant.")
    return section


def _hover_escape(text: str) -> str:
    # plotly hover templates treat %{...} as fields and some HTML tags as markup
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("%{", "%%{"))


def _crossover_markers(crossings: pd.DataFrame, curves: dict, phase: str | None, metric: str) -> list[dict]:
    """✕ where a variant's curve crosses another's (from crossover_context rows)."""
    if crossings.empty or "settings.other_variant" not in crossings.columns:
        return []
    if "settings.phase" in crossings.columns and phase is not None:
        crossings = crossings[crossings["settings.phase"].isna() | (crossings["settings.phase"] == phase)]
    if "settings.metric" in crossings.columns:
        crossings = crossings[crossings["settings.metric"].isna() | (crossings["settings.metric"] == metric)]
    xs, ys, texts = [], [], []
    for _, row in crossings.iterrows():
        curve = curves.get(row["variant"])
        if curve is None or row["settings.other_variant"] not in curves:
            continue
        n = float(row["value"])
        y = _loglog_interp(curve[0], curve[1], n)
        if y is None:
            continue
        xs.append(n)
        ys.append(y)
        texts.append(f"{_hover_escape(row['variant'])} crosses {_hover_escape(row['settings.other_variant'])}"
                     f"<br>at context {n:,.0f}")
    if not xs:
        return []
    return [dict(type="scatter", mode="markers", name="crossover", x=xs, y=ys, hovertext=texts,
                 hoverinfo="text", marker=dict(symbol="x-thin", size=14, color="#111827",
                                               line=dict(width=2.5, color="#111827")))]


def _loglog_interp(xs: list[float], ys: list[float], x: float) -> float | None:
    pts = [(a, b) for a, b in zip(xs, ys) if a > 0 and b > 0]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1 and x1 > x0:
            t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0)))
    return None


def _budget_figure(df: pd.DataFrame, figs: _Figures, colors: dict[str, str]) -> Figure | None:
    """Analytic serving memory (weights + KV cache) vs context with the memory budget line."""
    kv = _ok(df, "kv_cache_bytes")
    if "settings.context" not in kv.columns:
        return None
    kv = _prefer(kv[pd.to_numeric(kv["settings.context"], errors="coerce").notna()],
                 dict(_keep=("settings.context",), dtype="bf16"))
    if kv.empty or kv["settings.context"].nunique() < 2:
        return None
    dtype = kv["settings.dtype"].dropna().iloc[0] if "settings.dtype" in kv.columns and kv["settings.dtype"].notna().any() else None
    weights = _per_variant(df, "weights_bytes", dtype=dtype)
    traces = []
    for variant, group in kv.groupby("variant", sort=False):
        group = group.assign(_ctx=pd.to_numeric(group["settings.context"])).sort_values("_ctx")
        group = group.groupby("_ctx", as_index=False)["value"].last()
        w = float(weights.get(variant, 0.0) or 0.0)
        traces.append(dict(type="scatter", mode="lines", name=variant, x=group["_ctx"].tolist(),
                           y=(pd.to_numeric(group["value"]) + w).tolist(),
                           line=dict(color=colors.get(variant), width=2), legendgroup=variant,
                           hovertemplate=f"{_hover_escape(variant)}<br>context %{{x:,}}<br>"
                                         f"%{{y:.3~s}}B<extra></extra>"))
    shapes, annotations = [], []
    budgets = _ok(df, "max_context_at_budget")
    budget = None
    if not budgets.empty and "settings.memory_budget" in budgets.columns:
        values = budgets["settings.memory_budget"].dropna().map(_parse_bytes).dropna()
        if not values.empty:
            budget = float(values.mode().iloc[0])
    if budget:
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=budget, y1=budget,
                           line=dict(color="#ef4444", width=1.5, dash="dash")))
        annotations.append(dict(xref="paper", x=0.01, y=math.log10(budget), yref="y", yanchor="bottom",
                                xanchor="left", showarrow=False, text=f"budget {format_value(budget, 'bytes')}",
                                font=dict(color="#ef4444", size=11)))
        at = budgets[budgets["settings.memory_budget"].map(_parse_bytes) == budget]
        xs, ys, names = [], [], []
        for variant, n in at.groupby("variant")["value"].last().items():
            if math.isfinite(float(n)) and float(n) > 0:
                xs.append(float(n))
                ys.append(budget)
                names.append(f"{_hover_escape(variant)}: max context {float(n):,.0f} at budget")
        if xs:
            traces.append(dict(type="scatter", mode="markers", name="max context at budget", x=xs, y=ys,
                               hovertext=names, hoverinfo="text",
                               marker=dict(symbol="diamond", size=9, color="#ef4444")))
    layout = _layout(xaxis=_axis("context (tokens)", log=True, tickformat="~s"),
                     yaxis=_axis("weights + KV cache (bytes)", log=True, **_axis_format("bytes")),
                     legend=dict(font=dict(size=11), orientation="h", y=-0.22, x=0),
                     shapes=shapes, annotations=annotations, height=400, margin=dict(l=64, r=16, t=16, b=40))
    note = "analytic, full-size configs" + (f" · dtype {dtype}" if dtype else "")
    return figs.make("Serving memory vs context (analytic)", traces, layout, note=note)


def _parse_bytes(value: Any) -> float | None:
    """A budget as bytes: numbers pass through, '24GiB' / '80GB' / '16 GiB' are parsed."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    text = str(value).strip().replace(" ", "")
    units = {"tib": 2 ** 40, "gib": 2 ** 30, "mib": 2 ** 20, "kib": 2 ** 10,
             "tb": 1e12, "gb": 1e9, "mb": 1e6, "kb": 1e3, "b": 1}
    for suffix, size in units.items():
        if text.lower().endswith(suffix):
            try:
                return float(text[: -len(suffix)]) * size
            except ValueError:
                return None
    return None


# ----------------------------------------------------------------- memory breakdown
_MEMORY_PARTS = (
    # metric, label, colour
    ("weights_bytes", "weights", "#3b82f6"),
    ("kv_cache_bytes", "KV cache", "#f59e0b"),
    ("activation_bytes_train", "activations", "#10b981"),
)


def _section_memory(df: pd.DataFrame, figs: _Figures) -> Section:
    section = Section("memory", "Memory breakdown",
                      "Where the bytes go: weights, KV cache and activations from the analytic model "
                      "(stacked) beside the peak measured by the memory probe.")
    by_part = {m: _ok(df, m) for m, _, _ in _MEMORY_PARTS}
    if all(rows.empty for rows in by_part.values()) and _ok(df, "peak_memory_bytes").empty:
        section.empty = _empty("analytic or memory")
        return section
    # One dtype and one context for the analytic parts; the measured peak per phase beside them.
    dtype = _common(by_part["weights_bytes"], "settings.dtype")
    kv = by_part["kv_cache_bytes"]
    context = None
    if "settings.context" in kv.columns and kv["settings.context"].notna().any():
        context = _max_shared_context(kv)
    notes = []
    variants: list[str] = []
    for rows in list(by_part.values()) + [_ok(df, "peak_memory_bytes")]:
        variants += [v for v in rows["variant"].unique() if v not in variants]
    traces = []
    for metric, label, color in _MEMORY_PARTS:
        values = _per_variant(df, metric, dtype=dtype, context=context, checkpointing=False)
        if values.empty:
            continue
        traces.append(dict(type="bar", name=label, marker=dict(color=color),
                           x=[variants, ["analytic"] * len(variants)],
                           y=[_nan_none(values.get(v)) for v in variants],
                           hovertemplate=f"%{{x}}<br>{label}: %{{y:.3~s}}B<extra></extra>"))
    measured = _ok(df, "peak_memory_bytes")
    if not measured.empty:
        phases = (measured["settings.phase"].dropna().unique().tolist()
                  if "settings.phase" in measured.columns else [])
        shades = ("#6b7280", "#9ca3af", "#374151")
        for i, phase in enumerate(phases or [None]):
            rows = measured if phase is None else measured[measured["settings.phase"] == phase]
            rows = _prefer(rows, dict(_keep=("settings.phase",), context=context, batch=1))
            values = rows.groupby("variant")["value"].max()
            label = "measured peak" + (f" ({phase})" if phase else "")
            traces.append(dict(type="bar", name=label, marker=dict(color=shades[i % len(shades)]),
                               x=[variants, [f"measured {phase}" if phase else "measured"] * len(variants)],
                               y=[_nan_none(values.get(v)) for v in variants],
                               hovertemplate=f"%{{x}}<br>{label}: %{{y:.3~s}}B<extra></extra>"))
        scales = measured["scale"].dropna().unique().tolist() if "scale" in measured.columns else []
        if scales:
            notes.append("measured at scale " + ", ".join(map(str, scales)))
    if dtype:
        notes.append(f"dtype {dtype}")
    if context:
        notes.append(f"KV cache at context {_plain(context)}")
    layout = _layout(barmode="stack", height=420, bargap=0.25,
                     xaxis=_axis(tickangle=0), yaxis=_axis("bytes", **_axis_format("bytes")),
                     legend=dict(orientation="h", y=1.08, x=0, font=dict(size=11)),
                     margin=dict(l=64, r=16, t=36, b=64))
    section.figures.append(figs.make("Memory by component: analytic vs measured", traces, layout,
                                     note=" · ".join(notes), wide=True))
    return section


def _nan_none(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _common(rows: pd.DataFrame, col: str) -> Any:
    if col not in rows.columns or rows[col].dropna().empty:
        return None
    return rows[col].dropna().mode().iloc[0]


def _max_shared_context(rows: pd.DataFrame) -> Any:
    """The largest context every variant has a row for (else the most common one)."""
    ctx = rows.dropna(subset=["settings.context"])
    per_variant = ctx.groupby("variant")["settings.context"].apply(set)
    shared = set.intersection(*per_variant) if len(per_variant) else set()
    if shared:
        return max(shared, key=lambda c: float(c))
    return ctx["settings.context"].mode().iloc[0]


# ----------------------------------------------------------------- trade-offs
_TRADEOFFS = (
    # (x metrics in order of preference, y metrics in order of preference, probe hint)
    (("decode_ms_per_token", "flops_decode_per_token"), ("bits_per_byte", "mqar_accuracy", "copy_accuracy"),
     "quality and latency (or analytic)"),
    (("params_active", "params_total"), ("bits_per_byte", "mqar_accuracy", "copy_accuracy"),
     "quality and analytic"),
)


def _section_tradeoffs(df: pd.DataFrame, figs: _Figures, colors: dict[str, str]) -> Section:
    from . import aggregate
    section = Section("tradeoffs", "Trade-offs",
                      "Quality against cost; the line joins the Pareto front, the variants no other "
                      "variant beats on both axes.")
    hints = []
    for xs, ys, probe in _TRADEOFFS:
        x_metric = next((m for m in xs if not _ok(df, m).empty), None)
        y_metric = next((m for m in ys if not _ok(df, m).empty), None)
        if x_metric is None or y_metric is None:
            hints.append(probe)
            continue
        x_rows = _prefer(_ok(df, x_metric), dict(batch=1, dtype="bf16"))
        y_rows = _prefer(_ok(df, y_metric), {})
        x = _per_variant(x_rows, x_metric)
        y = _per_variant(y_rows, y_metric)
        both = pd.DataFrame({"x": x, "y": y}).dropna()
        if both.empty:
            hints.append(probe)
            continue
        xi, yi = _metric_info(x_metric, df), _metric_info(y_metric, df)
        front = aggregate.pareto_front(both.reset_index(names="variant"), "x", "y",
                                       x_lower_is_better=xi["lower_is_better"] is not False,
                                       y_lower_is_better=yi["lower_is_better"] is not False)
        traces = []
        if len(front) >= 1:
            ordered = both.loc[list(front)].sort_values("x")
            traces.append(dict(type="scatter", mode="lines", name="Pareto front", x=ordered["x"].tolist(),
                               y=ordered["y"].tolist(), hoverinfo="skip",
                               line=dict(color="#94a3b8", width=2, dash="dot", shape="hv")))
        for variant, point in both.iterrows():
            on_front = variant in set(front)
            traces.append(dict(type="scatter", mode="markers+text", name=variant, x=[point["x"]], y=[point["y"]],
                               text=[_hover_escape(_short(variant))], textposition="top center",
                               textfont=dict(size=10, color="#4b5563"),
                               marker=dict(size=13 if on_front else 10, color=colors.get(variant),
                                           line=dict(width=2 if on_front else 0, color="#111827")),
                               hovertemplate=f"{_hover_escape(variant)}<br>{xi['name']}: %{{x:.4~s}}<br>"
                                             f"{yi['name']}: %{{y:.4~s}}" + ("<br>on the Pareto front" if on_front else "")
                                             + "<extra></extra>", showlegend=False))
        arrow = lambda lower: "lower is better" if lower is not False else "higher is better"
        layout = _layout(xaxis=_axis(f"{_title(x_metric, df)} — {arrow(xi['lower_is_better'])}",
                                     log=True, **_axis_format(xi["unit"])),
                         yaxis=_axis(f"{_title(y_metric, df)} — {arrow(yi['lower_is_better'])}",
                                     **_axis_format(yi["unit"])),
                         showlegend=False, height=400)
        note = " · ".join(t for t in (_settings_text(x_rows), _settings_text(y_rows)) if t)
        section.figures.append(figs.make(f"{yi['name']} vs {xi['name']}", traces, layout, note=note))
    if not section.figures:
        section.empty = _empty(" and ".join(dict.fromkeys(hints)) or "quality")
    return section


# ----------------------------------------------------------------- variant cards
def _section_cards(df: pd.DataFrame, registry, registry_error: str | None) -> Section:
    section = Section("variants", "Variant cards",
                      "Each variant as a diff from its base, its parameter breakdown and where its "
                      "numbers come from.")
    cards = []
    families = df.groupby("variant", sort=False)["family"].first() if "family" in df.columns else {}
    for variant in _variants(df):
        card: dict[str, Any] = dict(name=variant, family=families.get(variant, ""), known=False,
                                    diff=[], chain=[], params=[], source=None, source_url=None, file=None,
                                    description="")
        cfg = _config(registry, variant)
        if cfg is not None:
            resolved = registry.resolve(variant)
            entry = registry.entries[variant]
            card.update(known=True, description=cfg.description, chain=list(resolved.chain),
                        file=_display_path(entry.file), source=cfg.source or None,
                        source_url=cfg.source if _is_web_url(cfg.source) else None,
                        diff=_config_diff(registry, variant))
            card["params"] = _param_breakdown(cfg)
        if not card["params"]:
            card["params"] = _param_rows_from_results(df, variant)
        cards.append(card)
    if not cards:
        section.empty = _empty("analytic")
    section.extra["cards"] = cards
    section.extra["registry_error"] = registry_error
    return section


def _variants(df: pd.DataFrame) -> list[str]:
    return [str(v) for v in dict.fromkeys(df["variant"].dropna())]


def _config(registry, name: str):
    if registry is None or name not in registry.entries:
        return None
    try:
        return registry.resolve(name).config
    except Exception:  # a broken variant must not break the whole report
        return None


def _config_diff(registry, variant: str) -> list[dict[str, str]]:
    """Fields this variant sets, with the value its base would have given (or the default)."""
    from .config import IDENTITY_FIELDS, ModelConfig
    entry = registry.entries[variant]
    base_cfg = registry.resolve(entry.base).config if entry.base else ModelConfig()
    cfg = registry.resolve(variant).config
    rows = []
    for key in entry.fields:
        if key in IDENTITY_FIELDS:
            continue
        old, new = getattr(base_cfg, key), getattr(cfg, key)
        rows.append(dict(field=key, base=_show(old), value=_show(new), changed=old != new))
    return rows


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        runs = []  # ("sliding",) * 5 + ("full",) reads better as 5×sliding, full
        for item in value:
            if runs and runs[-1][0] == item:
                runs[-1][1] += 1
            else:
                runs.append([item, 1])
        return ", ".join(f"{n}×{v}" if n > 1 else str(v) for v, n in runs)
    return "null" if value is None else str(value)


def _param_breakdown(cfg) -> list[dict[str, str]]:
    try:
        from .params import count_params
    except ImportError:
        return []
    try:
        counts = count_params(cfg)
    except Exception:
        return []
    rows = [dict(name=k, value=format_value(v, "count")) for k, v in (counts.get("by_component") or {}).items()]
    for key in ("embedding", "active", "total"):
        if key in counts:
            rows.append(dict(name=key, value=format_value(counts[key], "count"), strong=key == "total"))
    return rows


def _param_rows_from_results(df: pd.DataFrame, variant: str) -> list[dict[str, str]]:
    rows = []
    for metric in ("params_embedding", "params_active", "params_total"):
        values = _per_variant(df[df["variant"] == variant], metric)
        if not values.empty:
            rows.append(dict(name=metric.removeprefix("params_"), value=format_value(values.iloc[0], "count"),
                             strong=metric == "params_total"))
    return rows


def _is_web_url(text: str | None) -> bool:
    # only http(s) becomes a link: a `javascript:` source must stay text
    return bool(text) and urllib.parse.urlparse(str(text)).scheme in ("http", "https")


def _display_path(path: str) -> str:
    try:
        return os.path.relpath(path, Path.cwd()) if Path(path).is_absolute() else path
    except ValueError:
        return path


# ----------------------------------------------------------------- header
def _header(df: pd.DataFrame, result_dirs: list[Path], out: Path) -> dict[str, Any]:
    def values(col: str) -> list[str]:
        if col not in df.columns:
            return []
        return [str(v) for v in dict.fromkeys(df[col].dropna()) if str(v) != ""]
    dates = sorted(values("date"))
    files = []
    for d in result_dirs:
        for name in ("results.jsonl", "results.parquet"):
            path = Path(d) / name
            if path.exists():
                rel = os.path.relpath(path.resolve(), out.resolve().parent)
                files.append(dict(name=str(Path(d) / name), href=urllib.parse.quote(Path(rel).as_posix()),
                                  size=format_value(path.stat().st_size, "bytes")))
    statuses = df["status"].value_counts().to_dict() if "status" in df.columns else {}
    return dict(
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        runs=values("run_id"), dates=(dates[0], dates[-1]) if dates else None,
        devices=values("device"), cpus=values("cpu_model"), threads=values("threads"),
        git_shas=values("git_sha"), archbench=values("archbench_version"), torch=values("torch_version"),
        python=values("python_version"), files=files,
        n_variants=df["variant"].nunique(), n_rows=len(df), n_probes=df["probe"].nunique(),
        n_failed=sum(v for k, v in statuses.items() if k != "ok"),
        scales=values("scale"),
    )


# ================================================================= rendering
def _env():
    import jinja2
    from .registry import data_dir
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(data_dir("reports"))),
                             autoescape=jinja2.select_autoescape(("html", "j2", "html.j2")),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return env


def _asset(name: str) -> str:
    from .registry import data_dir
    text = (data_dir("reports") / "static" / name).read_text()
    return _script_safe(text) if name.endswith(".js") else text.replace("</", "<\\/")


def _colors(variants: list[str]) -> dict[str, str]:
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(variants)}


def _registry():
    """The built-in registry, or None with the reason (a report must not fail on a broken YAML)."""
    try:
        from .registry import Registry
        return Registry(), None
    except Exception as exc:  # noqa: BLE001 - shown in the report instead
        return None, f"{type(exc).__name__}: {exc}"


def build_view(df: pd.DataFrame, result_dirs: list[Path], out: Path, baseline: str | None = None) -> dict[str, Any]:
    """Everything the template needs, as plain data (also handy for tests)."""
    registry, registry_error = _registry()
    figs = _Figures()
    colors = _colors(_variants(df))
    board = leaderboard_view(df, baseline=baseline)
    sections = [
        _section_ladder(df, figs, board, registry),
        _section_scaling(df, figs, colors),
        _section_memory(df, figs),
        _section_tradeoffs(df, figs, colors),
    ]
    cards = _section_cards(df, registry, registry_error)
    return dict(header=_header(df, result_dirs, out), board=board, sections=sections, cards=cards,
                title="archbench report", n_figures=figs.count)


def render_html(view: dict[str, Any]) -> str:
    from plotly.offline import get_plotlyjs
    from . import __version__
    template = _env().get_template("report.html.j2")
    return template.render(**view, version=__version__, css=_asset("report.css"), js=_asset("report.js"),
                           plotly_js=_script_safe(get_plotlyjs()))


def render_markdown(view: dict[str, Any]) -> str:
    template = _env().get_template("leaderboard.md.j2")
    template.environment.filters["md"] = _md_escape
    return template.render(**view)


def _md_escape(text: Any) -> str:
    """Text for a Markdown table cell: no pipes, no raw HTML, no line breaks."""
    text = str(text)
    for old, new in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("\n", " "), ("`", "\\`")):
        text = text.replace(old, new)
    return text


def leaderboard_frame(view: dict[str, Any]) -> pd.DataFrame:
    """The leaderboard as a flat table: raw values (units in the header), ranks, ratio, win rate."""
    board = view["board"]
    records = []
    for row in board["rows"]:
        record: dict[str, Any] = {"variant": row["variant"], "family": row["family"],
                                  "mean_win_rate": row["win_rate"]}
        for col, cell in zip(board["columns"], row["cells"]):
            head = col["metric"] + (f" [{col['unit']}]" if col["unit"] else "") + (
                f" @ {col['settings']}" if col["settings"] else "")
            record[head] = cell["sort"] if cell["status"] == "ok" else cell["status"]
            record[f"{col['metric']} rank"] = cell["rank"]
            if board["baseline"]:
                record[f"{col['metric']} ratio to {board['baseline']}"] = cell["ratio"]
        records.append(record)
    return pd.DataFrame.from_records(records)


def write_report(result_dirs: list[Path], out: Path, fmt: str = "html", baseline: str | None = None) -> Path:
    """Write the report of the runs in `result_dirs` to `out`; returns the path written."""
    from .config import ConfigError
    if fmt not in FORMATS:
        raise ConfigError(f"unknown report format '{fmt}'; choose one of: {', '.join(FORMATS)}.")
    result_dirs = [Path(d) for d in result_dirs]
    for d in result_dirs:
        if not ((d / "results.jsonl").exists() or (d / "results.parquet").exists()):
            raise ConfigError(f"no results in {d}: expected {d / 'results.jsonl'} (run `archbench run --out {d}`).")
    df = load(result_dirs)
    if df.empty:
        raise ConfigError(f"the results in {', '.join(map(str, result_dirs))} have no rows.")
    if baseline is not None and baseline not in set(df["variant"]):
        raise ConfigError(f"baseline variant '{baseline}' is not in these results; they have: "
                          f"{', '.join(_variants(df))}.")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    view = build_view(df, result_dirs, out, baseline=baseline)
    if fmt == "html":
        text = render_html(view)
    elif fmt == "md":
        text = render_markdown(view)
    else:
        text = leaderboard_frame(view).to_csv(index=False)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out
