"""The `quality` probe: train the proxy (cached by content hash), then score it with lm-eval.

For each seed: `suite.quality.training` trains the proxy on the fixed token budget (learning-rate sweep on
the first seed), and `suite.quality.lm_eval_adapter` runs the archbench tasks from `tasks/`: held-out bits
per byte, MQAR at several numbers of pairs, copying, passkey retrieval at 1x/2x/4x the training
context. Each metric becomes one row whose value is the mean over seeds, with the per-seed values
and a 95% Student-t confidence interval in `extra`.

Presets (`settings.preset`; any key below can also be set on its own):
- quick (default): 400k tokens (195 steps of 8 x 256 bytes), one seed, lr 3e-3, 32 documents per
  task. Measured on the 2-core machine: 7-28 s of training and 2-6 s of evaluation per tiny proxy
  (one thread each), 134 s for the seven proxies of the quick suite run by `archbench run`. Only
  bits per byte means something at this budget: the recall tasks stay at chance.
- standard: 12M tokens (5,860 steps), seeds 0/1/2, lr swept over 1e-3/3e-3/1e-2 on seed 0 (five
  runs per variant), 200 documents per task. Tiny proxies learn MQAR and passkey retrieval only
  after a sudden transition (measured around step 4,000-4,500 for a RoPE proxy at lr 3e-3), so
  smaller budgets say little about recall, and at 12M tokens whether a seed has crossed it is
  still a coin toss. 5-10 minutes per run of a 2-layer tiny proxy on a 2-core CPU.

Trained checkpoints are cached under `settings.cache` (default `$ARCHBENCH_CACHE/checkpoints`),
keyed by the architecture, the training recipe and the corpus hash, so changing evaluation
settings never retrains. `suite.analysis.fairness` enforces the fairness rule where results are compared.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import time
from typing import Any

from suite.config import ModelConfig
from suite.probes import Row, probe
from suite.threads import pinned_threads

PRESETS: dict[str, dict[str, Any]] = {
    "quick": dict(
        tokens=400_000,
        seeds=[0],
        lrs=[3e-3],
        batch_size=8,
        seq_len=None,
        limit=32,
        mqar_pairs=[4, 8, 16, 32, 48],
        passkey_factors=[1, 2, 4],
        synthetic_fraction=0.5,
        corpus=None,
        threads=1,
    ),
    "standard": dict(
        tokens=12_000_000,
        seeds=[0, 1, 2],
        lrs=[1e-3, 3e-3, 1e-2],
        batch_size=8,
        seq_len=None,
        limit=200,
        mqar_pairs=[4, 8, 16, 32, 48],
        passkey_factors=[1, 2, 4],
        synthetic_fraction=0.5,
        corpus=None,
        threads=1,
    ),
}
MQAR_TASKS = (4, 8, 16, 32, 48)  # the task files in tasks/ (archbench_mqar_<n>.yaml)
PASSKEY_TASKS = (1, 2, 4)  # archbench_passkey_<f>x.yaml
DISTANCE_BINS = (0, 32, 64, 128, 256)  # MQAR accuracy by bytes between key and query (extra)
# Student t, two-sided 95%, by degrees of freedom
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def resolve_settings(settings: dict[str, Any]) -> dict[str, Any]:
    preset = settings.get("preset", "quick")
    if preset not in PRESETS:
        raise ValueError(f"unknown quality preset '{preset}'; choose one of: {', '.join(PRESETS)}")
    # `match_params` is the planner's (the proxy was already sized by it): recorded, not a knob
    s = {**PRESETS[preset], **{k: v for k, v in settings.items() if k not in ("preset", "match_params")}}
    unknown = set(s) - set(PRESETS["quick"]) - {"cache", "tasks"}
    if unknown:
        raise ValueError(
            f"unknown quality setting(s): {', '.join(sorted(unknown))}; known: "
            f"preset, cache, tasks, {', '.join(PRESETS['quick'])}"
        )
    for key, allowed in (("mqar_pairs", MQAR_TASKS), ("passkey_factors", PASSKEY_TASKS)):
        bad = [v for v in s[key] if v not in allowed]
        if bad:
            raise ValueError(f"{key} {bad} have no task file in tasks/; available: {list(allowed)}")
    return s


def resolve_preset(settings: dict[str, Any], presets: dict[str, dict], default: str, probe: str) -> dict[str, Any]:
    """A training probe's settings: its preset (`settings.preset`) overlaid with the keys given; an
    unknown preset or key is named. `match_params` is the planner's, recorded for the row, not a knob."""
    preset = settings.get("preset", default)
    if preset not in presets:
        raise ValueError(f"unknown {probe} preset '{preset}'; choose one of: {', '.join(presets)}")
    s = {**presets[preset], **{k: v for k, v in settings.items() if k not in ("preset", "match_params")}}
    unknown = set(s) - set(presets[default])
    if unknown:
        raise ValueError(
            f"unknown {probe} setting(s): {', '.join(sorted(unknown))}; known: preset, {', '.join(presets[default])}"
        )
    return s


