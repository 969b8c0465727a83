"""The `compare` command: the CI gate between two runs."""

from __future__ import annotations

from suite.cli.args import nonnegative_float


# ---------------------------------------------------------------- compare (CI gate)
def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="noise-aware verdicts between two runs; exit 1 on a regression (CI gate)",
        description="Match every number of CANDIDATE to BASELINE by variant, scale, probe, metric "
        "and settings, and judge it: regression / improvement / changed (real change), "
        "same (within noise or under the threshold), new, missing, failed. Timed rows: "
        "seeded bootstrap CI of the ratio of medians; quality rows: seed intervals; "
        "analytic rows: exact. Both sides may be pytest-benchmark JSON files instead. "
        "Exit 1 when a verdict fails under --fail-on (a regression, a new failure, timeout or oom, or a number the "
        "candidate lost), naming each; 2 on unusable input. A non-finite or negative time never passes.",
    )
    p.add_argument("baseline", metavar="BASELINE", help="results folder (or results.jsonl) or pytest-benchmark JSON")
    p.add_argument("candidate", metavar="CANDIDATE", help="results folder (or results.jsonl) or pytest-benchmark JSON")
    p.add_argument(
        "--threshold",
        type=nonnegative_float,
        default=0.05,
        help="smallest relative change that counts, e.g. 0.05 = 5%% (default 0.05)",
    )
    p.add_argument("--metrics", nargs="+", metavar="METRIC", help="compare only these metrics (default: all but *_cv)")
    p.add_argument(
        "--fail-on",
        default="regression",
        choices=["regression", "any", "never"],
        help="exit 1 on: a regression or a newly failed cell (default); any verdict but same; never",
    )
    p.add_argument(
        "--benchmark",
        action="store_true",
        help="read both sides as pytest-benchmark JSON (detected automatically for such .json files)",
    )
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="accept numbers the candidate no longer has (dropped variants); by default they fail the gate",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--markdown", metavar="FILE", help="also write a Markdown summary (a PR comment) to FILE")
    p.add_argument("--all", action="store_true", help="also list the comparisons that are the same")
    p.add_argument(
        "--export-benchmark",
        metavar="FILE",
        help="also write CANDIDATE's timed rows as pytest-benchmark JSON (seconds) to FILE",
    )
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args) -> int:
    from suite.report.compare_view import compare_command

    return compare_command(
        args.baseline,
        args.candidate,
        threshold=args.threshold,
        metrics=args.metrics,
        fail_on=args.fail_on,
        benchmark=args.benchmark,
        as_json=args.json,
        show_all=args.all,
        markdown_path=args.markdown,
        export_benchmark=args.export_benchmark,
        allow_missing=args.allow_missing,
    )
