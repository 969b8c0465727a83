"""Results -> one self-contained HTML report (jinja2 + plotly), a Markdown or a CSV leaderboard.

The HTML file carries everything it needs: plotly.js is inlined once, each figure is a JSON blob
drawn by a few lines of our own JS, the CSS is inlined, and nothing is fetched over the network,
so the file opens from `file://`, from a CI artifact or from an e-mail attachment.

Each section is built by one `_section_*` function from the tidy results frame; a section whose
metrics are absent still appears and says which probe to run. Numbers come from
`suite.analysis.aggregate` (leaderboard, ranks, win rates, Pareto fronts, exponents, ladder deltas); this
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

from suite.analysis import aggregate
from suite.units import format_value

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
    from suite.results import load_results
    return load_results(*[Path(d) for d in result_dirs])


def _settings_cols(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith("settings.")]


def _ok(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    return aggregate.ok_rows(df, metric)


def _varying(rows: pd.DataFrame, ignore: Iterable[str] = ()) -> list[str]:
    """Scale and settings columns that take more than one value among `rows` (they split a series)."""
    cols = (["scale"] if "scale" in rows.columns else []) + _settings_cols(rows)
    return [c for c in cols if c not in ignore and rows[c].nunique(dropna=True) > 1]


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


def _choices_text(candidates: pd.DataFrame, chosen: pd.DataFrame, skip: Iterable[str] = ()) -> str:
    """The choices a figure made: each scale/setting that varies among `candidates` (all rows of
    the metric) with the one value left in `chosen`, e.g. 'phase decode · tiny proxy'. Settings
    every row shares (seed, threads...) are not choices and stay out of the caption."""
    parts = []
    for col in _varying(candidates, ignore=skip):
        values = chosen[col].dropna().unique()
        if len(values) == 1:
            parts.append(_scale_label(values[0]) if col == "scale"
                         else f"{col.removeprefix('settings.')} {_plain(values[0])}")
    return " · ".join(parts)


def _scale_label(scale: Any) -> str:
    return "full size" if str(scale) == "full" else f"{scale} proxy"


def _plain(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ================================================================= metric metadata and format
def _metric_info(metric: str, df: pd.DataFrame | None = None) -> dict[str, Any]:
    """Display name, unit and direction from `suite.metrics.METRICS`, else from the rows."""
    from suite.metrics import METRICS
    if metric in METRICS:
        info = METRICS[metric]
        return dict(name=info.display_name, unit=info.unit, lower_is_better=info.lower_is_better)
    unit, lower = "", None
    if df is not None:
        rows = df[df["metric"] == metric]
        if not rows.empty:
            unit = str(rows["unit"].dropna().iloc[0]) if rows["unit"].notna().any() else ""
            lib = rows["lower_is_better"].dropna()
            lower = bool(lib.iloc[0]) if not lib.empty else None
    return dict(name=metric.replace("_", " "), unit=unit, lower_is_better=lower)


# Tick candidates per decade, sparsest first: an axis gets the sparsest set giving >= 4 ticks.
_LOG_STEPS = ((1,), (1, 3), (1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8))


def _ticks(values: Iterable[Any], unit: str, log: bool = False, zero: bool = True) -> dict[str, Any]:
    """Tick positions and labels in the report's own number format (binary prefixes for bytes,
    K for contexts), so axes read like the table; plotly's SI ticks would say 'G' for bytes."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v)) and (float(v) > 0 or not log)]
    if not xs:
        return {}
    lo, hi = min(xs), max(xs)
    if unit == "context":           # powers of two, labelled 512, 1K, 32K
        exps = range(max(0, math.floor(math.log2(lo))), math.ceil(math.log2(hi)) + 1)
        vals = [2.0 ** e for e in exps if lo / 1.5 <= 2 ** e <= hi * 1.5]
        stride = max(1, math.ceil(len(vals) / 8))
        vals = vals[::stride]
        return dict(tickmode="array", tickvals=vals, ticktext=[_context_label(v) for v in vals])
    base = 1024.0 if unit == "bytes" else 10.0
    if log:
        vals = []
        for steps in _LOG_STEPS:
            vals = _log_candidates(lo, hi, steps, base)
            if len(vals) >= 4:
                break
        vals = vals[: 12]
    else:   # bars start at zero; scatter axes span the data; both with plotly's ~5% margin
        pad = 0.06 * ((hi - min(0.0, lo) if zero else hi - lo) or abs(hi) or 1.0)
        vals = _linear_candidates(min(0.0, lo) if zero else lo - pad, hi + pad, base)
    return dict(tickmode="array", tickvals=vals, ticktext=[format_value(v, unit, trim=True) for v in vals])


