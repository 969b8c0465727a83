"""The HTML writer (jinja2 + plotly) and `write_report`, which writes any of the report's formats.

The HTML file carries everything it needs: plotly.js is inlined once, each figure is a JSON blob
drawn by a few lines of our own JS, the CSS is inlined, and nothing is fetched over the network,
so the file opens from `file://`, from a CI artifact or from an e-mail attachment.

Each section is built by one `section_*` function from the tidy results frame; a section whose
metrics are absent still appears and says which probe to run. Numbers come from
`suite.analysis` (leaderboard, ranks, win rates, Pareto fronts, exponents, ladder deltas,
fairness); the report only chooses what to show and how.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from suite.analysis.aggregate import variants_in_order
from suite.config import ConfigError
from suite.report.boards import LADDER, boards_view
from suite.report.cards import load_registry
from suite.report.csv import render_csv
from suite.report.deployment import section_deployment
from suite.report.extrapolation import section_extrapolation
from suite.report.figures import Figures, colors, script_safe
from suite.report.markdown import render_markdown
from suite.report.memory import section_memory
from suite.report.published import section_published
from suite.report.recall import section_recall
from suite.report.scaling import section_scaling
from suite.report.sections import section_cards, section_ladder, section_tradeoffs
from suite.report.stability import section_stability
from suite.report.templates import asset, environment
from suite.report.view import check_output, header, load
from suite.safeio import atomic_write_text

FORMATS = ("html", "md", "csv")


def build_view(
    df: pd.DataFrame,
    result_dirs: list[Path],
    out: Path,
    baseline: str | None = None,
    boards: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything the HTML template needs, as plain data (also handy for tests)."""
    registry, registry_error = load_registry()
    figs = Figures()
    palette = colors(variants_in_order(df))
    boards = boards_view(df, baseline=baseline) if boards is None else boards
    # the waterfalls draw the ladder board's columns (a rung has no other metric to draw)
    ladder = next((b for b in boards if b["id"] == LADDER.id), dict(columns=[]))
    sections = [
        section_ladder(df, figs, ladder, registry),
        section_scaling(df, figs, palette, registry),
        section_memory(df, figs),
        section_tradeoffs(df, figs, palette),
        section_recall(df, figs, palette),
        section_extrapolation(df, figs, palette),
        section_stability(df, figs, palette),
        section_deployment(df, registry),
        section_published(df, registry),
    ]
    cards = section_cards(df, registry, registry_error)
    return dict(
        header=header(df, result_dirs, out),
        boards=boards,
        sections=sections,
        cards=cards,
        title="archbench report",
        n_figures=figs.count,
    )


def render_html(view: dict[str, Any]) -> str:
    from plotly.offline import get_plotlyjs

    from suite import __version__

    template = environment().get_template("report.html.j2")
    return template.render(
        **view,
        version=__version__,
        css=asset("report.css"),
        js=asset("report.js"),
        plotly_js=script_safe(get_plotlyjs()),
    )


def write_report(result_dirs: list[Path], out: Path, fmt: str = "html", baseline: str | None = None) -> Path:
    """Write the report of the runs in `result_dirs` to `out`; returns the path written."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown report format '{fmt}'; choose one of: {', '.join(FORMATS)}.")
    out = check_output(out, "report")  # a folder or a read-only disk: say so before any work
    result_dirs = [Path(d) for d in result_dirs]
    df = load(result_dirs)
    boards = boards_view(df, baseline=baseline)
    if fmt == "html":
        text = render_html(build_view(df, result_dirs, out, baseline=baseline, boards=boards))
    elif fmt == "md":
        text = render_markdown(dict(header=header(df, result_dirs, out), boards=boards))
    else:
        text = render_csv(boards)
    return atomic_write_text(out, text, "report")  # a full disk leaves the earlier report as it was
