"""`archbench` command line: thin; every command delegates to a module.

Each command is one `_add_<name>(subparsers)` function that sets `func`. Errors that users can
fix (bad YAML, unknown variant, bad flag values) are printed as one paragraph, exit code 2.
"""
from __future__ import annotations

import argparse
import json
import sys

from suite.config import ConfigError


def _registry_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", action="append", default=[], metavar="DIR",
                   help="extra folder of variant YAML files (repeatable); same checks as the built-in ones")


def _scale_arg(p: argparse.ArgumentParser, default: str | None = None) -> None:
    p.add_argument("--scale", default=default, choices=["full", "tiny", "small", "base"],
                   help="analyse the full published size (default) or a CPU-runnable proxy (see README: proxy rule)")


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


# ---------------------------------------------------------------- list / show
def _add_list(sub) -> None:
    p = sub.add_parser("list", help="table of registered variants",
                       description="List every registered variant: family, parameters (total/active), context, key components.")
    _registry_arg(p)
    _scale_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--family", help="only this family")
    p.set_defaults(func=_cmd_list)


def _cmd_list(args) -> int:
    from suite.report.inspect import list_rows, render_list
    rows = list_rows(args.registry, family=args.family, scale=args.scale)
    if args.json:
        _print_json(rows)
    else:
        render_list(rows)
    return 0


def _add_show(sub) -> None:
    p = sub.add_parser("show", help="one variant: resolved config, field origins, parameter breakdown",
                       description="Show a variant (name, variant YAML path, HF config.json or checkpoint folder).")
    p.add_argument("name", nargs="?", help="variant name or path")
    _registry_arg(p)
    _scale_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--fields", action="store_true", help="list every config field with its default and exit")
    p.set_defaults(func=_cmd_show)


def _cmd_show(args) -> int:
    from suite.report.inspect import render_fields, render_show, show_data
    if args.fields:
        render_fields()
        return 0
    if not args.name:
        raise ConfigError("`archbench show` needs a variant name or path (see `archbench list`).")
    data = show_data(args.name, args.registry, scale=args.scale)
    if args.json:
        _print_json(data)
    else:
        render_show(data)
    return 0


# ---------------------------------------------------------------- run / table
def _add_run(sub) -> None:
    p = sub.add_parser(
        "run", help="run a suite (default: quick) and write the HTML report",
        description="Run variants × probes × settings. Each cell is cached by a content hash in OUT, so "
                    "re-running only computes new or changed cells; a killed run continues with --resume. "
                    "Exit status 1 if a cell crashed (status error); oom and timeout are recorded results.")
    p.add_argument("variants", nargs="*", metavar="VARIANT", help="variants to run (default: the suite's)")
    p.add_argument("--suite", default=None, help="suite name (quick, standard, full) or YAML path (default: quick)")
    p.add_argument("--probes", nargs="+", metavar="PROBE", help="probes or probe families (default: the suite's)")
    p.add_argument("--out", default=None, help="results folder (default: results/<suite>)")
    p.add_argument("--scale", default=None, choices=["full", "tiny", "small", "base"],
                   help="scale of the variants (default: the suite's; a probe entry with its own scale keeps it)")
    p.add_argument("--force", action="store_true", help="recompute cached cells")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in OUT with its arguments and run id")
    p.add_argument("--jobs", type=int, default=None, help="cells at once, each in its own subprocess (default 1)")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="per-cell timeout in seconds")
    p.add_argument("--memory-cap", default=None, metavar="SIZE",
                   help="address space a subprocess cell may add, e.g. 4GB (beyond: recorded as oom)")
    p.add_argument("--probe-module", action="append", default=[], metavar="MODULE",
                   help="import this module or .py file to register extra probes (repeatable)")
    p.add_argument("--no-report", action="store_true", help="do not write the HTML report")
    _registry_arg(p)
    p.set_defaults(func=_cmd_run)


