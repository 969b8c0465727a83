"""Views of a `compare` report: a rich terminal table and a Markdown PR comment, and the command that
writes them (JSON, Markdown, exported pytest-benchmark JSON)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Iterable

from suite.analysis.benchjson import to_pytest_benchmark
from suite.analysis.compare import DEFAULT_THRESHOLD, CompareReport, Comparison, compare, noise_table
from suite.config import ConfigError
from suite.metrics import info
from suite.safeio import atomic_write_text, dumps, escape_markdown
from suite.units import format_value

_STYLE = {
    "failed": "bold red",
    "regression": "red",
    "improvement": "green",
    "changed": "magenta",
    "missing": "yellow",
    "new": "cyan",
    "same": "dim",
}
_MARK = {
    "failed": "❌ failed",
    "regression": "🔴 regression",
    "improvement": "🟢 improvement",
    "changed": "🟣 changed",
    "missing": "🟡 missing",
    "new": "🆕 new",
    "same": "same",
}


def _num(value: float | None) -> str:
    return "" if value is None else format_value(value)


def _varying_settings(rows: list[Comparison]) -> dict[str, set[str]]:
    """Per metric, the settings that differ between its rows: the ones worth showing."""
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_metric.setdefault(r.metric, []).append(r.settings)
    out: dict[str, set[str]] = {}
    for metric, settings in by_metric.items():
        keys = {k for s in settings for k in s}
        out[metric] = {k for k in keys if len({repr(s.get(k)) for s in settings}) > 1}
    return out


def _cells(report: CompareReport, rows: list[Comparison]) -> tuple[list[str], list[list[str]]]:
    shown = _varying_settings(report.comparisons)
    headers = ["verdict", "variant", "metric", "settings", "baseline", "candidate", "ratio", "CI", "note"]
    body = []
    for r in rows:
        name = info(r.metric).display_name if r.metric else f"({r.probe} cell)"
        unit = r.unit or info(r.metric).unit
        where = ", ".join(f"{k}={r.settings[k]}" for k in sorted(r.settings) if k in shown.get(r.metric, ()))
        variant = r.variant + (f"@{r.scale}" if r.scale and report.kind == "results" else "")
        ci = "" if r.ci_low is None or r.ci_high is None else f"{r.ci_low:.3f}–{r.ci_high:.3f}"
        body.append(
            [
                r.verdict,
                variant,
                name + (f" ({unit})" if unit else ""),
                where,
                _num(r.baseline),
                _num(r.candidate),
                "" if r.ratio is None else f"×{r.ratio:.3f}",
                ci,
                " ".join(x for x in (r.method, r.note) if x),
            ]
        )
    return headers, body


def render(report: CompareReport, *, show_all: bool = False, console=None) -> None:
    """A rich table of the verdicts (all of them with show_all, else everything but `same`)."""
    from rich.markup import escape
    from rich.table import Table

    from suite.term import console as term_console

    console = console or term_console()
    rows = report.comparisons if show_all else [c for c in report.comparisons if c.verdict != "same"]
    if rows:
        headers, body = _cells(report, rows)
        table = Table(title=escape(f"archbench compare: {report.baseline} → {report.candidate}"))
        for _i, h in enumerate(headers):
            table.add_column(
                h, justify="right" if h in ("baseline", "candidate", "ratio", "CI") else "left", overflow="fold"
            )
        for r, cells in zip(rows, body):  # escaped: "[context=64]" would read as rich markup
            table.add_row(*(escape(c) for c in cells), style=_STYLE[r.verdict])
        console.print(table)
    hidden = 0 if show_all else report.counts()["same"]
    if hidden:
        console.print(f"{hidden} comparison(s) the same within noise (--all shows them).", highlight=False)
    # escaped: a row's settings "[context=64]" (or a hostile variant name) would read as rich markup
    console.print(escape(report.summary()), style="bold red" if report.exit_code() else "bold green", highlight=False)


def markdown(report: CompareReport) -> str:
    """A PR comment: summary, the changes, and every comparison folded away."""

    def table(rows: list[Comparison]) -> list[str]:
        headers, body = _cells(report, rows)
        lines = [
            "| " + " | ".join(headers) + " |",
            "|" + "|".join("---:" if h in ("baseline", "candidate", "ratio", "CI") else "---" for h in headers) + "|",
        ]
        for r, cells in zip(rows, body):
            cells = [_MARK[r.verdict]] + cells[1:]
            lines.append("| " + " | ".join(escape_markdown(c) for c in cells) + " |")
        return lines

    status = "❌ **FAIL**" if report.exit_code() else "✅ **PASS**"
    first, *rest = report.summary().split("\n")
    parts = [
        f"### archbench compare: {status}",
        "",
        f"{escape_markdown(report.baseline)} → {escape_markdown(report.candidate)}: {escape_markdown(first)}",
        "",
    ]
    if rest:  # what re-measuring did and what blocks, one line each (names escaped, indentation kept)
        parts += [escape_markdown(line).replace("  ", "&nbsp;&nbsp;", 1) + "<br>" for line in rest] + [""]
    changes = [c for c in report.comparisons if c.verdict != "same"]
    if changes:
        parts += table(changes) + [""]
    else:
        parts += ["No change beyond noise.", ""]
    if report.comparisons:
        parts += [f"<details><summary>All {len(report.comparisons)} comparisons</summary>", ""]
        parts += table(report.comparisons) + ["", "</details>", ""]
    parts.append(
        "Ratio = candidate / baseline; CI: 95% bootstrap of the ratio of medians (timed rows) or "
        "the ratio bounds of the seed intervals (quality rows)."
    )
    return "\n".join(parts) + "\n"


def compare_command(
    baseline: str | Path,
    candidate: str | Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    metrics: Iterable[str] | None = None,
    fail_on: str = "regression",
    benchmark: bool = False,
    as_json: bool = False,
    show_all: bool = False,
    markdown_path: str | Path | None = None,
    export_benchmark: str | Path | None = None,
    allow_missing: bool = False,
    noise: str | Path | None = None,
    noise_k: float | None = None,
    remeasure: int | None = None,
) -> int:
    """`archbench compare`: judge, print (table or JSON), write the Markdown comment and the exported
    benchmark JSON when asked; returns the exit status (1 when a verdict fails under fail_on)."""
    table = noise_table(noise)
    if noise_k is not None:
        table.k = noise_k
    report = compare(
        baseline,
        candidate,
        threshold=threshold,
        metrics=metrics or None,
        fail_on=fail_on,
        benchmark=True if benchmark else None,
        allow_missing=allow_missing,
        noise=table,
        remeasure=remeasure,
    )
    if as_json:
        print(dumps(report.to_dict(), indent=2))  # strict JSON: a NaN is null, never a bare NaN
        if report.exit_code():
            print(f"archbench compare: FAIL{report.blocking_list()}", file=sys.stderr)  # never a silent exit 1
    else:
        render(report, show_all=show_all)
    if markdown_path:
        Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(markdown_path, markdown(report), "Markdown summary")
    if export_benchmark:
        if report.kind != "results":
            raise ConfigError(
                "--export-benchmark writes a results folder as pytest-benchmark JSON; "
                "the candidate is already pytest-benchmark JSON."
            )
        from suite.results import load_results

        out = Path(export_benchmark)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, dumps(to_pytest_benchmark(load_results(candidate)), indent=2), "pytest-benchmark file")
    return report.exit_code()


def calibrate_command(
    runs: list[str], *, out: str | Path | None = None, k: float | None = None, as_json: bool = False
) -> int:
    """`archbench compare --calibrate-noise RUN1 RUN2 ...`: the noise table, printed and written to `out`."""
    from suite.analysis.noise import DEFAULT_K, calibrate_noise

    table = calibrate_noise(runs, k=k or DEFAULT_K)
    data = table.to_dict()
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, dumps(data, indent=2) + "\n", "noise table (--noise-out)")
    if as_json:
        print(dumps(data, indent=2))
        return 0
    print(f"run-to-run noise of {len(table.sigmas)} timed metric(s), {table.runs} runs ({table.pairs} pairs):")
    for name, sigma in sorted(table.sigmas.items()):
        floor = table.floor(*name.split("/", 1), 0.0)
        print(
            f"  {name}: sigma {sigma:.3f} (sd of log time, about {math.expm1(sigma):.0%}) from "
            f"{table.counts.get(name, 0)} ratios; floor between single attempts {floor:.1%}"
        )
    print(f"k = {table.k:g}; machine: {table.machine.get('cpu_model')} ({table.machine.get('device')})")
    if out:
        print(f"written to {out} (use it with `archbench compare --noise {out}`)")
    return 0
