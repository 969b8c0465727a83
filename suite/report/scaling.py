"""The context-scaling section: latency and memory against context, fitted exponents, crossovers, the
memory budget, and for variants with mixer layers the analytic context from which they pay."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from suite.analysis import aggregate
from suite.analysis.aggregate import ok_rows, variants_in_order
from suite.analysis.quality_gate import extra_dict
from suite.analytic import crossover
from suite.config import ConfigError
from suite.report.cards import variant_config
from suite.report.figures import Figure, Figures, axis, context_label, esc, figure_layout, ticks
from suite.report.pick import choices_text, common, metric_info, metric_title, per_variant, plain, prefer, scale_label
from suite.report.sections import Section, no_data
from suite.units import format_value, parse_size

_SCALING_PANELS = (
    # metric, preferred phase when the rows have several
    ("prefill_ms", "prefill"),
    ("decode_ms_per_token", "decode"),
    ("peak_memory_bytes", "prefill"),
)


def section_scaling(df: pd.DataFrame, figs: Figures, colors: dict[str, str], registry=None) -> Section:
    """`registry` (optional) gives the configs of the variants: with it, each variant with mixer
    layers gets the analytic figure of where they pay against its all-attention twin."""
    section = Section(
        "scaling",
        "Context scaling",
        "Latency and memory against context length on log-log axes; the legend gives "
        "each variant's fitted exponent (1 = linear, 2 = quadratic); bars on measured timings are the "
        "interquartile range of the repeats; ✕ marks where two "
        "variants cross, the dashed line is the memory budget. A variant with mixer layers "
        "is drawn beside its all-attention twin (analytic, full size): ✕ marks the context "
        "from which the mixers are cheaper.",
    )
    crossings = ok_rows(df, "crossover_context")
    for metric, phase in _SCALING_PANELS:
        rows = ok_rows(df, metric)
        if "settings.context" not in rows.columns:
            continue
        rows = rows[pd.to_numeric(rows["settings.context"], errors="coerce").notna()]
        rows = prefer(rows, dict(_keep=("settings.context",), batch=1, phase=phase))
        if rows.empty or rows["settings.context"].nunique() < 2:
            continue
        info = metric_info(metric, df)
        # exponents of exactly the points drawn, so the legend describes the curve beside it
        fits = aggregate.scaling_exponents(rows, metric)
        exps = dict(zip(fits["variant"], fits["exponent"]))
        traces = []
        curves: dict[str, tuple[list[float], list[float]]] = {}
        for variant, group in rows.groupby("variant", sort=False):
            group = group.assign(_ctx=pd.to_numeric(group["settings.context"])).sort_values("_ctx")
            group = group.groupby("_ctx", as_index=False).last()
            x, y = group["_ctx"].tolist(), pd.to_numeric(group["value"]).tolist()
            spread = _quartile_bars(group["extra"].tolist() if "extra" in group else [], y)
            curves[variant] = (x, y)
            k = exps.get(variant)
            label = esc(variant) + (f"  (n^{k:.2f})" if k is not None and math.isfinite(k) else "")
            traces.append(
                dict(
                    type="scatter",
                    mode="lines+markers",
                    name=label,
                    x=x,
                    y=y,
                    line=dict(color=colors.get(variant), width=2),
                    marker=dict(size=6),
                    **spread,
                    legendgroup=variant,
                    hoverinfo="text",
                    hovertext=[
                        f"<b>{esc(variant)}</b><br>context {plain(a)}<br>{format_value(b, info['unit'])}"
                        for a, b in zip(x, y)
                    ],
                )
            )
        traces += _crossover_markers(crossings, curves, phase, metric)
        layout = figure_layout(
            xaxis=axis("context (tokens)", log=True, **ticks(rows["settings.context"], "context")),
            yaxis=axis(metric_title(metric, df), log=True, **ticks(rows["value"], info["unit"], log=True)),
            legend=dict(font=dict(size=11), orientation="h", y=-0.22, x=0),
            height=400,
            margin=dict(l=64, r=16, t=16, b=40),
        )
        section.figures.append(
            figs.make(
                metric_title(metric, df) + " vs context",
                traces,
                layout,
                note=choices_text(ok_rows(df, metric), rows, skip=("settings.context",)),
            )
        )
    budget_fig = _budget_figure(df, figs, colors)
    if budget_fig is not None:
        section.figures.append(budget_fig)
    for variant in variants_in_order(df):
        cfg = variant_config(registry, variant)
        if cfg is not None and crossover.has_mixers(cfg):
            section.figures.append(_mixer_figure(cfg, figs, colors.get(variant)))
    if not section.figures:
        section.empty = no_data("latency, memory and scaling", "They need at least two context lengths per variant.")
    return section


def _quartile_bars(extras: list, ys: list[float]) -> dict[str, Any]:
    """Error bars from the repeats' interquartile range (`extra.q25/q75` of a timing), when every point has it."""
    bounds = []
    for extra, y in zip(extras, ys):
        e = extra_dict(extra)
        lo, hi = e.get("q25"), e.get("q75")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (lo, hi, y)):
            return {}
        bounds.append((max(0.0, y - lo), max(0.0, hi - y)))
    if not bounds:
        return {}
    return dict(
        error_y=dict(
            type="data",
            symmetric=False,
            array=[b[1] for b in bounds],
            arrayminus=[b[0] for b in bounds],
            thickness=1,
            width=2,
        )
    )


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
        texts.append(f"{esc(row['variant'])} crosses {esc(row['settings.other_variant'])}<br>at context {n:,.0f}")
    if not xs:
        return []
    return [
        dict(
            type="scatter",
            mode="markers",
            name="crossover",
            x=xs,
            y=ys,
            hovertext=texts,
            hoverinfo="text",
            marker=dict(symbol="x-thin", size=14, color="#111827", line=dict(width=2.5, color="#111827")),
        )
    ]