def _cmd_run(args) -> int:
    """Plan and run; then the report unless --no-report. Exit status 1 when a cell ended in `error`
    (a crash is a bug to look at); oom and timeout are measurements, not failures of the run."""
    from suite.run.runner import run_suite
    summary = run_suite(args.suite, variants=args.variants, probes=args.probes, out=args.out, scale=args.scale,
                        force=args.force, resume=args.resume, jobs=args.jobs, timeout=args.timeout,
                        memory_cap=args.memory_cap, probe_modules=args.probe_module, registry_dirs=args.registry)
    out = summary.out
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items())) or "nothing new"
    print(f"archbench: {summary.planned} cells: {summary.cached} cached, {summary.ran} run ({counts}) "
          f"in {summary.seconds:.1f}s -> {out / 'results.jsonl'}")
    if not args.no_report:
        print(f"archbench: report: {_report_after_run([out], out / 'report.html')}")
    return 1 if summary.statuses.get("error", 0) else 0


def _report_after_run(dirs: list, out):
    """The HTML report; a minimal leaderboard page if the report fails (a report bug must not lose the run)."""
    from pathlib import Path
    try:
        from suite.report.html import write_report
        return Path(write_report(list(dirs), out, fmt="html"))
    except Exception as exc:  # noqa: BLE001 - the run's results are saved; say why and write what we can
        print(f"archbench: the report failed ({type(exc).__name__}: {exc}); writing a minimal one", file=sys.stderr)
    return minimal_report(dirs, out)


def minimal_report(dirs: list, out):
    """A bare HTML page: the leaderboard and the failed cells of results folders."""
    import html

    from suite.analysis.aggregate import leaderboard
    from suite.results import load_results
    df = load_results(*dirs)
    board = leaderboard(df)
    failed = df[df["status"] != "ok"][["variant", "probe", "status", "error"]]
    parts = ["<!doctype html><meta charset='utf-8'><title>archbench results</title>",
             "<h1>archbench results</h1>", f"<p>{html.escape(', '.join(map(str, dirs)))}</p>",
             "<h2>Leaderboard</h2>", board.to_html(na_rep="", float_format=lambda v: f"{v:.4g}"),
             "<h2>Failed cells</h2>", failed.to_html(index=False) if len(failed) else "<p>none</p>"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts))
    return out


def _add_table(sub) -> None:
    p = sub.add_parser("table", help="print the leaderboard of results folders",
                       description="Leaderboard (variants × key metrics, each at one canonical setting) "
                                   "of one or more results folders.")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="results folders (or results.jsonl files)")
    p.add_argument("--baseline", help="also show each value as a ratio to this variant")
    p.add_argument("--metrics", nargs="+", metavar="METRIC", help="metrics to show (default: key metrics)")
    p.add_argument("--csv", metavar="FILE", help="write the table as CSV")
    p.add_argument("--markdown", metavar="FILE", help="write the table as Markdown")
    p.set_defaults(func=_cmd_table)


def _cmd_table(args) -> int:
    from suite.report.terminal import table_command
    return table_command(args.dirs, baseline=args.baseline, metrics=args.metrics, csv=args.csv,
                         markdown=args.markdown)


# ---------------------------------------------------------------- report
def _add_report(sub) -> None:
    p = sub.add_parser("report", help="write the HTML report (or a Markdown / CSV leaderboard) of results folders",
                       description="One self-contained HTML file (opens offline, from file://): header, "
                                   "leaderboard, evolution ladder, context scaling, memory breakdown, "
                                   "trade-offs, variant cards. --format md / csv write only the leaderboard.")
    p.add_argument("dirs", nargs="+", metavar="DIR", help="results folders (each with results.jsonl or .parquet)")
    p.add_argument("--out", default=None, help="output file (default: DIR/report.html, .md or .csv)")
    p.add_argument("--format", default="html", choices=["html", "md", "csv"], help="output format (default: html)")
    p.add_argument("--baseline", metavar="VARIANT",
                   help="variant the ratios are taken to (default: the ladder's first rung, else the first variant)")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args) -> int:
    from pathlib import Path
    from suite.report.html import write_report
    out = Path(args.out) if args.out else Path(args.dirs[0]) / f"report.{args.format}"
    path = write_report([Path(d) for d in args.dirs], out, fmt=args.format, baseline=args.baseline)
    print(f"report: {path} ({path.stat().st_size / 2 ** 20:.1f} MiB)")
    return 0


