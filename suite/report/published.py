"""Published quality beside cost: the benchmark scores developers report for the full-size models in
the results (`suite.analytic.published`), each with its setting, checkpoint and source. They are
published, not measured: archbench never ran these benchmarks, and scores from different developers
come from different harnesses, so they are listed, never ranked."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from suite.analytic.published import published_scores
from suite.report.sections import Section
from suite.safeio import escape_markup

TITLE = "Published quality (not measured)"
# `owner/repo:path@commit`: text read from a git repository, linked to that commit on GitHub (to the
# default branch when the index held no commit to pin).
_GIT_SOURCE = re.compile(r"^([\w.-]+/[\w.-]+):([^\s@]+)(?:@([0-9a-f]{7,40}))?(?=\s|$)")


def source_url(source: str) -> str | None:
    """A link for a source: the URL it names, or the GitHub page of `owner/repo:path@commit`."""
    match = _GIT_SOURCE.match(source)
    if match:
        repo, path, commit = match.groups()
        return f"https://github.com/{repo}/blob/{commit or 'HEAD'}/{path}"
    url = re.search(r"https?://\S+", source)
    return url.group(0).rstrip(").,;") if url else None


def full_size_variants(df: pd.DataFrame) -> list[str]:
    """Published models analysed at full size in these results (namespaced study variants left out),
    the same set the deployment board shows."""
    if "scale" not in df or "variant" not in df:
        return []
    ok = df["status"] == "ok" if "status" in df else True
    full = df[(df["scale"] == "full") & ok]
    return [name for name in dict.fromkeys(full["variant"]) if "/" not in str(name)]


def published_rows(variants: list[str]) -> list[dict[str, Any]]:
    """One row per published score of these variants, in the order given, each with its link."""
    rows = []
    for name in variants:
        for score in published_scores(name):
            rows.append(dict(variant=name, **score, source_url=source_url(score["source"])))
    return rows


def section_published(df: pd.DataFrame, registry) -> Section:
    # `registry` keeps the signature of the other sections; the scores are keyed by variant name.
    del registry
    section = Section(
        "published",
        TITLE,
        "Benchmark scores the developers published for the full-size models in these results, beside "
        "their cost figures: each with its evaluation setting, the checkpoint it was measured on (base, "
        "instruct or reasoning weights score differently) and its source. archbench did not measure them, "
        "and different developers' harnesses differ: compare within one source and setting only.",
    )
    variants = full_size_variants(df)
    if not variants:
        section.empty = "No full-size models in these results (run probe analytic at scale full)."
        return section
    rows = published_rows(variants)
    section.extra["published"] = rows
    # missing scores stay missing: the models without any are named, never filled in
    section.extra["unsourced"] = [name for name in variants if not any(r["variant"] == name for r in rows)]
    if not rows:
        section.empty = "No published scores were sourced for the full-size models in these results."
    return section


def render_published(rows: list[dict[str, Any]]) -> None:
    """The `show` block: one line per published score with its setting and source."""
    from suite.term import console

    if not rows:
        return
    out = console()
    out.print(f"\n[bold]{TITLE}[/bold]")
    for row in rows:
        out.print(
            f"  {escape_markup(row['benchmark'])}: [bold]{escape_markup(row['score'])}[/bold]  "
            f"({escape_markup(row['setting'])}; {escape_markup(row['checkpoint'])})\n"
            f"    source ({escape_markup(row['provenance'])}): {escape_markup(row['source'])}"
        )
