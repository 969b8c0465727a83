"""Plotly figure helpers: one layout and axis style, ticks in the report's own number format, script-safe JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable

from suite.units import format_value

# Distinct, colour-blind friendly palette (Okabe-Ito, then Tableau); variants keep one colour
# across every figure of a report.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#8C564B",
    "#F0E442",
    "#4E79A7",
    "#F28E2B",
    "#59A14F",
    "#E15759",
    "#76B7B2",
    "#B07AA1",
    "#9C755F",
    "#BAB0AC",
)


def colors(variants: list[str]) -> dict[str, str]:
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(variants)}


# Tick candidates per decade, sparsest first: an axis gets the sparsest set giving >= 4 ticks.
_LOG_STEPS = ((1,), (1, 3), (1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8))


def ticks(values: Iterable[Any], unit: str, log: bool = False, zero: bool = True) -> dict[str, Any]:
    """Tick positions and labels in the report's own number format (binary prefixes for bytes,
    K for contexts), so axes read like the table; plotly's SI ticks would say 'G' for bytes."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v)) and (float(v) > 0 or not log)]
    if not xs:
        return {}
    lo, hi = min(xs), max(xs)
    if unit == "context":  # powers of two, labelled 512, 1K, 32K
        exps = range(max(0, math.floor(math.log2(lo))), math.ceil(math.log2(hi)) + 1)
        vals = [2.0**e for e in exps if lo / 1.5 <= 2**e <= hi * 1.5]
        stride = max(1, math.ceil(len(vals) / 8))
        vals = vals[::stride]
        return dict(tickmode="array", tickvals=vals, ticktext=[context_label(v) for v in vals])
    base = 1024.0 if unit == "bytes" else 10.0
    if log:
        vals = []
        for steps in _LOG_STEPS:
            vals = _log_candidates(lo, hi, steps, base)
            if len(vals) >= 4:
                break
        vals = vals[:12]
    else:  # bars start at zero; scatter axes span the data; both with plotly's ~5% margin
        pad = 0.06 * ((hi - min(0.0, lo) if zero else hi - lo) or abs(hi) or 1.0)
        vals = _linear_candidates(min(0.0, lo) if zero else lo - pad, hi + pad, base)
    return dict(tickmode="array", tickvals=vals, ticktext=[format_value(v, unit, trim=True) for v in vals])


def _log_candidates(lo: float, hi: float, steps: tuple[float, ...], base: float) -> list[float]:
    out = []
    unit_exp = math.floor(math.log(lo, base)) - 1
    while base**unit_exp <= hi * base:
        for decade in (1, 10, 100) if base == 1024.0 else (1,):
            for step in steps:
                v = step * decade * base**unit_exp
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


def context_label(n: float) -> str:
    n = int(n)
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)}M"
    return f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else str(n)


@dataclass
class Figure:
    """A plotly figure ready for the template: `id` for the div, `json` safe inside <script>."""

    id: str
    title: str
    json: str
    note: str = ""
    wide: bool = False


def figure_layout(**extra) -> dict[str, Any]:
    """One small layout shared by every figure (no plotly template: it would add ~8 KB per figure)."""
    base = dict(
        template=dict(layout=dict()),
        font=dict(family="Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12, color="#1f2937"),
        paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff",
        margin=dict(l=64, r=16, t=16, b=48),
        height=360,
        hoverlabel=dict(bgcolor="#111827", font=dict(color="#f9fafb")),
        legend=dict(font=dict(size=11), bgcolor="rgba(255,255,255,0.8)"),
        colorway=list(PALETTE),
    )
    base.update(extra)
    return base


def axis(title: str = "", log: bool = False, **extra) -> dict[str, Any]:
    out = dict(
        title=dict(text=title, font=dict(size=12)),
        gridcolor="#eef0f4",
        zeroline=False,
        linecolor="#d1d5db",
        ticks="outside",
        tickcolor="#d1d5db",
        automargin=True,
    )
    if log:
        out["type"] = "log"
    out.update(extra)
    return out


def figure_json(fig: dict[str, Any]) -> str:
    """Figure dict -> JSON that can sit inside a <script> element (no `</`, no `<!--`)."""
    from plotly.utils import PlotlyJSONEncoder

    text = json.dumps(_clean(fig), cls=PlotlyJSONEncoder, separators=(",", ":"), allow_nan=False)
    return script_safe(text)


def script_safe(text: str) -> str:
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


class Figures:
    """Hands out unique figure ids so a report never has two divs with the same id."""

    def __init__(self):
        self.count = 0

    def make(self, title: str, data: list[dict], layout: dict, note: str = "", wide: bool = False) -> Figure:
        self.count += 1
        return Figure(
            id=f"fig-{self.count}", title=title, json=figure_json(dict(data=data, layout=layout)), note=note, wide=wide
        )


def esc(text: Any) -> str:
    """Text for plotly labels, legends and hovers: plotly renders a subset of HTML tags there and
    treats %{...} as template fields, so a variant's name is escaped before it reaches a figure."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("%{", "%%{")


def interval_line(
    name: str,
    x: list[Any],
    means: list[float | None],
    intervals: list[tuple[float, float] | None],
    hovertemplate: str,
    color: str | None = None,
    dash: str = "solid",
) -> dict[str, Any]:
    """A lines+markers trace of means with each point's (low, high) interval as asymmetric error bars
    (none where a point has no interval): the seeds' 95% interval on every quality curve."""
    return dict(
        type="scatter",
        mode="lines+markers",
        name=esc(name),
        x=x,
        y=means,
        error_y=dict(
            type="data",
            array=[None if ci is None or m is None else ci[1] - m for m, ci in zip(means, intervals)],
            arrayminus=[None if ci is None or m is None else m - ci[0] for m, ci in zip(means, intervals)],
            thickness=1,
            width=3,
        ),
        line=dict(color=color, dash=dash),
        hovertemplate=hovertemplate,
    )
