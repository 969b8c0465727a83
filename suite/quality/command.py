"""`archbench train`: the learning-rate sweep and seeds of `suite.quality.training`, written to a folder.

OUT/lr<LR>-seed<S>/ holds each run's checkpoint, diverged runs included (their train.json says why),
so nothing trained is lost; OUT/summary.json names the chosen rate and the selected checkpoints, or,
when no rate trained, says so with `best_lr: null` before the command fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

from suite.config import ConfigError, ModelConfig
from suite.quality.taskdata import load_corpus
from suite.quality.training import (
    DivergedError,
    TrainResult,
    TrainSettings,
    _check_corpus_length,
    param_summary,
    save_trained,
    train,
    train_sweep,
)
from suite.safeio import atomic_write_text, dumps, writable_dir


def train_command(
    variant: str,
    *,
    out: str | Path,
    scale: str | None = "tiny",
    match_params: int | None = None,
    tokens: int = 1_000_000,
    corpus: str | None = None,
    seeds: Iterable[int] = (0,),
    lrs: Iterable[float] = (3e-3,),
    batch_size: int = 8,
    seq_len: int | None = None,
    synthetic_fraction: float = 0.5,
    registry: Iterable[str] = (),
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train `variant` (as a proxy at `scale`) for each (lr, seed); write OUT/lr<lr>-seed<seed>/ and
    OUT/summary.json. Raises `DivergedError` (after writing the summary) when no rate trains."""
    from suite.hf.resolve import resolve_any

    if match_params:  # the proxy with that many non-embedding active parameters (README: parameter matching)
        from suite.analytic.matching import match_params as matched_proxy

        scale = scale if scale and scale != "full" else "tiny"
        cfg = matched_proxy(resolve_any(variant, tuple(registry)), match_params, scale)
    else:
        cfg = resolve_any(variant, tuple(registry), scale)
    if tokens < 1:
        raise ConfigError(f"--tokens must be positive, got {tokens}", field="tokens")
    if not 0.0 <= synthetic_fraction <= 1.0:
        raise ConfigError(
            f"--synthetic-fraction must be in [0, 1], got {synthetic_fraction}", field="synthetic_fraction"
        )
    # every check that can fail comes before the first step: a bad --out or corpus costs no training
    out = writable_dir(out, "training output (--out)")
    base = TrainSettings(
        tokens=int(tokens),
        seq_len=seq_len,
        batch_size=int(batch_size),
        synthetic_fraction=float(synthetic_fraction),
        corpus=corpus,
    )
    c = load_corpus(corpus)
    _check_corpus_length(c, base.context(cfg), base)
    log(
        f"{cfg.name}: {base.steps(cfg)} steps of {base.batch_size} x {base.context(cfg)} tokens per run; "
        f"corpus {c.name} sha256 {c.sha256[:16]}"
    )

    def run(config: ModelConfig, s: TrainSettings) -> TrainResult:
        log(f"-- lr {s.lr:g} seed {s.seed}")
        result = train(config, s, log=lambda m: log("   " + m))
        folder = save_trained(result.model, out / f"lr{s.lr:g}-seed{s.seed}", result.meta)
        if result.meta.get("diverged"):
            log(f"   lr {s.lr:g} diverged ({result.meta['divergence']}): not a candidate -> {folder}")
        else:
            log(f"   val loss {result.meta['val_loss']:.4f} ({result.meta['seconds']:.1f} s) -> {folder}")
        result.meta["folder"] = str(folder)
        return result

    common = dict(tokens=int(tokens), **c.describe(), **param_summary(cfg))
    try:
        sweep = train_sweep(cfg, base, lrs, seeds, run=run)
    except DivergedError as exc:
        failed = dict(
            variant=cfg.name,
            best_lr=None,
            lr_sweep={f"{lr:g}": None for lr in exc.diverged},
            selected=[],
            diverged={f"{lr:g}": why for lr, why in exc.diverged.items()},
            error=str(exc),
            **common,
        )
        atomic_write_text(out / "summary.json", dumps(failed, indent=2) + "\n", "training summary")
        raise
    summary = dict(
        variant=cfg.name,
        best_lr=sweep.best_lr,
        lr_sweep={f"{k:g}": v for k, v in sweep.sweep.items()},
        diverged={f"{lr:g}": why for lr, why in sweep.diverged.items()},
        selected=[r.meta["folder"] for r in sweep.runs],
        **common,
    )
    atomic_write_text(out / "summary.json", dumps(summary, indent=2) + "\n", "training summary")
    for lr, why in sweep.diverged.items():
        log(f"lr {lr:g} diverged ({why}); it was not a candidate")
    log(f"best lr {sweep.best_lr:g}; checkpoints: {', '.join(summary['selected'])}")
    return summary