# ---------------------------------------------------------------- budget / calibrate
def _add_budget(sub) -> None:
    from suite.analytic.budget import DEVICES
    p = sub.add_parser("budget", help="serving budget: max context in memory, max batch, decode tokens/s bound",
                       description="From the config alone: the longest context (or largest batch) that fits in a "
                                   "memory budget next to the weights, and the decode roofline (tokens/s bound by "
                                   "memory bandwidth and by compute) on a device.")
    p.add_argument("name", help="variant name or path")
    _registry_arg(p)
    _scale_arg(p)
    p.add_argument("--memory", metavar="SIZE", help="memory budget, e.g. 80GB, 8GiB, 24e9 (default: the device's)")
    p.add_argument("--dtype", default="bf16", help="weight format: fp32 bf16 fp16 fp8 int8 int4 mxfp4 (default bf16)")
    p.add_argument("--kv-dtype", help="KV-cache type (default: the weight type, bf16 for quantised formats)")
    p.add_argument("--batch", type=int, default=1, help="concurrent sequences (default 1)")
    p.add_argument("--context", type=int, help="context for the max batch and the roofline (default: the max context)")
    p.add_argument("--reserve", metavar="SIZE", default="0", help="memory kept back for activations/overhead")
    p.add_argument("--device", default=None,
                   help=f"device preset ({', '.join(DEVICES)}) or a file from `archbench calibrate --output` "
                        "(default h100)")
    p.add_argument("--device-peak", type=float, metavar="FLOPS", help="peak FLOP/s (overrides the preset)")
    p.add_argument("--device-bandwidth", type=float, metavar="BYTES_PER_S", help="memory bandwidth (overrides the preset)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_budget)


def _cmd_budget(args) -> int:
    from suite.analytic import budget
    from suite.hf.resolve import resolve_any
    from suite.units import parse_size
    cfg = resolve_any(args.name, args.registry, scale=args.scale)
    custom = args.device is None and args.device_peak and args.device_bandwidth
    device = budget.get_device(None if custom else (args.device or "h100"), peak=args.device_peak,
                               bandwidth=args.device_bandwidth)
    data = budget.report(cfg, memory=parse_size(args.memory) if args.memory else None, dtype=args.dtype,
                         kv_dtype=args.kv_dtype, batch=args.batch, context=args.context, device=device,
                         reserve=parse_size(args.reserve) if args.reserve not in ("0", 0) else 0)
    if args.json:
        _print_json(data)
    else:
        budget.render(data)
    return 0


def _add_calibrate(sub) -> None:
    p = sub.add_parser("calibrate", help="measure this machine's matmul FLOP/s and memory bandwidth",
                       description="Measure this machine with torch (fp32 matmul FLOP/s, copy bandwidth); "
                                   "`--output FILE` writes a device file for `archbench budget --device FILE`.")
    p.add_argument("--size", type=int, default=2048, help="matmul size n (n x n times n x n; default 2048)")
    p.add_argument("--copy-mib", type=int, default=256, help="MiB copied for the bandwidth test (default 256)")
    p.add_argument("--repeats", type=int, default=5, help="best of this many timings (default 5)")
    p.add_argument("--output", metavar="FILE", help="write the device file here")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_calibrate)


def _cmd_calibrate(args) -> int:
    from pathlib import Path
    from suite.analytic.budget import calibrate
    for name in ("size", "copy_mib", "repeats"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}.")
    data = calibrate(matmul_size=args.size, copy_bytes=args.copy_mib * 2**20, repeats=args.repeats)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(data, indent=2) + "\n")
    if args.json:
        _print_json(data)
    else:
        print(f"matmul: {data['peak_flops'] / 1e9:,.1f} GFLOP/s  copy bandwidth: {data['bandwidth'] / 1e9:,.1f} GB/s  "
              f"({data['threads']} threads)" + (f"\nwrote {args.output}" if args.output else ""))
    return 0


# ---------------------------------------------------------------- import
def _add_import(sub) -> None:
    p = sub.add_parser("import", help="map a Hugging Face checkpoint to a variant and load its weights",
                       description="Read a Hugging Face checkpoint folder (config.json + *.safetensors, sharded or "
                                   "not; pickle files are refused) or just a config.json, print its variant YAML "
                                   "(or write it with --out) and load the weights into archbench's decoder. "
                                   "Supported model types: gpt2, llama, mistral, qwen2, qwen3, qwen3_moe, "
                                   "gemma3_text, gemma3 (text decoder), olmo2, gpt_oss, deepseek_v3.")
    p.add_argument("path", metavar="DIR", help="checkpoint folder, or a config.json (architecture only)")
    p.add_argument("--out", metavar="FILE.yaml", help="write the variant YAML to this file instead of stdout")
    p.add_argument("--name", help="variant name (default: the folder name)")
    p.add_argument("--check", action="store_true",
                   help="also run the transformers model on the same random tokens and report the max absolute "
                        "logit difference, for the full forward pass and for KV-cache decoding (fp32)")
    p.add_argument("--seq-len", type=int, default=32, help="tokens per sequence for --check (default 32)")
    p.add_argument("--tol", type=float, default=1e-4, help="--check exits 1 above this max abs difference")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_import)