def mean_ci(values: list[float]) -> dict[str, Any]:
    """Mean and 95% Student-t interval (NaN bounds with one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return dict(mean=mean, ci_low=math.nan, ci_high=math.nan, stderr=math.nan, n=n)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = _T95.get(n - 1, 1.96) * sd / math.sqrt(n)
    return dict(mean=mean, ci_low=mean - half, ci_high=mean + half, stderr=sd / math.sqrt(n), n=n)


def task_names(s: dict[str, Any]) -> list[str]:
    names = s.get("tasks") or (
        ["archbench_bpb", "archbench_copy"]
        + [f"archbench_mqar_{n}" for n in s["mqar_pairs"]]
        + [f"archbench_passkey_{f}x" for f in s["passkey_factors"]]
    )
    return list(names)


@contextlib.contextmanager
def _quiet():
    """lm-eval logs a few warnings per task and tqdm bars per request type: keep the run log readable."""
    logger = logging.getLogger("lm_eval")
    level, old = logger.level, os.environ.get("TQDM_DISABLE")
    logger.setLevel(logging.ERROR)
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        logger.setLevel(level)
        if old is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = old


def evaluate(
    model, tasks: list[str], *, limit: int | None, context_length: int, corpus: str | None = None, batch_size: int = 16
) -> dict[str, Any]:
    """lm-eval on an in-memory proxy: {task: metrics}, plus per-sample records and adapter info."""
    import lm_eval

    from suite.quality.lm_eval_adapter import byte_lm, task_manager

    lm = byte_lm(model, batch_size=batch_size, train_context=context_length)
    metadata = {"context_length": int(context_length)}
    if corpus:
        metadata["corpus"] = str(corpus)
    with _quiet():
        manager = task_manager(tasks, metadata=metadata)  # the shipped tasks folder (the learn layer knows it)
        out = lm_eval.simple_evaluate(
            model=lm,
            tasks=tasks,
            task_manager=manager,
            limit=limit,
            bootstrap_iters=0,
            log_samples=True,
            random_seed=0,
            numpy_random_seed=0,
            torch_random_seed=0,
            fewshot_random_seed=0,
        )
    return dict(
        results=out["results"], samples=out.get("samples", {}), info=lm.get_model_info(), overflow=lm.overflow_events
    )


def _data_fingerprint(samples: list[dict]) -> str:
    return hashlib.sha256("".join(str(s.get("doc_hash", "")) for s in samples).encode()).hexdigest()[:16]


def _distance_bins(samples: list[dict]) -> dict[str, float]:
    bins: dict[str, list[float]] = {}
    edges = list(DISTANCE_BINS) + [math.inf]
    for s in samples:
        d = s["doc"]["key_distance"]
        for lo, hi in zip(edges, edges[1:]):
            if lo <= d < hi:
                bins.setdefault(f"{lo}-{hi}", []).append(float(s["acc"]))
    return {k: sum(v) / len(v) for k, v in bins.items()}


def _needle_bins(samples: list[dict], context: int) -> dict[str, float]:
    """Passkey accuracy for needles within / beyond the training context from the question (a RoPE
    model may still find a near needle in a document longer than it was trained on)."""
    bins: dict[str, list[float]] = {}
    for s in samples:
        key = "within_context" if s["doc"]["needle_distance"] <= context else "beyond_context"
        bins.setdefault(key, []).append(float(s["acc"]))
    return {k: sum(v) / len(v) for k, v in bins.items()}


# task -> (metric name, result key, unit, lower_is_better, per-row settings)
def _metric_for(task: str) -> tuple[str, str, str, bool, dict[str, Any]]:
    if task == "archbench_bpb":
        return "bits_per_byte", "bits_per_byte,none", "bits/byte", True, {}
    if task == "archbench_copy":
        return "copy_accuracy", "acc,none", "accuracy", False, {}
    if task.startswith("archbench_mqar_"):
        return "mqar_accuracy", "acc,none", "accuracy", False, {"n_pairs": int(task.rsplit("_", 1)[1])}
    if task.startswith("archbench_passkey_"):
        return "passkey_accuracy", "acc,none", "accuracy", False, {"length_factor": int(task.rsplit("_", 1)[1][:-1])}
    return task, "acc,none", "", False, {}


@probe("quality", family="quality", isolate=True, defaults={"preset": "quick"})
def quality(cfg: ModelConfig, settings: dict[str, Any]) -> list[Row]:
    """Train the proxy on a fixed token budget (cached), then held-out bits/byte, MQAR, copy, passkey via lm-eval."""
    from suite.quality.taskdata import cache_dir, passkey_min_length
    from suite.quality.training import TrainSettings

    s = resolve_settings(settings)
    base = TrainSettings(
        tokens=int(s["tokens"]),
        seq_len=s["seq_len"],
        batch_size=int(s["batch_size"]),
        synthetic_fraction=float(s["synthetic_fraction"]),
        corpus=s["corpus"],
    )
    cache = s.get("cache") or cache_dir() / "checkpoints"
    context = base.context(cfg)
    tasks = task_names(s)
    short = [
        t
        for t in tasks
        if t.startswith("archbench_passkey_") and int(t.rsplit("_", 1)[1][:-1]) * context < passkey_min_length()
    ]
    if short:
        raise ValueError(
            f"{', '.join(short)}: the training context {context} is too short for a passkey document "
            f"({passkey_min_length()} bytes); raise seq_len or leave these tasks out"
        )
    # Tiny proxies gain little from intra-op threads and lose badly when cores are shared (a train step
    # of the tiny GPT-2 proxy took 6x longer with 2 threads than with 1 on a busy 2-core machine): one
    # thread by default (the presets); run cells side by side with `archbench run --jobs` instead.
    with pinned_threads(s["threads"], unset="keep"):
        return _quality(cfg, s, base, cache, context, tasks)


def _quality(cfg, s, base, cache, context, tasks) -> list[Row]:
    from suite.quality.training import train_cached, train_sweep

    sweep = train_sweep(cfg, base, s["lrs"], s["seeds"], run=lambda c, ts: train_cached(c, ts, cache))
    per_task: dict[str, list[float]] = {t: [] for t in tasks}
    extras: dict[str, dict[str, Any]] = {t: {} for t in tasks}
    eval_seconds, overflow_total = [], 0
    for run in sweep.runs:
        start = time.perf_counter()
        out = evaluate(
            run.model,
            tasks,
            limit=s["limit"],
            context_length=context,
            corpus=s["corpus"],
            batch_size=int(s["batch_size"]),
        )
        eval_seconds.append(round(time.perf_counter() - start, 3))
        for task in tasks:
            _, key, *_ = _metric_for(task)
            per_task[task].append(float(out["results"][task][key]))
            samples = out["samples"].get(task, [])
            extras[task]["data_sha256"] = _data_fingerprint(samples)
            if task.startswith("archbench_mqar_") and samples:
                extras[task].setdefault("acc_by_key_distance", []).append(_distance_bins(samples))
            if task == "archbench_copy":
                extras[task].setdefault("char_acc", []).append(float(out["results"][task]["char_acc,none"]))
            if task.startswith("archbench_passkey_") and samples:
                extras[task].setdefault("acc_by_needle_distance", []).append(_needle_bins(samples, context))
        overflow_total += len(out["overflow"])
    first = sweep.runs[0].meta
    common = dict(
        seeds=list(s["seeds"]),
        lr=sweep.best_lr,
        lr_sweep={f"{k:g}": v for k, v in sweep.sweep.items()},
        tokens_seen=first["tokens_seen"],
        seq_len=context,
        active_excl_embedding=first["active_excl_embedding"],
        params_total=first["params_total"],
        corpus=first["corpus"],
        corpus_sha256=first["corpus_sha256"],
        train_seconds=[r.meta["seconds"] for r in sweep.runs],
        cached=[r.meta.get("cached", False) for r in sweep.runs],
        val_loss=[r.meta["val_loss"] for r in sweep.runs],
        eval_seconds=eval_seconds,
        limit=s["limit"],
    )
    rows = []
    for task in tasks:
        metric, _, unit, lower, row_settings = _metric_for(task)
        stats = mean_ci(per_task[task])
        extra = dict(
            common,
            task=task,
            values=per_task[task],
            ci_low=stats["ci_low"],
            ci_high=stats["ci_high"],
            stderr=stats["stderr"],
            n_seeds=stats["n"],
            **extras[task],
        )
        factor = row_settings.get("length_factor")
        if factor and cfg.position == "learned" and factor * context > cfg.context_length:
            extra["failure_reason"] = (
                f"a {factor}x document ({factor * context} tokens) needs more than the "
                f"{cfg.context_length} learned positions: every document scored as a failure "
                f"({overflow_total} such requests in this cell)"
            )
        # a diverged proxy scores NaN: recorded as a failed number with its reason, never an ok NaN
        finite = math.isfinite(stats["mean"])
        rows.append(
            Row(
                metric=metric,
                value=stats["mean"] if finite else None,
                unit=unit,
                lower_is_better=lower,
                settings=dict(row_settings, tokens=int(s["tokens"])),
                extra=extra,
                status="ok" if finite else "error",
                error="" if finite else _nonfinite_reason(metric, per_task[task], common["val_loss"]),
            )
        )
    return rows


def _nonfinite_reason(metric: str, values: list[float], val_loss: list[Any]) -> str:
    return (
        f"{metric} is not a finite number ({', '.join(f'{v:g}' for v in values)} over the seeds; validation "
        f"loss {', '.join(str(v) for v in val_loss)}): the proxy's training diverged or its evaluation overflowed"
    )
