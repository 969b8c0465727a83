"""The terminal writer (`archbench table`): the boards as rich tables, plus their CSV / Markdown files."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Iterable

from suite.report.boards import boards_view
from suite.report.csv import render_csv
from suite.report.markdown import render_markdown
from suite.report.view import LEGEND, check_output, header, load, settings_note, text_table
from suite.safeio import InputError, atomic_write_text


def render(board: dict[str, Any], title: str = "archbench leaderboard") -> None:
    """Print the board: the columns of the HTML and Markdown leaderboards, then what they were read at."""
    from rich.table import Table
    from rich.text import Text

    from suite.term import console

    headers, body = text_table(board)
    # Text, never a markup string: names and settings come from results files ("[/]", "[link=...]")
    baseline = f" (ratios to {board['baseline']})" if board["baseline"] else ""
    table = Table(title=Text(title + baseline))
    for i, h in enumerate(headers):
        table.add_column(Text(h), justify="left" if i == 1 else "right", overflow="fold")
    for row in body:
        table.add_row(*(Text(cell) for cell in row))
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
    for path, what in ((csv, "CSV table"), (markdown, "Markdown table")):
        if path:
            check_output(path, what)
    df = load(dirs)
    known = sorted({str(m) for m in df["metric"].dropna() if m})
    unknown = [m for m in metrics or () if m not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        raise InputError(
            f"no metric {', '.join(map(repr, unknown))} in {', '.join(map(str, dirs))}"
            + (f" (did you mean '{close[0]}'?)" if close else "")
            + f"; these results have: {', '.join(known) or 'no metrics'}.",
            field="metrics",
        )
    boards = boards_view(df, baseline=baseline, metrics=metrics or None)
    if not boards:
        asked = "the metrics " + ", ".join(metrics) if metrics else "the key metrics"
        failed = int((df["status"] != "ok").sum())
        raise InputError(
            f"no successful results to tabulate in {', '.join(map(str, dirs))}: no ok row of {asked} "
            f"({len(df)} rows, {failed} failed). Choose others with --metrics, or see the failures with "
            "`archbench report`.",
            field="metrics" if metrics else None,
        )
    for board in boards:
        render(board, title=board["title"])
    if csv:
        atomic_write_text(csv, render_csv(boards), "CSV table")
        print(f"archbench: wrote {csv}")
    if markdown:
        atomic_write_text(
            markdown, render_markdown(dict(header=header(df, dirs, Path(markdown)), boards=boards)), "Markdown table"
        )
        print(f"archbench: wrote {markdown}")
    return 0
