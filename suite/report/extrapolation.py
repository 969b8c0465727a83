"""The length-extrapolation section (probe `extrapolation`): held-out bits per byte at 1, 2, 4, 8x the
training context, one line per variant and evaluation-time RoPE scaling, with the seeds' 95% interval,
a table, and in words which lines stay flat: the rise from 1x to the longest length measured, paired
within each seed (seeds differ in level more than in rise, so the paired interval is the honest one)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from suite.analysis import aggregate
from suite.analysis.fairness import extra_dict, finite
from suite.probes.quality import mean_ci
from suite.report.figures import Figures, axis, esc, figure_layout, interval_line
from suite.report.sections import Section, no_data

BPB, PASSKEY = "extrapolation_bpb", "extrapolation_passkey_accuracy"


def _lines(df: pd.DataFrame, metric: str) -> dict[str, dict[int, dict[str, Any]]]:
    """line name ('variant' or 'variant + yarn') -> length factor -> mean, interval, per-seed values
    or the error that stopped it there."""
    rows = df[(df["metric"] == metric) & df["status"].isin(["ok", "error"])]
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for variant in aggregate.variants_in_order(rows):
        own = rows[rows["variant"] == variant]
        scalings = own["settings.eval_rope_scaling"] if "settings.eval_rope_scaling" in own else ["none"] * len(own)
        for (_, r), scaling in zip(own.iterrows(), scalings):
            name = variant if scaling in (None, "none") or pd.isna(scaling) else f"{variant} + {scaling}"
            e = extra_dict(r.get("extra"))
            lo, hi, value = e.get("ci_low"), e.get("ci_high"), r.get("value")
            out.setdefault(name, {})[int(r["settings.length_factor"])] = dict(
                mean=float(value) if r["status"] == "ok" and finite(value) else None,
                ci=(float(lo), float(hi)) if finite(lo) and finite(hi) else None,
                values=[float(v) for v in e.get("values") or [] if finite(v)],
                error=str(r.get("error") or ""),
            )
    return out


def _rise(points: dict[int, dict[str, Any]]) -> tuple[str, str]:
    """(text, verdict) for the paired rise from the shortest to the longest length that ran."""
    ran = sorted(f for f, p in points.items() if p["mean"] is not None)
    if len(ran) < 2:
        return "—", ""
    first, last = points[ran[0]], points[ran[-1]]
    span = f"{ran[0]}×→{ran[-1]}×"
    if any(p["mean"] is None for f, p in points.items() if f > ran[-1]):
        return f"{last['mean'] - first['mean']:+.2f} ({span}); cannot run past {ran[-1]}×", "stops"
    if len(first["values"]) == len(last["values"]) >= 2:
        stats = mean_ci([b - a for a, b in zip(first["values"], last["values"])])
        half = (stats["ci_high"] - stats["ci_low"]) / 2
        verdict = "flat" if stats["ci_low"] <= 0 <= stats["ci_high"] or stats["mean"] < 0 else "rises"
        return f"{stats['mean']:+.2f} ±{half:.2f} ({span})", verdict
    return f"{last['mean'] - first['mean']:+.2f} ({span}, one seed)", ""


def _text(point: dict[str, Any] | None) -> tuple[str, str]:
    if point is None:
        return "—", "not measured"
    if point["mean"] is None:
        return "error", point["error"] or "failed"
    half = f" ±{(point['ci'][1] - point['ci'][0]) / 2:.2f}" if point["ci"] else ""
    return f"{point['mean']:.2f}{half}", "per seed: " + ", ".join(f"{v:.3f}" for v in point["values"])


def _figure(figs: Figures, lines, palette: dict[str, str]):
    traces = []
    for name, points in lines.items():
        factors = sorted(f for f, p in points.items() if p["mean"] is not None)
        own = [points[f] for f in factors]
        variant = name.split(" + ")[0]
        traces.append(
            interval_line(
                name,
                factors,
                [p["mean"] for p in own],
                [p["ci"] for p in own],
                f"<b>{esc(name)}</b><br>%{{x}}× training context<br>%{{y:.3f}} bpb<extra></extra>",
                palette.get(variant),
                dash="dot" if " + " in name else "solid",
            )
        )
    factors = sorted({f for points in lines.values() for f in points})
    layout = figure_layout(
        xaxis=dict(axis("evaluation length (× training context)", log=True), tickvals=factors, ticktext=factors),
        yaxis=axis("held-out bits per byte"),
        legend=dict(font=dict(size=11)),
    )
    return figs.make(
        "Bits per byte past the training length",
        traces,
        layout,
        note="the same scored bytes at every length; bars: 95% interval over seeds; dotted: RoPE rescaled when scored",
        wide=True,
    )


def section_extrapolation(df: pd.DataFrame, figs: Figures, palette: dict[str, str]) -> Section:
    section = Section(
        "extrapolation",
        "Length extrapolation",
        "Each proxy trained at one context and scored at 1, 2, 4 and 8 times it (probe extrapolation): "
        "a line that stays flat uses the longer context at no loss; one that rises does not generalise "
        "past the length it saw.",
    )
    needed = {"metric", "status", "settings.length_factor"}
    lines = _lines(df, BPB) if needed <= set(df.columns) else {}
    if not any(p["mean"] is not None for points in lines.values() for p in points.values()):
        section.empty = no_data("extrapolation", "`archbench run --suite extrapolation`.")
        return section
    section.figures = [_figure(figs, lines, palette)]
    factors = sorted({f for points in lines.values() for f in points})
    rows, flat, rising, stops = [], [], [], []
    for name, points in lines.items():
        rise, verdict = _rise(points)
        if verdict == "flat":
            flat.append(name)
        elif verdict == "rises":
            rising.append(name)
        elif verdict == "stops":
            stops.append(name)
        cells = [dict(zip(("text", "title"), _text(points.get(f))), shade="") for f in factors]
        cells.append(dict(text=rise, title="paired within each seed: mean ± 95% half-width", shade=""))
        rows.append(dict(name=name, note=verdict, cells=cells))
    summary = f"Flat within the seeds' noise: {', '.join(flat)}. " if flat else "No line stays flat within noise. "
    summary += f"Rising past the training length: {', '.join(rising)}. " if rising else ""
    summary += f"Cannot run at every length (hover the errors): {', '.join(stops)}." if stops else ""
    passkey = [p["mean"] for pts in _lines(df, PASSKEY).values() for p in pts.values() if p["mean"] is not None]
    if passkey:
        unlearned = " (not learned at this budget: raise `tokens`)" if max(passkey) < 0.1 else ""
        summary += f" Passkey retrieval: at most {max(passkey):.2f} anywhere{unlearned}."
    section.extra["grid"] = dict(
        headers=[f"{f}×" for f in factors] + ["rise"],
        rows=rows,
        summary=summary,
        legend="bits per byte ± the 95% interval's half-width over seeds; rise: longest length minus 1×, "
        "paired per seed; error: the model cannot run there (hover for why)",
    )
    return section