def _log_candidates(lo: float, hi: float, steps: tuple[float, ...], base: float) -> list[float]:
    out = []
    unit_exp = math.floor(math.log(lo, base)) - 1
    while base ** unit_exp <= hi * base:
        for decade in (1, 10, 100) if base == 1024.0 else (1,):
            for step in steps:
                v = step * decade * base ** unit_exp
                if lo / 1.08 <= v <= hi * 1.08:
                    out.append(v)
        unit_exp += 1
    return sorted(set(out))


def _linear_candidates(lo: float, hi: float, base: float) -> list[float]:
    if hi <= lo:
        return [lo]
    scale = base ** max(0, math.floor(math.log(hi, base))) if base == 1024.0 and hi >= 1 else 1.0
    span = (hi - lo) / scale
    raw = span / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw) * scale
    start = math.ceil(lo / step - 1e-9) * step
    return [round(start + i * step, 12) for i in range(int((hi - start) / step + 1e-9) + 1)]


def _context_label(n: float) -> str:
    n = int(n)
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)}M"
    return f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else str(n)


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
    text = json.dumps(_clean(fig), cls=PlotlyJSONEncoder, separators=(",", ":"), allow_nan=False)
    return _script_safe(text)


def _script_safe(text: str) -> str:
    # `\/` and `\u0021` are valid JSON escapes, so JSON.parse gives back the original strings.
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


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


# ----------------------------------------------------------------- leaderboard
def default_baseline(df: pd.DataFrame) -> str | None:
    """The ladder's first rung when the ladder was run, else the first variant of the results."""
    rungs = aggregate.ladder_variants(df)
    if rungs:
        return rungs[0]
    variants = _variants(df)
    return variants[0] if variants else None


def leaderboard_view(df: pd.DataFrame, baseline: str | None = None) -> dict[str, Any]:
    """Variants × key metrics (from `aggregate`), each cell with value, rank, ratio to the
    baseline and status; rows ordered by mean win rate."""
    board = aggregate.leaderboard(df)
    ranks = aggregate.ranks(board)
    wins = aggregate.win_rates(board)
    baseline = baseline or default_baseline(df)
    ratios = aggregate.ratio_to_baseline(board, baseline) if baseline in board.index else None
    chosen = board.attrs.get("settings", {})
    families = df.groupby("variant", sort=False)["family"].first().fillna("").astype(str).to_dict()
    probe_of = df[df["metric"].astype(str) != ""].groupby("metric")["probe"].first().to_dict()
    failures = _failures(df)

    columns = []
    for metric in board.columns:
        info = _metric_info(metric, df)
        rows = _column_rows(df, metric, chosen.get(metric, {}))
        settings = {k: v for k, v in chosen.get(metric, {}).items() if k != "scale"}
        scale = ", ".join(_scale_label(x) for x in rows["scale"].dropna().unique()) if "scale" in rows.columns else ""
        columns.append(dict(metric=metric, name=info["name"], unit=info["unit"], unit_label=_unit_label(info["unit"]),
                            lower_is_better=board.attrs["lower_is_better"].get(metric), settings_filter=chosen.get(metric, {}),
                            settings=" · ".join(f"{k.removeprefix('settings.')} {_plain(v)}" for k, v in settings.items()),
                            scale=scale))
    rows = []
    for variant in board.index:
        cells = []
        for col in columns:
            metric = col["metric"]
            value = board.at[variant, metric]
            count = int(board[metric].notna().sum())
            if pd.notna(value):
                rank = None if pd.isna(ranks.at[variant, metric]) else int(ranks.at[variant, metric])
                ratio = ratios.at[variant, metric] if ratios is not None else float("nan")
                cells.append(dict(status="ok", text=format_value(value, col["unit"]), sort=float(value),
                                  title=f"{value:,.6g} {col['unit_label']}".strip() + (f" · rank {rank} of {count}" if rank else ""),
                                  rank=rank, heat=_heat(rank, count) if rank else None,
                                  ratio=f"{ratio:.2f}×" if pd.notna(ratio) and variant != baseline else None))
                continue
            status, error = failures.get((variant, probe_of.get(metric)), ("missing", ""))
            failed = _column_rows(df[df["variant"] == variant], metric, col["settings_filter"], status=None)
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
                         is_baseline=variant == baseline))
    rows.sort(key=lambda r: -1 if r["win_rate"] is None else -r["win_rate"])
    for i, row in enumerate(rows, 1):
        row["position"] = i
    return dict(columns=columns, rows=rows, baseline=baseline, n_variants=len(rows),
                families=sorted({r["family"] for r in rows if r["family"]}))