def _loglog_interp(xs: list[float], ys: list[float], x: float) -> float | None:
    pts = [(a, b) for a, b in zip(xs, ys) if a > 0 and b > 0]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= x <= x1 and x1 > x0:
            t = (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0)))
    return None


def _budget_figure(df: pd.DataFrame, figs: Figures, colors: dict[str, str]) -> Figure | None:
    """Analytic serving memory (weights + KV cache) vs context, the memory budget as a dashed
    line and, dotted, each variant's way up to the longest context that fits the budget."""
    kv = ok_rows(df, "kv_cache_bytes")
    if "settings.context" not in kv.columns:
        return None
    kv = prefer(
        kv[pd.to_numeric(kv["settings.context"], errors="coerce").notna()],
        dict(_keep=("settings.context",), dtype="bf16", scale="full"),
    )
    if kv.empty or kv["settings.context"].nunique() < 2:
        return None
    dtype = common(kv, "settings.dtype")
    scale = common(kv, "scale")
    weights = per_variant(df, "weights_bytes", dtype=dtype, scale=scale)
    budgets = ok_rows(df, "max_context_at_budget")
    budget, budget_label = None, ""
    if "settings.memory_budget" in budgets.columns:
        sizes = budgets["settings.memory_budget"].map(_budget_bytes)
        if sizes.notna().any():
            budget = float(sizes.dropna().mode().iloc[0])
            budgets = prefer(budgets[sizes == budget], dict(dtype=dtype, scale=scale))
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
        traces.append(
            dict(
                type="scatter",
                mode="lines+markers",
                name=esc(variant),
                x=x,
                y=y,
                line=dict(color=colors.get(variant), width=2),
                marker=dict(size=5),
                legendgroup=variant,
                hoverinfo="text",
                hovertext=[
                    f"<b>{esc(variant)}</b><br>context {context_label(a)}<br>{format_value(b, 'bytes')}"
                    for a, b in zip(x, y)
                ],
            )
        )
        n = float(reach.get(variant, float("nan")))
        if math.isfinite(n) and n > 0:
            xs_all.append(n)
            traces.append(
                dict(
                    type="scatter",
                    mode="lines+markers",
                    x=[x[-1], n] if n > x[-1] else [n],
                    y=[y[-1], budget] if n > x[-1] else [budget],
                    showlegend=False,
                    legendgroup=variant,
                    line=dict(color=colors.get(variant), width=1.5, dash="dot"),
                    marker=dict(size=[0, 9] if n > x[-1] else [9], symbol="diamond", color=colors.get(variant)),
                    hoverinfo="text",
                    hovertext=f"<b>{esc(variant)}</b><br>fits {n:,.0f} tokens in {esc(budget_label)}",
                )
            )
    shapes, annotations = [], []
    if budget:
        ys_all.append(budget)
        shapes.append(
            dict(
                type="line",
                xref="paper",
                x0=0,
                x1=1,
                yref="y",
                y0=budget,
                y1=budget,
                line=dict(color="#ef4444", width=1.5, dash="dash"),
            )
        )
        annotations.append(
            dict(
                xref="paper",
                x=0.01,
                y=math.log10(budget),
                yref="y",
                yanchor="bottom",
                xanchor="left",
                showarrow=False,
                text=f"budget {esc(budget_label)}",
                font=dict(color="#ef4444", size=11),
            )
        )
    layout = figure_layout(
        xaxis=axis("context (tokens)", log=True, **ticks(xs_all, "context")),
        yaxis=axis("weights + KV cache", log=True, **ticks(ys_all, "bytes", log=True)),
        legend=dict(font=dict(size=11), orientation="h", y=-0.22, x=0),
        shapes=shapes,
        annotations=annotations,
        height=400,
        margin=dict(l=64, r=16, t=16, b=40),
    )
    note = " · ".join(t for t in ("analytic", scale and scale_label(scale), dtype and f"dtype {dtype}") if t)
    return figs.make("Serving memory vs context", traces, layout, note=note)


