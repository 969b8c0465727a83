"""The Markdown writer: the leaderboard view as a table for a README or a pull-request comment."""

from __future__ import annotations

from typing import Any

from suite.report.templates import environment
from suite.report.view import LEGEND, settings_note, text_table


def render_markdown(view: dict[str, Any]) -> str:
    """`view` holds `header` and `board` (see `suite.report.view`)."""
    headers, rows = text_table(view["board"])
    return (
        environment()
        .get_template("leaderboard.md.j2")
        .render(
            header=view["header"],
            headers=headers,
            rows=rows,
            settings=settings_note(view["board"]),
            legend=LEGEND.format(baseline=view["board"]["baseline"] or "—"),
        )
    )
