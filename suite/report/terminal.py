"""The terminal writer (`archbench table`): the leaderboard view as a rich table, plus its CSV / Markdown files."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from suite.report.csv import render_csv
from suite.report.markdown import render_markdown
from suite.report.view import LEGEND, header, leaderboard_view, load, settings_note, text_table
from suite.safeio import atomic_write_text, escape_markup


def render(board: dict[str, Any], title: str = "archbench leaderboard") -> None:
    """Print the board: the columns of the HTML and Markdown leaderboards, then what they were read at."""
    from rich.table import Table
    from rich.text import Text

    from suite.term import console

    headers, body = text_table(board)
    baseline = f" (ratios to {escape_markup(board['baseline'])})" if board["baseline"] else ""
    table = Table(title=title + baseline)
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 1 else "right", overflow="fold")
    for row in body:
        table.add_row(*(Text(cell) for cell in row))  # Text: a variant named "[bold]" stays literal
    out = console()
    out.print(table)
    note = settings_note(board)
    if note:
        out.print(Text(f"Settings: {note}."))
    out.print(Text(LEGEND.format(baseline=board["baseline"] or "—")))


def table_command(
    dirs: Iterable[str | Path],
    *,
    baseline: str | None = None,
    metrics: list[str] | None = None,
    csv: str | Path | None = None,
    markdown: str | Path | None = None,
) -> int:
    """Print the leaderboard of results folders (or files); also write it as CSV / Markdown."""
    dirs = [Path(d) for d in dirs]
    df = load(dirs)
    board = leaderboard_view(df, baseline=baseline, metrics=metrics or None)
    if not board["rows"] or not board["columns"]:
        print("archbench: no successful results to tabulate in " + ", ".join(map(str, dirs)))
        return 1
    render(board)
    if csv:
        atomic_write_text(csv, render_csv(board), "CSV table")
        print(f"archbench: wrote {csv}")
    if markdown:
        atomic_write_text(
            markdown, render_markdown(dict(header=header(df, dirs, Path(markdown)), board=board)), "Markdown table"
        )
        print(f"archbench: wrote {markdown}")
    return 0
