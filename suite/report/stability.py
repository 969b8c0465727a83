"""The training-stability section: the classic U-curves (final loss against learning rate, one line
per variant, with the seeds' 95% interval as error bars) and the largest attention logit against
learning rate (log y), where attention-logit growth shows and QK-norm removes it."""

from __future__ import annotations

from typing import Any

import pandas as pd

from suite.analysis import aggregate
from suite.analysis.aggregate import ok_rows
from suite.analysis.quality_gate import extra_dict
from suite.report.figures import Figure, Figures, axis, esc, figure_layout, interval_line
from suite.report.sections import Section, no_data


def _extra(row: pd.Series) -> dict[str, Any]:
    return extra_dict(row.get("extra"))


def _curve(df: pd.DataFrame, figs: Figures, palette: dict[str, str], metric: str, title: str, log_y: bool):
    rows = ok_rows(df, metric)
    if rows.empty or "settings.lr" not in rows.columns:
        return None
    traces = []
    for variant in aggregate.variants_in_order(rows):
        own = rows[rows["variant"] == variant].sort_values("settings.lr")
        extras = [_extra(r) for _, r in own.iterrows()]
        values = own["value"].astype(float).tolist()
        ci = [(e.get("ci_low"), e.get("ci_high")) for e in extras]
        traces.append(
            interval_line(
                variant,
                own["settings.lr"].astype(float).tolist(),
                values,
                [(lo, hi) if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) else None for lo, hi in ci],
                f"<b>{esc(variant)}</b><br>lr %{{x:.2g}}<br>{esc(title)} %{{y:.4g}}<extra></extra>",
                palette.get(variant),
            )
        )
    layout = figure_layout(
        xaxis=axis("learning rate", log=True), yaxis=axis(title, log=log_y), legend=dict(font=dict(size=11))
    )
    return figs.make(title + " vs learning rate", traces, layout, note="mean over seeds; bars: 95% interval")


def section_stability(df: pd.DataFrame, figs: Figures, palette: dict[str, str]) -> Section:
    section = Section(
        "stability",
        "Training stability",
        "Each variant trained at a sweep of learning rates (probe stability): the final loss per rate "
        "(a flatter, wider U is a more forgiving architecture), and the largest attention logit per "
        "rate, which grows without bound at high rates unless something (QK-norm, a soft-cap) stops it.",
    )
    figures: list[Figure | None] = [
        _curve(df, figs, palette, "final_loss", "final loss (nats)", log_y=False),
        _curve(df, figs, palette, "max_attention_logit", "max attention logit", log_y=True),
    ]
    section.figures = [f for f in figures if f is not None]
    if not section.figures:
        section.empty = no_data("stability", "`archbench run --suite stability`.")
    return section
