"""Report sections: the Section record, the evolution ladder and the quality/cost trade-offs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from suite.analysis import aggregate
from suite.analysis.aggregate import ok_rows
from suite.analysis.fairness import fairness_warning
from suite.analysis.ladder_buys import rung_changes
from suite.analysis.quality_gate import column_rows, intervals, overlap
from suite.report.cards import variant_cards, variant_config
from suite.report.figures import Figure, Figures, axis, esc, figure_layout, ticks
from suite.report.pick import metric_info, metric_title, plain, scale_label
from suite.units import format_value

# Ladder rungs are the variants of the `ladder` family (named `ladder/NN-...` in architectures/).
LADDER_FAMILY = "ladder"


@dataclass
class Section:
    id: str
    title: str
    lead: str  # one sentence: what the section shows
    figures: list[Figure] = field(default_factory=list)
    empty: str = ""  # shown instead of figures when there is no data
    extra: dict[str, Any] = field(default_factory=dict)


def no_data(probe: str, what: str = "") -> str:
    hint = f" {what}" if what else ""
    return f"No data for this section in these results (run probe {probe}).{hint}"


# ----------------------------------------------------------------- evolution ladder
def section_ladder(df: pd.DataFrame, figs: Figures, board: dict, registry) -> Section:
    section = Section(
        "ladder",
        "Evolution ladder",
        "What each rung from GPT-2 to gpt-oss changes: a waterfall per key metric, one "
        "bar per rung, the change it brings over the rung before.",
    )
    rungs = aggregate.ladder_variants(df)
    if len(rungs) < 2:
        section.empty = (
            "No data for this section in these results (run the ladder variants, "
            "`archbench run ladder/...`, with the analytic, latency and quality probes)."
        )
        return section
    descriptions = {}
    for name in rungs:
        cfg = variant_config(registry, name)
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
            for d, p in zip(deltas["delta"].iloc[1:], pct[1:])
        ]
        hover = [
            f"<b>{esc(short(r))}</b>"
            + (f"<br>{esc(descriptions[r])}" if descriptions.get(r) else "")
            + f"<br>{format_value(v, col['unit'])}"
            + ("" if i == 0 else f" ({t})")
            for i, (r, v, t) in enumerate(zip(deltas["rung"], deltas["value"], text))
        ]
        trace = dict(
            type="waterfall",
            x=[esc(short(r)) for r in deltas["rung"]],
            y=y,
            measure=measure,
            text=text,
            textposition="outside",
            hovertext=hover,
            hoverinfo="text",
            cliponaxis=False,
            connector=dict(line=dict(color="#cbd5e1", width=1)),
            increasing=dict(marker=dict(color=neutral if lower is None else bad if lower else good)),
            decreasing=dict(marker=dict(color=neutral if lower is None else good if lower else bad)),
            totals=dict(marker=dict(color="#64748b")),
        )
        layout = figure_layout(
            height=340,
            showlegend=False,
            margin=dict(l=64, r=16, t=28, b=90),
            xaxis=axis(tickangle=-30),
            yaxis=axis(**ticks(deltas["value"].tolist() + [0.0], col["unit"])),
        )
        note = " · ".join(x for x in (col["settings"], col["scale"] and scale_label(col["scale"])) if x)
        section.figures.append(figs.make(metric_title(col["metric"], df), [trace], layout, note=note))
    if not section.figures:
        section.empty = no_data("analytic", "The ladder variants have no key metric in common.")
    section.extra["rungs"] = [dict(name=r, description=descriptions[r]) for r in rungs]
    section.extra["buys"] = buys_table(df, descriptions)
    return section


def buys_table(df: pd.DataFrame, descriptions: dict[str, str]) -> dict[str, Any] | None:
    """Per rung, its change in cost beside its change in quality (with the seeds' noise), and a
    sentence saying how many quality changes are larger than that noise. None without a ladder."""
    changes = rung_changes(df)
    if changes.empty:
        return None
    metrics = list(dict.fromkeys(changes["metric"]))
    kinds = dict(zip(changes["metric"], changes["kind"]))
    rows = []
    for rung, group in changes.groupby("rung", sort=False):
        by_metric = {r.metric: r for r in group.itertuples()}
        cells = []
        for metric in metrics:
            r = by_metric.get(metric)
            if r is None or not math.isfinite(r.delta):
                cells.append(dict(text="—", verdict="", title="not measured for this rung or the one before"))
                continue
            unit = metric_info(metric, df)["unit"]
            if r.kind == "cost":
                text = f"{r.ratio:.2f}×" if math.isfinite(r.ratio) else _signed(r.delta, unit)
            else:
                text = ("±0" if r.delta == 0 else _signed(r.delta, unit)) + (
                    f" ± {format_value(r.noise, unit)}" if math.isfinite(r.noise) else ""
                )
            cells.append(
                dict(
                    text=text,
                    verdict=r.verdict,
                    title=f"{format_value(r.value, unit)} against {format_value(r.value - r.delta, unit)} for "
                    f"{short(r.previous)}" + (f": {r.verdict}" if r.verdict else ""),
                )
            )
        rows.append(dict(rung=short(rung), description=descriptions.get(rung, ""), cells=cells))
    quality = changes[changes["kind"] == "quality"]
    told = quality[quality["verdict"].isin(["better", "worse"])]
    noisy = int((quality["verdict"] == "within noise").sum())
    untold = int((quality["verdict"] == "").sum())
    summary = (
        f"Of {len(quality)} quality changes between rungs, {noisy} are within the seeds' noise"
        + (f", {untold} cannot be told (one seed: no interval)" if untold else "")
        + (
            "; larger than the noise: "
            + ", ".join(f"{short(r.rung)} {metric_info(r.metric, df)['name']} ({r.verdict})" for r in told.itertuples())
            if len(told)
            else "; none is larger than the noise"
        )
        + "."
        if len(quality)
        else "No quality was measured on the rungs (run `archbench run --suite ladder`): costs only."
    )
    headers = [
        dict(name=metric_title(m, df), kind=kinds[m], lower_is_better=metric_info(m, df)["lower_is_better"])
        for m in metrics
    ]
    return dict(headers=headers, rows=rows, summary=summary)


def _signed(delta: float, unit: str) -> str:
    return ("+" if delta > 0 else "−") + format_value(abs(delta), unit)


def short(variant: str) -> str:
    """A rung's name without the `ladder/` folder, for crowded axes."""
    return variant.split("/", 1)[1] if variant.startswith(LADDER_FAMILY + "/") else variant


# ----------------------------------------------------------------- trade-offs
_TRADEOFFS = (
    # (x metrics in order of preference, y metrics in order of preference, probe hint)
    (
        ("decode_ms_per_token", "flops_decode_per_token"),
        ("bits_per_byte", "mqar_accuracy", "copy_accuracy"),
        ("quality", "latency"),
    ),
    (("params_active", "params_total"), ("bits_per_byte", "mqar_accuracy", "copy_accuracy"), ("quality", "analytic")),
)


def section_tradeoffs(df: pd.DataFrame, figs: Figures, colors: dict[str, str]) -> Section:
    section = Section(
        "tradeoffs",
        "Trade-offs",
        "Quality against cost; the line joins the Pareto front, the variants no other "
        "variant beats on both axes." + fairness_warning(df),
    )
    hints = []
    for xs, ys, probe in _TRADEOFFS:
        x_metric = next((m for m in xs if not ok_rows(df, m).empty), None)
        y_metric = next((m for m in ys if not ok_rows(df, m).empty), None)
        if x_metric is None or y_metric is None:
            hints += probe
            continue
        points = aggregate.pareto_front(df, x_metric, y_metric)
        if len(points) < 2:  # one point has no trade-off to show
            hints += probe
            continue
        xi, yi = metric_info(x_metric, df), metric_info(y_metric, df)
        front = points[points["on_front"]].sort_values("x")
        spans = intervals(column_rows(df, y_metric, points.attrs.get("settings", {}).get(y_metric, {})))
        traces = [
            dict(
                type="scatter",
                mode="lines",
                name="Pareto front",
                x=front["x"].tolist(),
                y=front["y"].tolist(),
                hoverinfo="skip",
                line=dict(color="#94a3b8", width=2, dash="dot", shape="hv"),
            )
        ]
        for point in points.itertuples():
            variant, on_front = point.variant, bool(point.on_front)
            traces.append(
                dict(
                    type="scatter",
                    mode="markers+text",
                    name=esc(variant),
                    x=[point.x],
                    y=[point.y],
                    text=[esc(short(variant))],
                    textposition="top center",
                    textfont=dict(size=10, color="#4b5563"),
                    **_error_bar(spans.get(variant), point.y),
                    marker=dict(
                        size=13 if on_front else 10,
                        color=colors.get(variant),
                        line=dict(width=2 if on_front else 0, color="#111827"),
                    ),
                    hoverinfo="text",
                    showlegend=False,
                    hovertext=f"<b>{esc(variant)}</b><br>{xi['name']}: {format_value(point.x, xi['unit'])}"
                    f"<br>{yi['name']}: {format_value(point.y, yi['unit'])}"
                    + ("<br>on the Pareto front" if on_front else ""),
                )
            )
        arrow = lambda lower: "lower is better" if lower is not False else "higher is better"
        layout = figure_layout(
            xaxis=axis(
                f"{metric_title(x_metric, df)} — {arrow(xi['lower_is_better'])}",
                log=True,
                **ticks(points["x"], xi["unit"], log=True),
            ),
            yaxis=axis(
                f"{metric_title(y_metric, df)} — {arrow(yi['lower_is_better'])}",
                **ticks(points["y"], yi["unit"], zero=False),
            ),
            showlegend=False,
            height=400,
        )
        chosen = points.attrs.get("settings", {})
        note = " · ".join(
            f"{metric_info(m, df)['name']}: "
            + ", ".join(f"{k.removeprefix('settings.')} {plain(v)}" for k, v in chosen[m].items())
            for m in chosen
            if chosen[m]
        )
        note = " · ".join(x for x in (note, _noise_words(front, spans, yi["name"])) if x)
        section.figures.append(figs.make(f"{yi['name']} vs {xi['name']}", traces, layout, note=note))
    if not section.figures:
        section.empty = (
            f"No data for this section in these results (run probes "
            f"{', '.join(dict.fromkeys(hints or ['quality']))} on at least two variants: a "
            f"trade-off needs a quality and a cost metric for each)."
        )
    return section


def _error_bar(span: tuple[float, float] | None, y: float) -> dict[str, Any]:
    """Plotly's asymmetric error bar for a point with a seed interval; nothing without one."""
    if span is None:
        return {}
    return dict(error_y=dict(type="data", symmetric=False, array=[span[1] - y], arrayminus=[y - span[0]], width=3))


def _noise_words(front: pd.DataFrame, spans: dict[str, tuple[float, float]], name: str) -> str:
    """Which neighbours on the front the seeds cannot tell apart, in words (empty when all can)."""
    if not spans:
        return "no seed intervals: quality differences cannot be told from noise"
    names = list(front["variant"])
    ties = [
        f"{short(a)} and {short(b)}"
        for a, b in zip(names, names[1:])
        if a in spans and b in spans and overlap(spans[a], spans[b])
    ]
    return f"{name} within noise on the front: " + "; ".join(ties) if ties else ""


def section_cards(df: pd.DataFrame, registry, registry_error: str | None) -> Section:
    section = Section(
        "variants",
        "Variant cards",
        "Each variant as a diff from its base, its parameter breakdown and where its numbers come from.",
    )
    section.extra["cards"] = variant_cards(df, registry)
    if not section.extra["cards"]:
        section.empty = no_data("analytic")
    section.extra["registry_error"] = registry_error
    return section
