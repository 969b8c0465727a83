"""The `extrapolation` probe: train the proxy at context L, then score it at L, 2L, 4L, 8L.

Training is the quality recipe (`suite.quality.training`, cached by content hash) with `seq_len` L
(setting `train_context`, default 128). Evaluation (`suite.quality.extrapolation`):
- `extrapolation_bpb`: held-out bits per byte over the last L bytes of windows of n = factor x L
  bytes (the same scored bytes at every length; from 2L on, every scored position is past training);
- `extrapolation_passkey_accuracy`: passkey documents of n bytes, all five digits right (teacher
  forced = greedy); `digit_accuracy` (chance 0.1) in extra.
RoPE models are also scored with each `eval_rope_scaling` other than none (YaRN: factor n / L,
original context L), applied at evaluation only. One row per (metric, length factor, scaling):
the mean over seeds with the per-seed values and a 95% Student-t interval in `extra`. A
learned-position model asked for more positions than its table has gets an error row with the
reason, not a crash; a diverged seed makes its rows errors with the divergence.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

from suite.config import ModelConfig
from suite.probes import Row, probe
from suite.probes.quality import mean_ci
from suite.threads import pinned_threads

DEFAULTS: dict[str, Any] = dict(
    train_context=128,
    tokens=400_000,
    seeds=[0],
    lr=3e-3,
    batch_size=8,
    synthetic_fraction=0.5,
    length_factors=[1, 2, 4, 8],
    eval_rope_scaling=["none", "yarn"],
    bpb_windows=32,
    passkey_docs=32,
    corpus=None,
    cache=None,
    threads=1,
)
METRICS = ("extrapolation_bpb", "extrapolation_passkey_accuracy")


def resolve_settings(settings: dict[str, Any]) -> dict[str, Any]:
    s = {**DEFAULTS, **{k: v for k, v in settings.items() if k != "match_params"}}
    unknown = set(s) - set(DEFAULTS)
    if unknown:
        raise ValueError(
            f"unknown extrapolation setting(s): {', '.join(sorted(unknown))}; known: {', '.join(DEFAULTS)}"
        )
    if isinstance(s["eval_rope_scaling"], str):
        s["eval_rope_scaling"] = [s["eval_rope_scaling"]]
    if not s["length_factors"] or any(int(f) < 1 for f in s["length_factors"]):
        raise ValueError(f"length_factors are whole multiples >= 1 of train_context, got {s['length_factors']!r}")
    return s


@probe("extrapolation", family="extrapolation", isolate=True)
def extrapolation(cfg: ModelConfig, settings: dict[str, Any]) -> list[Row]:
    """Train at context L (cached), then held-out bits/byte and passkey accuracy at L, 2L, 4L, 8L."""
    from suite.quality.extrapolation import SCALINGS
    from suite.quality.taskdata import passkey_min_length

    s = resolve_settings(settings)
    L = int(s["train_context"])
    if L < passkey_min_length():
        raise ValueError(f"train_context {L} is shorter than a passkey document ({passkey_min_length()} bytes)")
    if cfg.position == "learned" and L > cfg.context_length:
        raise ValueError(f"train_context {L} is longer than the proxy's {cfg.context_length} learned positions")
    bad = [x for x in s["eval_rope_scaling"] if x not in SCALINGS]
    if bad:
        raise ValueError(f"unknown eval_rope_scaling {bad}; choose from: {', '.join(SCALINGS)}")
    with pinned_threads(s["threads"], unset="keep"):
        return _extrapolation(cfg, s, L)


def _extrapolation(cfg: ModelConfig, s: dict[str, Any], L: int) -> list[Row]:
    from suite.quality.extrapolation import heldout_stream, window_ends
    from suite.quality.taskdata import cache_dir
    from suite.quality.training import TrainSettings, train_cached

    base = TrainSettings(
        tokens=int(s["tokens"]),
        seq_len=L,
        batch_size=int(s["batch_size"]),
        lr=float(s["lr"]),
        synthetic_fraction=float(s["synthetic_fraction"]),
        corpus=s["corpus"],
    )
    cache = s["cache"] or cache_dir() / "checkpoints"
    factors = [int(f) for f in s["length_factors"]]
    scalings = [x for x in s["eval_rope_scaling"] if x == "none" or cfg.position == "rope"]
    stream = heldout_stream(s["corpus"])
    ends = window_ends(len(stream), max(factors) * L, int(s["bpb_windows"]))
    values: dict[tuple[str, int, str], list[float]] = {}
    digit_acc: dict[tuple[int, str], list[float]] = {}
    train_meta, eval_seconds = [], []
    for seed in s["seeds"]:
        run = train_cached(cfg, dataclasses.replace(base, seed=int(seed)), cache)
        train_meta.append(run.meta)
        start = time.perf_counter()
        diverged = bool(run.meta.get("diverged")) or not math.isfinite(float(run.meta.get("val_loss", math.nan)))
        for (metric, factor, scaling), value in _score_seed(run.model, s, L, factors, scalings, stream, ends).items():
            if metric == "digit_accuracy":
                digit_acc.setdefault((factor, scaling), []).append(value)
            else:
                values.setdefault((metric, factor, scaling), []).append(math.nan if diverged else value)
        eval_seconds.append(round(time.perf_counter() - start, 2))
    common = dict(
        seeds=list(s["seeds"]),
        train_context=L,
        lr=float(s["lr"]),
        tokens_seen=train_meta[0]["tokens_seen"],
        non_embedding_active=train_meta[0]["active_excl_embedding"],
        d_model=cfg.d_model,
        n_layers=cfg.n_layers,
        corpus_sha256=train_meta[0]["corpus_sha256"],
        val_loss=[m["val_loss"] for m in train_meta],
        train_seconds=[m["seconds"] for m in train_meta],
        cached=[m.get("cached", False) for m in train_meta],
        eval_seconds=eval_seconds,
        bpb_scored="the last train_context predictions of each window (the same bytes at every length)",
        bpb_windows=int(s["bpb_windows"]),
        passkey_docs=int(s["passkey_docs"]),
    )
    if len(scalings) < len(s["eval_rope_scaling"]):
        common["eval_rope_scaling_skipped"] = f"position '{cfg.position}' has no RoPE to rescale"
    return [
        _row(cfg, metric, factor, scaling, L, values[(metric, factor, scaling)], digit_acc, common, train_meta)
        for metric in METRICS
        for scaling in scalings
        for factor in factors
    ]


def _score_seed(model, s, L, factors, scalings, stream, ends) -> dict[tuple[str, int, str], float]:
    """{(metric, factor, scaling): value} for one trained model; NaN where the length cannot run."""
    from suite.quality.extrapolation import (
        eval_config,
        evaluated_model,
        passkey_docs,
        passkey_scores,
        past_table_reason,
        window_bpb,
    )

    out = {}
    for scaling in scalings:
        for factor in factors:
            n = factor * L
            if past_table_reason(model.cfg, n):
                for metric in (*METRICS, "digit_accuracy"):
                    out[(metric, factor, scaling)] = math.nan
                continue
            m = evaluated_model(model, eval_config(model.cfg, scaling, n, L))
            out[("extrapolation_bpb", factor, scaling)] = window_bpb(m, stream, ends, n, L)
            exact, digits = passkey_scores(m, passkey_docs(n, int(s["passkey_docs"])))
            out[("extrapolation_passkey_accuracy", factor, scaling)] = exact
            out[("digit_accuracy", factor, scaling)] = digits
    return out


def _row(cfg, metric, factor, scaling, L, vals, digit_acc, common, train_meta) -> Row:
    stats = mean_ci(vals)
    extra = dict(
        common,
        values=vals,
        ci_low=stats["ci_low"],
        ci_high=stats["ci_high"],
        n_seeds=stats["n"],
        eval_length=factor * L,
    )
    if metric == "extrapolation_passkey_accuracy":
        extra["digit_accuracy"] = digit_acc.get((factor, scaling), [])
    settings = dict(length_factor=factor, eval_rope_scaling=scaling, train_context=L)
    finite = math.isfinite(stats["mean"])
    error = ""
    if not finite:
        from suite.quality.extrapolation import past_table_reason

        past_table = past_table_reason(cfg, factor * L)
        error = past_table or (
            f"{metric} is not a finite number over the seeds ({vals}; validation loss "
            f"{[m['val_loss'] for m in train_meta]}): a seed's training diverged"
        )
        if past_table:
            extra["failure_reason"] = error
    return Row(
        metric=metric,
        value=stats["mean"] if finite else None,
        settings=settings,
        extra=extra,
        status="ok" if finite else "error",
        error=error,
    )
