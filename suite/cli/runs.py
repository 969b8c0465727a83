"""Commands about runs: run, table, report."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

from suite.cli.args import _match_params_arg, _registry_arg, memory_size, positive_float, positive_int


@contextlib.contextmanager
def _warnings_as_lines():
    """archbench's own warnings (a skipped results line) as one 'archbench: warning:' line each, not
    Python's 'file:line: UserWarning' with a source line."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if f"{os.sep}suite{os.sep}" in str(filename):
            print(f"archbench: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)  # every skipped line, not only the first
        warnings.showwarning = show
        yield


# ---------------------------------------------------------------- run / table
def _add_run(sub) -> None:
    p = sub.add_parser(
        "run",
        help="run a suite (default: quick) and write the HTML report",
        description="Run variants × probes × settings. Each cell is cached by a content hash in OUT, so "
        "re-running only computes new or changed cells; a killed run continues with --resume. "
        "Exit status 1 if a cell crashed (status error), or if the report code failed and only a minimal "
        "report page could be written (the message says why); oom and timeout are recorded results. Exit 2 on "
        "unusable input, a results folder that cannot be written or is locked by another run, --resume "
        "arguments that differ from the run's, and a report that cannot be written (disk full, read-only: the "
        "earlier report is kept; the run's results are saved either way).",
    )
    p.add_argument("variants", nargs="*", metavar="VARIANT", help="variants to run (default: the suite's)")
    p.add_argument("--suite", default=None, help="suite name (quick, standard, full) or YAML path (default: quick)")
    p.add_argument("--probes", nargs="+", metavar="PROBE", help="probes or probe families (default: the suite's)")
    p.add_argument("--out", default=None, help="results folder (default: results/<suite>)")
    p.add_argument(
        "--scale",
        default=None,
        choices=["full", "tiny", "small", "base"],
        help="scale of the variants (default: the suite's; a probe entry with its own scale keeps it)",
    )
    _match_params_arg(p)
    p.add_argument("--force", action="store_true", help="recompute cached cells")
    p.add_argument(
        "--resume", action="store_true", help="continue the interrupted run in OUT with its arguments and run id"
    )
    p.add_argument(
        "--jobs", type=positive_int, default=None, help="cells at once, each in its own subprocess (default 1)"
    )
    p.add_argument("--timeout", type=positive_float, default=None, metavar="S", help="per-cell timeout in seconds")
    p.add_argument(
        "--memory-cap",
        type=memory_size,
        default=None,
        metavar="SIZE",
        help="address space a cell may add, e.g. 4GB (beyond: recorded as oom); a capped cell always runs in "
        "its own subprocess, since the cap is a limit of a whole process",
    )
    p.add_argument(
        "--probe-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="import this module or .py file to register extra probes (repeatable)",
    )
    p.add_argument(
        "--changed-since",
        metavar="REF",
        help="run only the variants whose resolved definition (their entry or a base in their chain) changed in "
        "git since REF, or every variant when component code changed (README: CI); the log says which and why",
    )
    p.add_argument(
        "--executor",
        default="local",
        choices=["local", "ray"],
        help="local: this machine (default; --jobs); ray: each cell as a Ray task (needs the ray extra)",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="with --executor ray: the cluster to use (e.g. auto, ray://HOST:10001); default: start a local Ray",
    )
    p.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    _registry_arg(p)
    p.set_defaults(func=_cmd_run)


def _cmd_run(args) -> int:
    """Plan and run; then the report unless --no-report. Exit status 1 when a cell ended in `error`
    (a crash is a bug to look at); oom and timeout are measurements, not failures of the run."""
    from suite.run.runner import run_suite

    with _warnings_as_lines():
        return _run_and_report(args, run_suite)


def _run_and_report(args, run_suite) -> int:
    summary = run_suite(
        args.suite,
        variants=args.variants,
        probes=args.probes,
        out=args.out,
        scale=args.scale,
        force=args.force,
        resume=args.resume,
        jobs=args.jobs,
        timeout=args.timeout,
        memory_cap=args.memory_cap,
        probe_modules=args.probe_module,
        registry_dirs=args.registry,
        match_params=args.match_params,
        changed_since=args.changed_since,
        executor=args.executor,
        address=args.address,
    )
    out = summary.out
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items())) or "nothing new"
    print(
        f"archbench: {summary.planned} cells: {summary.cached} cached, {summary.ran} run ({counts}) "
        f"in {summary.seconds:.1f}s -> {out / 'results.jsonl'}"
    )
    failed = 1 if summary.statuses.get("error", 0) else 0
    if not args.no_report and not (out / "results.jsonl").exists():
        print("archbench: no report: nothing has run into this folder yet")
    elif not args.no_report:
        path, complete = _report_after_run([out], out / "report.html")
        print(f"archbench: report: {path}" + ("" if complete else " (minimal: the full report failed, see above)"))
        failed = failed or (0 if complete else 1)
    return failed


