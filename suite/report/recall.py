"""The recall section (probe `recall`, Zoology's protocol): accuracy per (sequence length, pairs) for
each variant with the seeds' 95% interval, as a figure and a table, and in words the separations the
protocol exists to show: which variants differ beyond the seeds' noise on the hardest trained point,
and whose accuracy falls as the pairs grow at one length."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from suite.analysis.aggregate import ok_rows
from suite.analysis.fairness import extra_dict, finite
from suite.analysis.quality_gate import overlap
from suite.report.figures import Figures, axis, esc, figure_layout, interval_line
from suite.report.sections import Section, no_data

METRIC = "recall_accuracy"
Point = tuple[int, int]  # (sequence length, pairs)


def _cells(rows: pd.DataFrame) -> tuple[dict[str, dict[Point, dict[str, Any]]], dict[str, str]]:
    """line -> (length, pairs) -> mean, interval, per-seed values, trained flag, width, chance; and each
    line's variant. A line is a variant, or 'variant (preset)' wherever the lines were trained under more than
    one recipe (a reader then sees each line's recipe, not only a variant's second one)."""
    out: dict[str, dict[Point, dict[str, Any]]] = {}
    variant_of: dict[str, str] = {}
    presets = rows["settings.preset"] if "settings.preset" in rows else pd.Series([None] * len(rows), rows.index)
    several = presets.nunique() > 1
    for (_, r), preset in zip(rows.iterrows(), presets):
        e = extra_dict(r.get("extra"))
        point = (int(r["settings.seq_len"]), int(r["settings.pairs"]))
        lo, hi = e.get("ci_low"), e.get("ci_high")
        variant = str(r["variant"])
        name = variant + (f" ({preset})" if several and isinstance(preset, str) else "")
        variant_of[name] = variant
        out.setdefault(name, {})[point] = dict(
            mean=float(r["value"]),
            ci=(float(lo), float(hi)) if finite(lo) and finite(hi) else None,
            values=e.get("values") or [],
            trained=bool(e.get("trained_on")),
            width=e.get("width"),
            chance=e.get("chance"),
        )
    return out, variant_of


def _mean_accuracy(line: dict[Point, dict[str, Any]]) -> float:
    means = [c["mean"] for c in line.values() if finite(c["mean"])]
    return sum(means) / len(means) if means else -1.0


def _label(point: Point) -> str:
    return f"L{point[0]} / {point[1]}"


def _text(cell: dict[str, Any] | None) -> str:
    """'0.97 ±0.01', with * where this line trained on that point (recipes train on different ones)."""
    if cell is None:
        return "—"
    ci = cell["ci"]
    half = f" ±{(ci[1] - ci[0]) / 2:.2f}" if ci else ""
    return f"{cell['mean']:.2f}{half}" + ("*" if cell["trained"] else "")


def _separations(cells, order: list[str], points: list[Point], trained: set[Point]) -> list[str]:
    """Sentences: the hardest trained point's ranking split where intervals part, then the variants
    whose accuracy falls beyond noise from the fewest to the most pairs at one length."""
    sentences = []
    hardest = max(trained or set(points), key=lambda p: (p[1], p[0]))
    ranked = sorted(
        (v for v in order if cells[v].get(hardest) and cells[v][hardest]["ci"]),
        key=lambda v: -cells[v][hardest]["mean"],
    )
    if len(ranked) >= 2:
        groups = [[ranked[0]]]
        for previous, variant in zip(ranked, ranked[1:]):
            if overlap(cells[previous][hardest]["ci"], cells[variant][hardest]["ci"]):
                groups[-1].append(variant)
            else:
                groups.append([variant])
        named = [", ".join(f"{v} {_text(cells[v][hardest])}" for v in g) for g in groups]
        said = " > ".join(f"{{{n}}}" if len(g) > 1 else n for n, g in zip(named, groups))
        sentences.append(
            f"At {_label(hardest)} (the most pairs trained on): {said}. "
            "'>' separates intervals that do not overlap; braces group variants within the seeds' noise."
        )
    falls, holds = [], []
    for variant in order:
        trends = [t for t in (_trend(cells[variant], length) for length in _trained_lengths(cells[variant])) if t]
        fallen = [t for t in trends if t[0] == "falls"]
        if fallen:  # the length where it falls furthest
            falls.append(f"{variant} at {max(fallen, key=lambda t: t[1])[2]}")
        elif trends:
            holds.append(f"{variant} at {trends[-1][2]}")
    sentences.append(
        "As the pairs grow at a trained length, accuracy falls beyond noise for: " + "; ".join(falls) + "."
        if falls
        else "No variant's accuracy falls beyond noise as the pairs grow at a trained length."
    )
    if holds:
        sentences.append("It holds within noise for: " + "; ".join(holds) + ".")
    return sentences


def _trained_lengths(line: dict[Point, dict[str, Any]]) -> list[int]:
    return sorted({p[0] for p, cell in line.items() if cell["trained"]})


def _trend(line: dict[Point, dict[str, Any]], length: int) -> tuple[str, float, str] | None:
    """('falls' or 'holds', the drop, words) from the fewest to the most pairs at one length; None where
    the line never learned there (below 0.5 at the fewest pairs: a fall from chance says nothing)."""
    own = sorted((p for p in line if p[0] == length and line[p]["ci"]), key=lambda p: p[1])
    if len(own) < 2 or line[own[0]]["mean"] < 0.5:
        return None
    first, last = line[own[0]], line[own[-1]]
    words = f"L{length} ({first['mean']:.2f} at {own[0][1]} pairs → {last['mean']:.2f} at {own[-1][1]})"
    return ("falls" if first["ci"][0] > last["ci"][1] else "holds"), first["mean"] - last["mean"], words


def _figure(figs: Figures, cells, order, variant_of, points, palette):
    labels = [_label(p) for p in points]
    traces = []
    first_recipe: dict[str, str] = {}  # a variant's first recipe drawn solid, its others dotted
    for variant in order:
        own = [cells[variant].get(p) for p in points]
        traces.append(
            interval_line(
                variant,
                labels,
                [c["mean"] if c else None for c in own],
                [c["ci"] if c else None for c in own],
                f"<b>{esc(variant)}</b><br>%{{x}}<br>accuracy %{{y:.3f}}<extra></extra>",
                palette.get(variant_of[variant]),
                dash="solid" if first_recipe.setdefault(variant_of[variant], variant) == variant else "dot",
            )
        )
    chance = [c["chance"] for v in order for c in cells[v].values() if finite(c["chance"])]
    if chance:
        traces.append(
            dict(
                type="scatter",
                mode="lines",
                name="chance",
                x=labels,
                y=[max(chance)] * len(labels),
                line=dict(color="#999", dash="dash", width=1),
                hoverinfo="skip",
            )
        )
    layout = figure_layout(
        xaxis=dict(axis("sequence length / key-value pairs"), type="category"),
        yaxis=dict(axis("recall accuracy"), range=[0, 1.05]),
        legend=dict(font=dict(size=11)),
    )
    return figs.make(
        "Recall accuracy by sequence length and pairs",
        traces,
        layout,
        note="mean over seeds; bars: 95% t-interval; dashed: chance",
        wide=True,
    )


def section_recall(df: pd.DataFrame, figs: Figures, palette: dict[str, str]) -> Section:
    section = Section(
        "recall",
        "Associative recall",
        "Each proxy trained on multi-query associative recall itself and scored on held-out instances "
        "(probe recall, Zoology's protocol), including longer sequences than trained: where full "
        "attention, a sliding window and the recurrent mixers part ways.",
    )
    rows = ok_rows(df, METRIC) if "metric" in df else df.iloc[0:0]
    if rows.empty or not {"settings.seq_len", "settings.pairs"} <= set(rows.columns):
        section.empty = no_data("recall", "`archbench run --suite recall`.")
        return section
    cells, variant_of = _cells(rows)
    # best first (mean accuracy over the points), ties in the order the rows came
    order = sorted(cells, key=lambda n: -_mean_accuracy(cells[n]))
    points = sorted({p for c in cells.values() for p in c})
    trained = {p for c in cells.values() for p, cell in c.items() if cell["trained"]}
    section.figures = [_figure(figs, cells, order, variant_of, points, palette)]
    table_rows = []
    for variant in order:
        widths = {c["width"] for c in cells[variant].values() if c["width"]}
        table_rows.append(
            dict(
                name=variant,
                note=f"width {', '.join(map(str, sorted(widths)))}" if widths else "",
                cells=[
                    dict(
                        text=_text(cells[variant].get(p)),
                        title="per seed: " + ", ".join(f"{x:.3f}" for x in cells[variant][p]["values"] if finite(x))
                        if cells[variant].get(p)
                        else "not measured",
                        shade=_shade(cells[variant][p]["mean"]) if cells[variant].get(p) else "",
                    )
                    for p in points
                ],
            )
        )
    section.extra["grid"] = dict(
        headers=[_label(p) for p in points],
        rows=table_rows,
        summary=" ".join(_separations(cells, order, points, trained)),
        legend="accuracy ± the 95% interval's half-width over seeds; * that line's recipe trained on that length and "
        "number of pairs (the others are held out); hover for the seeds",
    )
    return section


def _shade(accuracy: float) -> str:
    """A green whose depth is the accuracy, for reading the table as a heat map."""
    accuracy = min(1.0, max(0.0, accuracy)) if math.isfinite(accuracy) else 0.0
    return f"background: hsl(145 55% {97 - 35 * accuracy:.0f}%)"
