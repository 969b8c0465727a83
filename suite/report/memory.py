"""The memory section: analytic bytes by component, and the measured peak beside the analytic prediction."""

from __future__ import annotations

from typing import Any

import pandas as pd

from suite.analysis import aggregate
from suite.analysis.aggregate import ok_rows
from suite.report.figures import Figure, Figures, axis, context_label, esc, figure_layout, ticks
from suite.report.pick import choices_text, common, max_shared_context, nan_none, per_variant, prefer, scale_label
from suite.report.sections import Section, no_data
from suite.units import format_value

_MEMORY_PARTS = (
    # metric, label, colour
    ("weights_bytes", "weights", "#3b82f6"),
    ("kv_cache_bytes", "KV cache", "#f59e0b"),
    ("activation_bytes_train", "activations (train)", "#10b981"),
)


def section_memory(df: pd.DataFrame, figs: Figures) -> Section:
    section = Section(
        "memory",
        "Memory breakdown",
        "Where the bytes go: weights, KV cache and training activations from the analytic "
        "model, stacked (side by side on a log axis when they span orders of magnitude); beside it the peak "
        "the memory probe measured against the analytic "
        "prediction for the same run.",
    )
    stacked = _memory_stack(df, figs)
    measured = _memory_measured(df, figs)
    section.figures += [f for f in (stacked, measured) if f is not None]
    if not section.figures:
        section.empty = no_data("analytic or memory")
    return section


# Past this ratio between the largest and the smallest bar a linear axis shows the small ones as nothing.
LOG_SPAN = 100.0


def wide_span(values: list[float]) -> bool:
    """Values that span orders of magnitude (largest / smallest positive > LOG_SPAN): draw them on a log axis."""
    positive = [v for v in values if v and v > 0]
    return len(positive) > 1 and max(positive) / min(positive) > LOG_SPAN


def _hbar_layout(n: int, unit_values: list[float], title: str, log: bool = False) -> dict[str, Any]:
    return figure_layout(
        # on a log axis stacked segments would not show their share: the parts stand side by side
        barmode="group" if log else "stack",
        height=max(260, 70 + 34 * n) * (2 if log else 1),
        bargap=0.3,
        xaxis=axis(title, log=log, **ticks(unit_values if log else unit_values + [0.0], "bytes", log=log)),
        yaxis=axis(autorange="reversed", ticks=""),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, font=dict(size=11), traceorder="normal"),
        margin=dict(l=16, r=24, t=36, b=48),
    )


def _memory_stack(df: pd.DataFrame, figs: Figures) -> Figure | None:
    """Analytic bytes by component per variant, at one dtype, one scale and one context."""
    weights = ok_rows(df, "weights_bytes")
    if weights.empty and ok_rows(df, "kv_cache_bytes").empty:
        return None
    dtype = common(prefer(weights, dict(dtype="bf16", scale="full")), "settings.dtype")
    scale = common(prefer(weights, dict(scale="full")), "scale")
    kv = prefer(ok_rows(df, "kv_cache_bytes"), dict(_keep=("settings.context",), dtype=dtype, scale=scale))
    has_context = "settings.context" in kv.columns and kv["settings.context"].notna().any()
    context = max_shared_context(kv) if has_context else None
    parts = {
        metric: per_variant(df, metric, dtype=dtype, context=context, checkpointing=False, scale=scale)
        for metric, _, _ in _MEMORY_PARTS
    }
    variants = [v for v in aggregate.variants_in_order(df) if any(v in values.index for values in parts.values())]
    traces, totals = [], [0.0] * len(variants)
    for metric, label, color in _MEMORY_PARTS:
        values = [nan_none(parts[metric].get(v)) for v in variants]
        if all(v is None for v in values):
            continue
        totals = [t + (v or 0.0) for t, v in zip(totals, values)]
        hover = [f"<b>{esc(v)}</b><br>{label}: {format_value(x, 'bytes')}" for v, x in zip(variants, values)]
        traces.append(_hbar_trace(label, color, variants, values, hover))
    if not traces:
        return None
    log = wide_span(totals)
    notes = [
        t
        for t in (
            "analytic",
            log and "log axis: the totals span orders of magnitude, so the parts stand side by side",
            scale and scale_label(scale),
            dtype and f"dtype {dtype}",
            context is not None and f"KV cache at context {context_label(float(context))}",
        )
        if t
    ]
    return figs.make(
        "Memory by component",
        traces,
        _hbar_layout(len(variants), totals + [x for t in traces for x in t["x"] if x] if log else totals, "bytes", log),
        note=" · ".join(notes),
    )


def _hbar_trace(label: str, color: str, variants: list[str], xs: list, hover: list[str]) -> dict:
    """One horizontal bar series: a bar per variant, its hover text as given."""
    return dict(
        type="bar",
        orientation="h",
        name=label,
        marker=dict(color=color),
        y=[esc(v) for v in variants],
        x=xs,
        hoverinfo="text",
        hovertext=hover,
    )


def _memory_measured(df: pd.DataFrame, figs: Figures) -> Figure | None:
    """Measured peak vs the analytic prediction of the same cell, per variant (one phase, one context)."""
    measured = ok_rows(df, "peak_memory_bytes")
    if measured.empty:
        return None
    predicted = ok_rows(df, "peak_memory_bytes_analytic")
    keep = dict(batch=1)
    if not predicted.empty:  # compare where both exist: the settings of the prediction
        for col in ("settings.phase", "settings.context", "scale"):
            value = common(predicted, col)
            if value is not None:
                keep[col.removeprefix("settings.")] = value
    measured = prefer(measured, keep)
    predicted = prefer(predicted, keep)
    meas = measured.groupby("variant")["value"].max()
    pred = predicted.groupby("variant")["value"].max()
    variants = [v for v in aggregate.variants_in_order(df) if v in meas.index or v in pred.index]
    traces = []
    for label, values, color in (("measured peak", meas, "#475569"), ("analytic peak", pred, "#cbd5e1")):
        if values.empty:
            continue
        xs = [nan_none(values.get(v)) for v in variants]
        hover = [
            f"<b>{esc(v)}</b><br>{label}: {format_value(x, 'bytes')}"
            + (
                f"<br>measured / analytic {meas[v] / pred[v]:.2f}×"
                if v in meas.index and v in pred.index and pred[v]
                else ""
            )
            for v, x in zip(variants, xs)
        ]
        traces.append(_hbar_trace(label, color, variants, xs, hover))
    values = meas.tolist() + pred.tolist()
    layout = _hbar_layout(len(variants), values, "bytes", log=wide_span(values))
    layout["barmode"] = "group"
    notes = [t for t in ("measured", choices_text(ok_rows(df, "peak_memory_bytes"), measured)) if t]
    return figs.make("Peak memory: measured vs analytic", traces, layout, note=" · ".join(notes))
