"""Commands about quality: train a proxy, evaluate a model on lm-eval tasks."""

from __future__ import annotations

import argparse
import json
import math
import sys

from suite.cli.args import (
    _match_params_arg,
    _number,
    _registry_arg,
    _scale_arg,
    at_most,
    nonnegative_int,
    positive_float,
    unit_interval,
)
from suite.config import ConfigError


def _limit(text: str) -> float | int:
    """lm-eval's --limit: a fraction of each task below 1, else a whole number of documents."""
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of documents or a fraction below 1, got {text!r}")
    if value >= 1 and not value.is_integer():
        raise argparse.ArgumentTypeError(f"must be a whole number of documents or a fraction below 1, got {text!r}")
    return int(value) if value >= 1 else value


# ---------------------------------------------------------------- train / eval
def _add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a proxy from scratch on a fixed token budget",
        description="Train VARIANT (scaled to a proxy) on the embedded corpus (Python standard-library "
        "source, hash recorded) mixed with synthetic recall/copy/passkey documents. AdamW, "
        "5% linear warm-up then cosine to 10% of the peak rate; the first seed sweeps "
        "--lr and the best rate (validation loss) trains the other seeds. Writes "
        "OUT/lr<LR>-seed<S>/ (model.safetensors, config.yaml, train.json) and OUT/summary.json.",
    )
    p.add_argument("variant", help="variant name or YAML path")
    _scale_arg(p, default="tiny")
    _match_params_arg(p)
    p.add_argument(
        "--tokens",
        type=at_most(10**12, "a trillion tokens is not a proxy budget"),
        default=1_000_000,
        help="token budget per run (default 1,000,000)",
    )
    p.add_argument(
        "--corpus", metavar="PATH", help="UTF-8 text file instead of the embedded corpus (last 10%% held out)"
    )
    p.add_argument("--seeds", type=nonnegative_int, nargs="+", default=[0], help="seeds (default 0)")
    p.add_argument(
        "--lr", type=positive_float, nargs="+", default=[3e-3], help="peak learning rate(s) to sweep (default 3e-3)"
    )
    p.add_argument(
        "--batch-size", type=at_most(2**16, "sequences per step"), default=8, help="sequences per step (default 8)"
    )
    p.add_argument(
        "--seq-len",
        type=at_most(2**16, "tokens per training sequence"),
        help="training context (default min(context_length, 256))",
    )
    p.add_argument(
        "--synthetic-fraction",
        type=unit_interval,
        default=0.5,
        help="share of sequences made of synthetic task documents (default 0.5)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    _registry_arg(p)
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from suite.quality.command import train_command
    from suite.quality.training import DivergedError

    try:
        _train(args, train_command)
    except DivergedError as exc:  # no model to report is a failed run (1), not a bad argument (2)
        print(f"archbench: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _train(args, train_command) -> None:
    train_command(
        args.variant,
        out=args.out,
        scale=args.scale,
        match_params=args.match_params,
        tokens=args.tokens,
        corpus=args.corpus,
        seeds=args.seeds,
        lrs=args.lr,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        synthetic_fraction=args.synthetic_fraction,
        registry=args.registry,
    )


def _add_eval(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a variant or checkpoint on lm-eval tasks",
        description="Run lm-eval tasks on VARIANT_OR_DIR: a variant (random init unless --checkpoint), "
        "a folder from `archbench train`, or a Hugging Face checkpoint folder (its "
        "tokenizer.json is used). Our tasks (`archbench` runs them all): archbench_bpb, "
        "archbench_mqar_{4,8,16,32,48}, archbench_copy, archbench_passkey_{1,2,4}x; any "
        "lm-eval task name works too (it must be available offline).",
    )
    p.add_argument("target", metavar="VARIANT_OR_DIR", nargs="?")
    p.add_argument("--tasks", default="archbench", help="comma-separated task, group or tag names (default: archbench)")
    p.add_argument("--list-tasks", action="store_true", help="list the archbench tasks and exit")
    _scale_arg(p)
    p.add_argument("--checkpoint", metavar="DIR", help="weights from an `archbench train` folder for VARIANT")
    p.add_argument(
        "--tokenizer", metavar="PATH", help="tokenizer.json (default: bytes, or the folder's tokenizer.json)"
    )
    p.add_argument("--limit", type=_limit, help="documents per task (a fraction if < 1), as in lm-eval")
    p.add_argument("--num-fewshot", type=nonnegative_int, help="few-shot examples, as in lm-eval")
    p.add_argument(
        "--batch-size",
        type=at_most(2**16, "requests per forward pass"),
        default=8,
        help="requests per forward pass (default 8)",
    )
    p.add_argument("--device", default=None, help="torch device (default cpu)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument(
        "--overflow",
        default="fail",
        choices=["fail", "truncate"],
        help="requests longer than learned positions: score as failure (default) or keep the last tokens",
    )
    p.add_argument("--include-path", action="append", default=[], metavar="DIR", help="extra lm-eval task folder")
    p.add_argument("--metadata", metavar="JSON", help="task metadata, e.g. '{\"context_length\": 512}'")
    p.add_argument("--gen-kwargs", metavar="K=V,...", help="generation overrides, as in lm-eval")
    p.add_argument(
        "--bootstrap-iters",
        type=at_most(10**6, "resamples for a stderr", base=nonnegative_int),
        default=1000,
        help="bootstrap resamples for stderr (default 1000)",
    )
    p.add_argument("--seed", type=nonnegative_int, default=0, help="init seed of an untrained variant (default 0)")
    p.add_argument("--output", metavar="FILE.json", help="write lm-eval's results as JSON")
    _registry_arg(p)
    p.set_defaults(func=_cmd_eval)


def _cmd_eval(args) -> int:
    from suite.quality.evaluate import list_tasks, print_eval, run_eval

    if args.list_tasks:
        list_tasks()
        return 0
    if not args.target:
        raise ConfigError("`archbench eval` needs a variant name or a checkpoint folder (see `archbench list`).")
    metadata = _metadata(args.metadata)
    if args.output:  # before the evaluation, not after it: a bad --output must not cost the run
        from pathlib import Path

        from suite.safeio import InputError, writable_dir

        if Path(args.output).is_dir():
            raise InputError(f"--output {args.output} is a folder; give a file name such as results.json.")
        writable_dir(Path(args.output).parent, "folder of --output")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise ConfigError(f"--tasks names no task (got {args.tasks!r}); e.g. --tasks archbench_bpb,archbench_copy.")
    results = run_eval(
        args.target,
        tasks,
        scale=args.scale,
        checkpoint=args.checkpoint,
        tokenizer=args.tokenizer,
        limit=args.limit,
        num_fewshot=args.num_fewshot,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        overflow=args.overflow,
        include_path=args.include_path,
        metadata=metadata,
        bootstrap_iters=args.bootstrap_iters,
        gen_kwargs=args.gen_kwargs,
        registry=args.registry,
        seed=args.seed,
    )
    print_eval(results, args.output)
    bad = _non_finite_metrics(results)
    if bad:  # a NaN bits-per-byte or accuracy is no result (a diverged checkpoint): never exit 0 with it
        print(f"archbench: error: non-finite results: {', '.join(bad)}", file=sys.stderr)
        return 1
    nonfinite = (results.get("config") or {}).get("archbench_nonfinite_logits") or 0
    if nonfinite:  # NaN logits still give an argmax, so an accuracy can look finite: the scores mean nothing
        print(
            f"archbench: error: the model produced non-finite logits in {nonfinite} forward pass(es) "
            "(diverged or damaged weights); its scores are meaningless.",
            file=sys.stderr,
        )
        return 1
    return 0


def _metadata(text: str | None) -> dict | None:
    """--metadata: a JSON object; NaN/Infinity refused (strict JSON, like every file archbench reads)."""
    if not text:
        return None

    def constant(name):
        raise ValueError(f"{name} is not valid JSON (use null)")

    try:
        value = json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--metadata is not valid JSON: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"--metadata is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"--metadata must be a JSON object such as '{{\"context_length\": 512}}', got {text!r}.")
    return value


def _non_finite_metrics(results) -> list[str]:
    bad = []
    for task, metrics in (results or {}).get("results", {}).items():
        for name, value in (metrics or {}).items():
            if isinstance(value, float) and not math.isfinite(value) and "stderr" not in name:
                bad.append(f"{task} {name} = {value}")
    return bad