def _report_after_run(dirs: list, out):
    """(path, complete): the HTML report, or a minimal leaderboard page if the report code fails (a
    report bug must not lose the run; the exit status then says so). A file-system error (disk full,
    read-only) is not a report bug: it propagates as the one-paragraph error and the earlier report stays."""
    from pathlib import Path

    from suite.config import ConfigError
    from suite.safeio import InputError

    try:
        from suite.report.html import write_report

        return Path(write_report(list(dirs), out, fmt="html")), True
    except ConfigError as exc:  # disk full, read-only, no rows: the minimal page would fail too, or hide it
        raise InputError(
            f"{exc.reason} The run itself finished: its results are saved in {dirs[0]}; write the report "
            f"later with `archbench report {dirs[0]}`.",
            file=exc.file,
            field=exc.field,
        ) from None
    except Exception as exc:  # noqa: BLE001 - the run's results are saved; say why and write what we can
        print(f"archbench: the report failed ({type(exc).__name__}: {exc}); writing a minimal one", file=sys.stderr)
    from suite.report.minimal import minimal_report

    return minimal_report(dirs, out), False


def _add_table(sub) -> None:
    p = sub.add_parser(
        "table",
        help="print the leaderboard of results folders",
        description="Leaderboard (variants × key metrics, each at one canonical setting) "
        "of one or more results folders. Exit status 2 when there is nothing to tabulate (no results, no ok "
        "row of the metrics) or a --csv / --markdown file cannot be written (the earlier file is kept).",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="results folders (or results.jsonl files)")
    p.add_argument("--baseline", help="also show each value as a ratio to this variant")
    p.add_argument("--metrics", nargs="+", metavar="METRIC", help="metrics to show (default: key metrics)")
    p.add_argument("--csv", metavar="FILE", help="write the table as CSV")
    p.add_argument("--markdown", metavar="FILE", help="write the table as Markdown")
    p.set_defaults(func=_cmd_table)


def _cmd_table(args) -> int:
    from suite.report.terminal import table_command

    with _warnings_as_lines():
        return table_command(
            args.dirs, baseline=args.baseline, metrics=args.metrics, csv=args.csv, markdown=args.markdown
        )


# ---------------------------------------------------------------- report
def _add_report(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write the HTML report (or a Markdown / CSV leaderboard) of results folders",
        description="One self-contained HTML file (opens offline, from file://): header, "
        "leaderboard, evolution ladder, context scaling, memory breakdown, "
        "trade-offs, variant cards. --format md / csv write only the leaderboard. The file is replaced "
        "atomically: if it cannot be written (disk full, read-only, --out is a folder) the earlier one is kept "
        "and the exit status is 2, as for results that are missing, empty or unreadable (rows that cannot be "
        "right are skipped with a warning naming their line).",
    )
    p.add_argument("dirs", nargs="+", metavar="DIR", help="results folders (each with results.jsonl or .parquet)")
    p.add_argument("--out", default=None, help="output file (default: DIR/report.html, .md or .csv)")
    p.add_argument("--format", default="html", choices=["html", "md", "csv"], help="output format (default: html)")
    p.add_argument(
        "--baseline",
        metavar="VARIANT",
        help="variant the ratios are taken to (default: the ladder's first rung, else the first variant)",
    )
    p.set_defaults(func=_cmd_report)


def _cmd_report(args) -> int:
    from pathlib import Path

    from suite.report.html import write_report

    out = Path(args.out) if args.out else Path(args.dirs[0]) / f"report.{args.format}"
    with _warnings_as_lines():
        path = write_report([Path(d) for d in args.dirs], out, fmt=args.format, baseline=args.baseline)
    print(f"report: {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0