def _column_rows(df: pd.DataFrame, metric: str, settings: dict[str, Any], status: str | None = "ok") -> pd.DataFrame:
    """The rows behind one leaderboard column (the metric at the settings aggregate chose)."""
    rows = df[df["metric"] == metric]
    if status:
        rows = rows[rows["status"] == status]
    for col, value in settings.items():
        if col not in rows.columns:
            continue
        rows = rows[rows[col].isna()] if pd.isna(value) else rows[rows[col].astype(str) == str(value)]
    return rows


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
                      "bar per rung, the change it brings over the rung before.")
    rungs = aggregate.ladder_variants(df)
    if len(rungs) < 2:
        section.empty = ("No data for this section in these results (run the ladder variants, "
                         "`archbench run ladder/...`, with the analytic, latency and quality probes).")
        return section
    descriptions = {}
    for name in rungs:
        cfg = _config(registry, name)
        descriptions[name] = (cfg.description if cfg is not None else "") or ""
    steps = aggregate.ladder(df, [c["metric"] for c in board["columns"]])
    for col in board["columns"]:
        deltas = steps[(steps["metric"] == col["metric"])].dropna(subset=["value"]).reset_index(drop=True)
        if len(deltas) < 2:
            continue
        # the delta to the rung *drawn* before (a rung without the metric is skipped)
        deltas["delta"] = deltas["value"].diff()
        pct = (deltas["delta"] / deltas["value"].shift().abs() * 100).tolist()
        lower = col["lower_is_better"]
        good, bad, neutral = "#10b981", "#f43f5e", "#94a3b8"
        measure = ["absolute"] + ["relative"] * (len(deltas) - 1)
        y = [float(deltas["value"].iloc[0])] + [float(v) for v in deltas["delta"].iloc[1:]]
        text = [format_value(deltas["value"].iloc[0], col["unit"])] + [
            f"{p:+.0f}%" if math.isfinite(p) and p != 0 else ("±0" if d == 0 else _signed(d, col["unit"]))
            for d, p in zip(deltas["delta"].iloc[1:], pct[1:])]
        hover = [f"<b>{_esc(_short(r))}</b>" + (f"<br>{_esc(descriptions[r])}" if descriptions.get(r) else "")
                 + f"<br>{format_value(v, col['unit'])}" + ("" if i == 0 else f" ({t})")
                 for i, (r, v, t) in enumerate(zip(deltas["rung"], deltas["value"], text))]
        trace = dict(type="waterfall", x=[_esc(_short(r)) for r in deltas["rung"]], y=y, measure=measure,
                     text=text, textposition="outside", hovertext=hover, hoverinfo="text",
                     cliponaxis=False, connector=dict(line=dict(color="#cbd5e1", width=1)),
                     increasing=dict(marker=dict(color=neutral if lower is None else bad if lower else good)),
                     decreasing=dict(marker=dict(color=neutral if lower is None else good if lower else bad)),
                     totals=dict(marker=dict(color="#64748b")))
        layout = _layout(height=340, showlegend=False, margin=dict(l=64, r=16, t=28, b=90),
                         xaxis=_axis(tickangle=-30),
                         yaxis=_axis(**_ticks(deltas["value"].tolist() + [0.0], col["unit"])))
        note = " · ".join(x for x in (col["settings"], col["scale"] and _scale_label(col["scale"])) if x)
        section.figures.append(figs.make(_title(col["metric"], df), [trace], layout, note=note))
    if not section.figures:
        section.empty = _empty("analytic", "The ladder variants have no key metric in common.")
    section.extra["rungs"] = [dict(name=r, description=descriptions[r]) for r in rungs]
    return section