def _budget_bytes(value: Any) -> float | None:
    """A budget setting ('80GB', '8GiB', 24e9) as bytes; None when it cannot be read."""
    try:
        return float(parse_size(value))
    except (ConfigError, TypeError, ValueError):
        return None


_MIXER_PANELS = (("decode_flops", "decode FLOPs per token"), ("cache_bytes", "KV cache + state"))


def _mixer_figure(cfg, figs: Figures, color: str | None) -> Figure:
    """Decode FLOPs per token and cache bytes against context for a variant with mixer layers and its
    all-attention twin, side by side, ✕ where the variant becomes the cheaper one."""
    found = crossover.analyse(cfg)
    curves = crossover.series(cfg)
    xs = curves["contexts"]
    traces, layout = [], {}
    for i, (cost, title) in enumerate(_MIXER_PANELS):
        suffix = "" if i == 0 else str(i + 1)
        unit = crossover.COSTS[cost].unit
        item = found["costs"][cost]
        for who, dash in (("hybrid", "solid"), ("twin", "dash")):
            name = esc(cfg.name) if who == "hybrid" else "all-attention twin"
            traces.append(
                dict(
                    type="scatter",
                    mode="lines",
                    name=name,
                    x=xs,
                    y=curves[who][cost],
                    xaxis="x" + suffix,
                    yaxis="y" + suffix,
                    legendgroup=who,
                    showlegend=i == 0,
                    line=dict(color=color, width=2, dash=dash),
                    hoverinfo="text",
                    hovertext=[
                        f"{name}<br>context {context_label(a)}<br>{format_value(b, unit)}"
                        for a, b in zip(xs, curves[who][cost])
                    ],
                )
            )
        start = item["from_context"]
        if start is not None:
            at = crossover.cost_at(cfg, cost, start)
            traces.append(
                dict(
                    type="scatter",
                    mode="markers",
                    name="cheaper from",
                    x=[start],
                    y=[at],
                    xaxis="x" + suffix,
                    yaxis="y" + suffix,
                    legendgroup="crossover",
                    showlegend=i == 0,
                    marker=dict(symbol="x-thin", size=14, color="#111827", line=dict(width=2.5, color="#111827")),
                    hoverinfo="text",
                    hovertext=f"mixers cheaper from {start:,} tokens<br>{esc(item['reason'])}",
                )
            )
        domain = [0.0, 0.45] if i == 0 else [0.55, 1.0]
        values = curves["hybrid"][cost] + curves["twin"][cost]
        layout["xaxis" + suffix] = axis(
            "context (tokens)", log=True, domain=domain, anchor="y" + suffix, **ticks(xs, "context")
        )
        log = max(values) > 10 * min(values)  # a log axis over less than a decade gets one tick
        layout["yaxis" + suffix] = axis(title, log=log, anchor="x" + suffix, **ticks(values, unit, log=log, zero=False))
    note = "; ".join(
        f"{item['label']}: " + ("never" if item["from_context"] is None else f"cheaper from {item['from_context']:,}")
        for item in found["costs"].values()
    )
    twin = found["twin"]
    note += f" · twin {format_value(twin['params_total'], 'count')} params · {found['assumptions']}"
    layout = figure_layout(**layout, legend=dict(font=dict(size=11), orientation="h", y=-0.25, x=0), height=380)
    return figs.make(f"{cfg.name}: where its mixer layers pay", traces, layout, note=note, wide=True)
