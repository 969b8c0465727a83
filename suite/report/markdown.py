"""The Markdown writer: the boards as tables for a README or a pull-request comment."""

from __future__ import annotations

from typing import Any

from suite.report.templates import environment
from suite.report.view import LEGEND, settings_note, text_table


def render_markdown(view: dict[str, Any]) -> str:
    """`view` holds `header` and `boards` (see `suite.report.boards`)."""
    tables = []
    for board in view["boards"]:
        headers, rows = text_table(board)
        tables.append(
            dict(
                title=board["title"],
                lead=board["lead"],
                headers=headers,
                rows=rows,
                settings=settings_note(board),
                legend=LEGEND.format(baseline=board["baseline"] or "—"),
            )
        )
    return environment().get_template("leaderboard.md.j2").render(header=view["header"], tables=tables)