def _cmd_import(args) -> int:
    from suite.hf.importer import run_import
    return run_import(args.path, name=args.name, out=args.out, check=args.check, seq_len=args.seq_len,
                      tol=args.tol, as_json=args.json)


# ---------------------------------------------------------------- train / eval
def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a proxy from scratch on a fixed token budget",
                       description="Train VARIANT (scaled to a proxy) on the embedded corpus (Python standard-library "
                                   "source, hash recorded) mixed with synthetic recall/copy/passkey documents. AdamW, "
                                   "5% linear warm-up then cosine to 10% of the peak rate; the first seed sweeps "
                                   "--lr and the best rate (validation loss) trains the other seeds. Writes "
                                   "OUT/lr<LR>-seed<S>/ (model.safetensors, config.yaml, train.json) and OUT/summary.json.")
    p.add_argument("variant", help="variant name or YAML path")
    _scale_arg(p, default="tiny")
    p.add_argument("--tokens", type=int, default=1_000_000, help="token budget per run (default 1,000,000)")
    p.add_argument("--corpus", metavar="PATH", help="UTF-8 text file instead of the embedded corpus (last 10%% held out)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default 0)")
    p.add_argument("--lr", type=float, nargs="+", default=[3e-3], help="peak learning rate(s) to sweep (default 3e-3)")
    p.add_argument("--batch-size", type=int, default=8, help="sequences per step (default 8)")
    p.add_argument("--seq-len", type=int, help="training context (default min(context_length, 256))")
    p.add_argument("--synthetic-fraction", type=float, default=0.5,
                   help="share of sequences made of synthetic task documents (default 0.5)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    _registry_arg(p)
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from suite.quality.training import train_command
    train_command(args.variant, out=args.out, scale=args.scale, tokens=args.tokens, corpus=args.corpus,
                  seeds=args.seeds, lrs=args.lr, batch_size=args.batch_size, seq_len=args.seq_len,
                  synthetic_fraction=args.synthetic_fraction, registry=args.registry)
    return 0


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="evaluate a variant or checkpoint on lm-eval tasks",
                       description="Run lm-eval tasks on VARIANT_OR_DIR: a variant (random init unless --checkpoint), "
                                   "a folder from `archbench train`, or a Hugging Face checkpoint folder (its "
                                   "tokenizer.json is used). Our tasks (`archbench` runs them all): archbench_bpb, "
                                   "archbench_mqar_{4,8,16,32,48}, archbench_copy, archbench_passkey_{1,2,4}x; any "
                                   "lm-eval task name works too (it must be available offline).")
    p.add_argument("target", metavar="VARIANT_OR_DIR", nargs="?")
    p.add_argument("--tasks", default="archbench", help="comma-separated task, group or tag names (default: archbench)")
    p.add_argument("--list-tasks", action="store_true", help="list the archbench tasks and exit")
    _scale_arg(p)
    p.add_argument("--checkpoint", metavar="DIR", help="weights from an `archbench train` folder for VARIANT")
    p.add_argument("--tokenizer", metavar="PATH", help="tokenizer.json (default: bytes, or the folder's tokenizer.json)")
    p.add_argument("--limit", type=float, help="documents per task (a fraction if < 1), as in lm-eval")
    p.add_argument("--num-fewshot", type=int, help="few-shot examples, as in lm-eval")
    p.add_argument("--batch-size", type=int, default=8, help="requests per forward pass (default 8)")
    p.add_argument("--device", default=None, help="torch device (default cpu)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--overflow", default="fail", choices=["fail", "truncate"],
                   help="requests longer than learned positions: score as failure (default) or keep the last tokens")
    p.add_argument("--include-path", action="append", default=[], metavar="DIR", help="extra lm-eval task folder")
    p.add_argument("--metadata", metavar="JSON", help="task metadata, e.g. '{\"context_length\": 512}'")
    p.add_argument("--gen-kwargs", metavar="K=V,...", help="generation overrides, as in lm-eval")
    p.add_argument("--bootstrap-iters", type=int, default=1000, help="bootstrap resamples for stderr (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="init seed of an untrained variant (default 0)")
    p.add_argument("--output", metavar="FILE.json", help="write lm-eval's results as JSON")
    _registry_arg(p)
    p.set_defaults(func=_cmd_eval)


def _cmd_eval(args) -> int:
    from suite.quality.lm_eval_adapter import list_tasks, print_eval, run_eval
    if args.list_tasks:
        list_tasks()
        return 0
    if not args.target:
        raise ConfigError("`archbench eval` needs a variant name or a checkpoint folder (see `archbench list`).")
    try:
        metadata = json.loads(args.metadata) if args.metadata else None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--metadata is not valid JSON: {exc}") from None
    limit = int(args.limit) if args.limit is not None and args.limit >= 1 else args.limit
    results = run_eval(args.target, [t for t in args.tasks.split(",") if t], scale=args.scale,
                       checkpoint=args.checkpoint, tokenizer=args.tokenizer, limit=limit,
                       num_fewshot=args.num_fewshot, batch_size=args.batch_size, device=args.device, dtype=args.dtype,
                       overflow=args.overflow, include_path=args.include_path, metadata=metadata,
                       bootstrap_iters=args.bootstrap_iters, gen_kwargs=args.gen_kwargs, registry=args.registry,
                       seed=args.seed)
    print_eval(results, args.output)
    return 0


# ---------------------------------------------------------------- compare (CI gate)
def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="noise-aware verdicts between two runs; exit 1 on a regression (CI gate)",
                       description="Match every number of CANDIDATE to BASELINE by variant, scale, probe, metric "
                                   "and settings, and judge it: regression / improvement / changed (real change), "
                                   "same (within noise or under the threshold), new, missing, failed. Timed rows: "
                                   "seeded bootstrap CI of the ratio of medians; quality rows: seed intervals; "
                                   "analytic rows: exact. Both sides may be pytest-benchmark JSON files instead. "
                                   "Exit 1 when a verdict fails under --fail-on, 2 on unusable input.")
    p.add_argument("baseline", metavar="BASELINE", help="results folder (or results.jsonl) or pytest-benchmark JSON")
    p.add_argument("candidate", metavar="CANDIDATE", help="results folder (or results.jsonl) or pytest-benchmark JSON")
    p.add_argument("--threshold", type=float, default=0.05,
                   help="smallest relative change that counts, e.g. 0.05 = 5%% (default 0.05)")
    p.add_argument("--metrics", nargs="+", metavar="METRIC", help="compare only these metrics (default: all but *_cv)")
    p.add_argument("--fail-on", default="regression", choices=["regression", "any", "never"],
                   help="exit 1 on: a regression or a newly failed cell (default); any verdict but same; never")
    p.add_argument("--benchmark", action="store_true",
                   help="read both sides as pytest-benchmark JSON (detected automatically for such .json files)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--markdown", metavar="FILE", help="also write a Markdown summary (a PR comment) to FILE")
    p.add_argument("--all", action="store_true", help="also list the comparisons that are the same")
    p.add_argument("--export-benchmark", metavar="FILE",
                   help="also write CANDIDATE's timed rows as pytest-benchmark JSON (seconds) to FILE")
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args) -> int:
    from suite.report.compare_view import compare_command
    return compare_command(args.baseline, args.candidate, threshold=args.threshold, metrics=args.metrics,
                           fail_on=args.fail_on, benchmark=args.benchmark, as_json=args.json, show_all=args.all,
                           markdown_path=args.markdown, export_benchmark=args.export_benchmark)


COMMANDS = [_add_list, _add_show, _add_run, _add_table, _add_report, _add_budget, _add_calibrate, _add_import,
            _add_train, _add_eval, _add_compare]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archbench",
        description="archbench: measure what each decoder-only architecture choice buys "
                    "(parameters, FLOPs, memory, latency, context scaling, quality).",
        epilog="Start with `archbench list`, then `archbench show gpt2-small`, then `archbench run`.")
    from suite import __version__
    parser.add_argument("--version", action="version", version=f"archbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"archbench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `archbench list | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("archbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