def _signed(delta: float, unit: str) -> str:
    return ("+" if delta > 0 else "−") + format_value(abs(delta), unit)


def _short(variant: str) -> str:
    """A rung's name without the `ladder/` folder, for crowded axes."""
    return variant.split("/", 1)[1] if variant.startswith(LADDER_FAMILY + "/") else variant


# ----------------------------------------------------------------- context scaling
_SCALING_PANELS = (
    # metric, preferred phase when the rows have several
    ("prefill_ms", "prefill"),
    ("decode_ms_per_token", "decode"),
    ("peak_memory_bytes", "prefill"),
)


def _section_scaling(df: pd.DataFrame, figs: _Figures, colors: dict[str, str]) -> Section:
    section = Section("scaling", "Context scaling",
                      "Latency and memory against context length on log-log axes; the legend gives "
                      "each variant's fitted exponent (1 = linear, 2 = quadratic), ✕ marks where two "
                      "variants cross, the dashed line is the memory budget.")
    crossings = _ok(df, "crossover_context")
    for metric, phase in _SCALING_PANELS:
        rows = _ok(df, metric)
        if "settings.context" not in rows.columns:
            continue
        rows = rows[pd.to_numeric(rows["settings.context"], errors="coerce").notna()]
        rows = _prefer(rows, dict(_keep=("settings.context",), batch=1, phase=phase))
        if rows.empty or rows["settings.context"].nunique() < 2:
            continue
        info = _metric_info(metric, df)
        # exponents of exactly the points drawn, so the legend describes the curve beside it
        fits = aggregate.scaling_exponents(rows, metric)
        exps = dict(zip(fits["variant"], fits["exponent"]))
        traces = []
        curves: dict[str, tuple[list[float], list[float]]] = {}
        for variant, group in rows.groupby("variant", sort=False):
            group = group.assign(_ctx=pd.to_numeric(group["settings.context"])).sort_values("_ctx")
            group = group.groupby("_ctx", as_index=False)["value"].last()
            x, y = group["_ctx"].tolist(), pd.to_numeric(group["value"]).tolist()
            curves[variant] = (x, y)
            k = exps.get(variant)
            label = _esc(variant) + (f"  (n^{k:.2f})" if k is not None and math.isfinite(k) else "")
            traces.append(dict(type="scatter", mode="lines+markers", name=label, x=x, y=y,
                               line=dict(color=colors.get(variant), width=2), marker=dict(size=6),
                               legendgroup=variant, hoverinfo="text",
                               hovertext=[f"<b>{_esc(variant)}</b><br>context {_plain(a)}<br>"
                                          f"{format_value(b, info['unit'])}" for a, b in zip(x, y)]))
        traces += _crossover_markers(crossings, curves, phase, metric)
        layout = _layout(xaxis=_axis("context (tokens)", log=True, **_ticks(rows["settings.context"], "context")),
                         yaxis=_axis(_title(metric, df), log=True, **_ticks(rows["value"], info["unit"], log=True)),
                         legend=dict(font=dict(size=11), orientation="h", y=-0.22, x=0),
                         height=400, margin=dict(l=64, r=16, t=16, b=40))
        section.figures.append(figs.make(_title(metric, df) + " vs context", traces, layout,
                                         note=_choices_text(_ok(df, metric), rows, skip=("settings.context",))))
    budget_fig = _budget_figure(df, figs, colors)
    if budget_fig is not None:
        section.figures.append(budget_fig)
    if not section.figures:
        section.empty = _empty("latency, memory and scaling",
                               "They need at least two context lengths per variant.")
    return section


