"""The `compare` command: the CI gate between two runs."""

from __future__ import annotations

from suite.cli.args import nonnegative_float, nonnegative_int, positive_float


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
        "candidate lost), naming each; 2 on unusable input. A non-finite or negative time never passes. "
        "A timed change must also clear its metric's run-to-run noise floor (k x the noise measured between "
        "runs of the same code; --noise, --calibrate-noise), and timed cells the gate is unsure about are "
        "re-measured first (--remeasure).",
    )
    p.add_argument(
        "baseline", metavar="BASELINE", nargs="?", help="results folder (or results.jsonl) or pytest-benchmark JSON"
    )
    p.add_argument(
        "candidate", metavar="CANDIDATE", nargs="?", help="results folder (or results.jsonl) or pytest-benchmark JSON"
    )
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
    p.add_argument(
        "--noise",
        metavar="FILE",
        help="run-to-run noise table (from --calibrate-noise) that sets each timed metric's floor, measured on "
        "this machine: timed regressions then block. Default: the table shipped with archbench (measured on the "
        "machine it names), with which timed regressions are reported but advisory",
    )
    p.add_argument(
        "--remeasure",
        type=nonnegative_int,
        metavar="N",
        help="re-run the timed cells the gate is unsure about N rounds (baseline and candidate alternately when "
        "both are this checkout's code; the candidate's new attempts are appended to its folder) and judge again; "
        "default 3 when CANDIDATE is a results folder, 0 disables",
    )
    p.add_argument(
        "--calibrate-noise",
        nargs="+",
        metavar="RUN",
        help="instead of comparing: measure each timed metric's run-to-run noise from two or more results folders "
        "of the same code on one machine (A/A runs); prints the table, --noise-out writes it",
    )
    p.add_argument("--noise-out", metavar="FILE", help="with --calibrate-noise: write the table here (for --noise)")
    p.add_argument(
        "--noise-k",
        type=positive_float,
        default=None,
        metavar="K",
        help="standard deviations of run-to-run noise a timed change must clear (default: the table's, 4)",
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
    from suite.config import ConfigError
    from suite.report.compare_view import calibrate_command, compare_command

    if args.calibrate_noise:
        if args.baseline or args.candidate:
            raise ConfigError(
                "--calibrate-noise takes its runs as its own arguments; give no BASELINE / CANDIDATE with it "
                f"(got {' '.join(x for x in (args.baseline, args.candidate) if x)})."
            )
        return calibrate_command(args.calibrate_noise, out=args.noise_out, k=args.noise_k, as_json=args.json)
    if not (args.baseline and args.candidate):
        raise ConfigError("compare needs BASELINE and CANDIDATE (or --calibrate-noise RUN1 RUN2 ...).")
    if args.noise_out:
        raise ConfigError("--noise-out writes the table of --calibrate-noise; give it with --calibrate-noise.")
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
        noise=args.noise,
        noise_k=args.noise_k,
        remeasure=args.remeasure,
    )
