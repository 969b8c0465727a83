"""The jinja2 environment of the `reports/` templates and the static files they inline."""

from __future__ import annotations

from typing import Any

from suite.registry import data_dir
from suite.report.figures import script_safe
from suite.safeio import escape_markdown


def environment():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("reports"))),
        autoescape=jinja2.select_autoescape(("html", "html.j2"), default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = md_escape  # the Markdown template is not HTML-autoescaped: it escapes per cell
    return env


def asset(name: str) -> str:
    """A file of reports/static/, safe to inline in a <script> or <style> element."""
    text = (data_dir("reports") / "static" / name).read_text()
    return script_safe(text) if name.endswith(".js") else text.replace("</", "<\\/")


def md_escape(text: Any) -> str:
    """Text for a Markdown table cell: no pipes, no raw HTML, no links, no line breaks (`safeio`)."""
    return escape_markdown(text)