def _esc(text: Any) -> str:
    """Text for plotly labels, legends and hovers: plotly renders a subset of HTML tags there and
    treats %{...} as template fields, so a variant's name is escaped before it reaches a figure."""
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
        texts.append(f"{_esc(row['variant'])} crosses {_esc(row['settings.other_variant'])}"
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
    """Analytic serving memory (weights + KV cache) vs context, the memory budget as a dashed
    line and, dotted, each variant's way up to the longest context that fits the budget."""
    kv = _ok(df, "kv_cache_bytes")
    if "settings.context" not in kv.columns:
        return None
    kv = _prefer(kv[pd.to_numeric(kv["settings.context"], errors="coerce").notna()],
                 dict(_keep=("settings.context",), dtype="bf16", scale="full"))
    if kv.empty or kv["settings.context"].nunique() < 2:
        return None
    dtype = _common(kv, "settings.dtype")
    scale = _common(kv, "scale")
    weights = _per_variant(df, "weights_bytes", dtype=dtype, scale=scale)
    budgets = _ok(df, "max_context_at_budget")
    budget, budget_label = None, ""
    if "settings.memory_budget" in budgets.columns:
        sizes = budgets["settings.memory_budget"].map(_parse_bytes)
        if sizes.notna().any():
            budget = float(sizes.dropna().mode().iloc[0])
            budgets = _prefer(budgets[sizes == budget], dict(dtype=dtype, scale=scale))
            raw = budgets["settings.memory_budget"].iloc[0]
            budget_label = raw if isinstance(raw, str) else format_value(budget, "bytes")  # as the user wrote it
    reach = budgets.groupby("variant")["value"].last() if budget else pd.Series(dtype=float)

    traces, xs_all, ys_all = [], [], []
    for variant, group in kv.groupby("variant", sort=False):
        group = group.assign(_ctx=pd.to_numeric(group["settings.context"])).sort_values("_ctx")
        group = group.groupby("_ctx", as_index=False)["value"].last()
        w = float(weights.get(variant, 0.0) or 0.0)
        x, y = group["_ctx"].tolist(), (pd.to_numeric(group["value"]) + w).tolist()
        xs_all += x
        ys_all += y
        traces.append(dict(type="scatter", mode="lines+markers", name=_esc(variant), x=x, y=y,
                           line=dict(color=colors.get(variant), width=2), marker=dict(size=5),
                           legendgroup=variant, hoverinfo="text",
                           hovertext=[f"<b>{_esc(variant)}</b><br>context {_context_label(a)}<br>"
                                      f"{format_value(b, 'bytes')}" for a, b in zip(x, y)]))
        n = float(reach.get(variant, float("nan")))
        if math.isfinite(n) and n > 0:
            xs_all.append(n)
            traces.append(dict(type="scatter", mode="lines+markers", x=[x[-1], n] if n > x[-1] else [n],
                               y=[y[-1], budget] if n > x[-1] else [budget], showlegend=False,
                               legendgroup=variant, line=dict(color=colors.get(variant), width=1.5, dash="dot"),
                               marker=dict(size=[0, 9] if n > x[-1] else [9], symbol="diamond",
                                           color=colors.get(variant)),
                               hoverinfo="text", hovertext=f"<b>{_esc(variant)}</b><br>fits {n:,.0f} tokens "
                                                           f"in {_esc(budget_label)}"))
    shapes, annotations = [], []
    if budget:
        ys_all.append(budget)
        shapes.append(dict(type="line", xref="paper", x0=0, x1=1, yref="y", y0=budget, y1=budget,
                           line=dict(color="#ef4444", width=1.5, dash="dash")))
        annotations.append(dict(xref="paper", x=0.01, y=math.log10(budget), yref="y", yanchor="bottom",
                                xanchor="left", showarrow=False, text=f"budget {_esc(budget_label)}",
                                font=dict(color="#ef4444", size=11)))
    layout = _layout(xaxis=_axis("context (tokens)", log=True, **_ticks(xs_all, "context")),
                     yaxis=_axis("weights + KV cache", log=True, **_ticks(ys_all, "bytes", log=True)),
                     legend=dict(font=dict(size=11), orientation="h", y=-0.22, x=0),
                     shapes=shapes, annotations=annotations, height=400, margin=dict(l=64, r=16, t=16, b=40))
    note = " · ".join(t for t in ("analytic", scale and _scale_label(scale), dtype and f"dtype {dtype}") if t)
    return figs.make("Serving memory vs context", traces, layout, note=note)


def _parse_bytes(value: Any) -> float | None:
    """A budget setting ('80GB', '8GiB', 24e9) as bytes; None when it cannot be read."""
    from suite.analytic.budget import parse_size
    from suite.config import ConfigError
    try:
        return float(parse_size(value))
    except (ConfigError, TypeError, ValueError):
        return None


# ----------------------------------------------------------------- memory breakdown
_MEMORY_PARTS = (
    # metric, label, colour
    ("weights_bytes", "weights", "#3b82f6"),
    ("kv_cache_bytes", "KV cache", "#f59e0b"),
    ("activation_bytes_train", "activations (train)", "#10b981"),
)


def _section_memory(df: pd.DataFrame, figs: _Figures) -> Section:
    section = Section("memory", "Memory breakdown",
                      "Where the bytes go: weights, KV cache and training activations from the analytic "
                      "model, stacked; beside it the peak the memory probe measured against the analytic "
                      "prediction for the same run.")
    stacked = _memory_stack(df, figs)
    measured = _memory_measured(df, figs)
    section.figures += [f for f in (stacked, measured) if f is not None]
    if not section.figures:
        section.empty = _empty("analytic or memory")
    return section


def _hbar_layout(n: int, unit_values: list[float], title: str) -> dict[str, Any]:
    return _layout(barmode="stack", height=max(260, 70 + 34 * n), bargap=0.3,
                   xaxis=_axis(title, **_ticks(unit_values + [0.0], "bytes")),
                   yaxis=_axis(autorange="reversed", ticks=""),
                   legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, font=dict(size=11),
                               traceorder="normal"),
                   margin=dict(l=16, r=24, t=36, b=48))


def _memory_stack(df: pd.DataFrame, figs: _Figures) -> Figure | None:
    """Analytic bytes by component per variant, at one dtype, one scale and one context."""
    weights = _ok(df, "weights_bytes")
    if weights.empty and _ok(df, "kv_cache_bytes").empty:
        return None
    dtype = _common(_prefer(weights, dict(dtype="bf16", scale="full")), "settings.dtype")
    scale = _common(_prefer(weights, dict(scale="full")), "scale")
    kv = _prefer(_ok(df, "kv_cache_bytes"), dict(_keep=("settings.context",), dtype=dtype, scale=scale))
    context = _max_shared_context(kv) if "settings.context" in kv.columns and kv["settings.context"].notna().any() else None
    parts = {metric: _per_variant(df, metric, dtype=dtype, context=context, checkpointing=False, scale=scale)
             for metric, _, _ in _MEMORY_PARTS}
    variants = [v for v in _variants(df) if any(v in values.index for values in parts.values())]
    traces, totals = [], [0.0] * len(variants)
    for metric, label, color in _MEMORY_PARTS:
        values = [_nan_none(parts[metric].get(v)) for v in variants]
        if all(v is None for v in values):
            continue
        totals = [t + (v or 0.0) for t, v in zip(totals, values)]
        traces.append(dict(type="bar", orientation="h", name=label, marker=dict(color=color),
                           y=[_esc(v) for v in variants], x=values, hoverinfo="text",
                           hovertext=[f"<b>{_esc(v)}</b><br>{label}: {format_value(x, 'bytes')}"
                                      for v, x in zip(variants, values)]))
    if not traces:
        return None
    notes = [t for t in ("analytic", scale and _scale_label(scale), dtype and f"dtype {dtype}",
                         context is not None and f"KV cache at context {_context_label(float(context))}") if t]
    return figs.make("Memory by component", traces, _hbar_layout(len(variants), totals, "bytes"),
                     note=" · ".join(notes))


def _memory_measured(df: pd.DataFrame, figs: _Figures) -> Figure | None:
    """Measured peak vs the analytic prediction of the same cell, per variant (one phase, one context)."""
    measured = _ok(df, "peak_memory_bytes")
    if measured.empty:
        return None
    predicted = _ok(df, "peak_memory_bytes_analytic")
    keep = dict(batch=1)
    if not predicted.empty:   # compare where both exist: the settings of the prediction
        for col in ("settings.phase", "settings.context", "scale"):
            value = _common(predicted, col)
            if value is not None:
                keep[col.removeprefix("settings.")] = value
    measured = _prefer(measured, keep)
    predicted = _prefer(predicted, keep)
    meas = measured.groupby("variant")["value"].max()
    pred = predicted.groupby("variant")["value"].max()
    variants = [v for v in _variants(df) if v in meas.index or v in pred.index]
    traces = []
    for label, values, color in (("measured peak", meas, "#475569"), ("analytic peak", pred, "#cbd5e1")):
        if values.empty:
            continue
        xs = [_nan_none(values.get(v)) for v in variants]
        traces.append(dict(type="bar", orientation="h", name=label, marker=dict(color=color),
                           y=[_esc(v) for v in variants], x=xs, hoverinfo="text",
                           hovertext=[f"<b>{_esc(v)}</b><br>{label}: {format_value(x, 'bytes')}"
                                      + (f"<br>measured / analytic {meas[v] / pred[v]:.2f}×"
                                         if v in meas.index and v in pred.index and pred[v] else "")
                                      for v, x in zip(variants, xs)]))
    layout = _hbar_layout(len(variants), meas.tolist() + pred.tolist(), "bytes")
    layout["barmode"] = "group"
    notes = [t for t in ("measured", _choices_text(_ok(df, "peak_memory_bytes"), measured)) if t]
    return figs.make("Peak memory: measured vs analytic", traces, layout, note=" · ".join(notes))


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
     ("quality", "latency")),
    (("params_active", "params_total"), ("bits_per_byte", "mqar_accuracy", "copy_accuracy"),
     ("quality", "analytic")),
)


def _section_tradeoffs(df: pd.DataFrame, figs: _Figures, colors: dict[str, str]) -> Section:
    section = Section("tradeoffs", "Trade-offs",
                      "Quality against cost; the line joins the Pareto front, the variants no other "
                      "variant beats on both axes." + _fairness_warning(df))
    hints = []
    for xs, ys, probe in _TRADEOFFS:
        x_metric = next((m for m in xs if not _ok(df, m).empty), None)
        y_metric = next((m for m in ys if not _ok(df, m).empty), None)
        if x_metric is None or y_metric is None:
            hints += probe
            continue
        points = aggregate.pareto_front(df, x_metric, y_metric)
        if len(points) < 2:   # one point has no trade-off to show
            hints += probe
            continue
        xi, yi = _metric_info(x_metric, df), _metric_info(y_metric, df)
        front = points[points["on_front"]].sort_values("x")
        traces = [dict(type="scatter", mode="lines", name="Pareto front", x=front["x"].tolist(),
                       y=front["y"].tolist(), hoverinfo="skip",
                       line=dict(color="#94a3b8", width=2, dash="dot", shape="hv"))]
        for point in points.itertuples():
            variant, on_front = point.variant, bool(point.on_front)
            traces.append(dict(type="scatter", mode="markers+text", name=_esc(variant), x=[point.x], y=[point.y],
                               text=[_esc(_short(variant))], textposition="top center",
                               textfont=dict(size=10, color="#4b5563"),
                               marker=dict(size=13 if on_front else 10, color=colors.get(variant),
                                           line=dict(width=2 if on_front else 0, color="#111827")),
                               hoverinfo="text", showlegend=False,
                               hovertext=f"<b>{_esc(variant)}</b><br>{xi['name']}: {format_value(point.x, xi['unit'])}"
                                         f"<br>{yi['name']}: {format_value(point.y, yi['unit'])}"
                                         + ("<br>on the Pareto front" if on_front else "")))
        arrow = lambda lower: "lower is better" if lower is not False else "higher is better"
        layout = _layout(xaxis=_axis(f"{_title(x_metric, df)} — {arrow(xi['lower_is_better'])}",
                                     log=True, **_ticks(points["x"], xi["unit"], log=True)),
                         yaxis=_axis(f"{_title(y_metric, df)} — {arrow(yi['lower_is_better'])}",
                                     **_ticks(points["y"], yi["unit"], zero=False)),
                         showlegend=False, height=400)
        chosen = points.attrs.get("settings", {})
        note = " · ".join(f"{_metric_info(m, df)['name']}: " + ", ".join(
            f"{k.removeprefix('settings.')} {_plain(v)}" for k, v in chosen[m].items()) for m in chosen if chosen[m])
        section.figures.append(figs.make(f"{yi['name']} vs {xi['name']}", traces, layout, note=note))
    if not section.figures:
        section.empty = (f"No data for this section in these results (run probes "
                         f"{', '.join(dict.fromkeys(hints or ['quality']))} on at least two variants: a "
                         f"trade-off needs a quality and a cost metric for each).")
    return section


def _fairness_warning(df: pd.DataFrame) -> str:
    """The quality fairness rule (matched active non-embedding params ±10%, same token budget):
    a report shows unmatched proxies, but says so instead of ranking them silently."""
    if "probe" not in df or not (df["probe"] == "quality").any():
        return ""
    from suite.probes.quality import quality_table
    try:
        note = quality_table(df, strict=False).attrs.get("fairness", "ok")
    except (KeyError, ValueError, TypeError):
        return ""
    return "" if note == "ok" else (f" Caution: these proxies are not a fair quality comparison "
                                    f"(fairness rule: {note}).")


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
    return aggregate.variants_in_order(df)


def _config(registry, name: str):
    if registry is None or name not in registry.entries:
        return None
    try:
        return registry.resolve(name).config
    except Exception:  # a broken variant must not break the whole report
        return None


def _config_diff(registry, variant: str) -> list[dict[str, str]]:
    """Fields this variant sets, with the value its base would have given (or the default)."""
    from suite.config import IDENTITY_FIELDS, ModelConfig
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


def _param_breakdown(cfg) -> list[dict[str, Any]]:
    """Non-zero components with their share of the total, then active and total."""
    from suite.analytic.params import count_params
    try:
        counts = count_params(cfg)
    except Exception:  # noqa: BLE001 - a card without a breakdown beats no report
        return []
    total = float(counts["total"]) or 1.0
    rows = [dict(name=k.replace("_", " "), value=format_value(v, "count"), share=100.0 * v / total, strong=False)
            for k, v in (counts.get("by_component") or {}).items() if v]
    for key in ("active", "total"):
        if key in counts and (key == "total" or counts[key] != counts["total"]):
            rows.append(dict(name=key, value=format_value(counts[key], "count"), share=None, strong=key == "total"))
    return rows


def _param_rows_from_results(df: pd.DataFrame, variant: str) -> list[dict[str, str]]:
    rows = []
    for metric in ("params_embedding", "params_active", "params_total"):
        values = _per_variant(df[df["variant"] == variant], metric)
        if not values.empty:
            rows.append(dict(name=metric.removeprefix("params_"), value=format_value(values.iloc[0], "count"),
                             share=None, strong=metric == "params_total"))
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
    from suite.registry import data_dir
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(data_dir("reports"))),
                             autoescape=jinja2.select_autoescape(("html", "html.j2"), default_for_string=True),
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["md"] = _md_escape   # the Markdown template is not HTML-autoescaped: it escapes per cell
    return env


def _asset(name: str) -> str:
    from suite.registry import data_dir
    text = (data_dir("reports") / "static" / name).read_text()
    return _script_safe(text) if name.endswith(".js") else text.replace("</", "<\\/")


def _colors(variants: list[str]) -> dict[str, str]:
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(variants)}


def _registry():
    """The built-in registry, or None with the reason (a report must not fail on a broken YAML)."""
    try:
        from suite.registry import Registry
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
    from suite import __version__
    template = _env().get_template("report.html.j2")
    return template.render(**view, version=__version__, css=_asset("report.css"), js=_asset("report.js"),
                           plotly_js=_script_safe(get_plotlyjs()))


def render_markdown(view: dict[str, Any]) -> str:
    template = _env().get_template("leaderboard.md.j2")
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
    from suite.config import ConfigError
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
