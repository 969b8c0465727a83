"""Proxy training: a fixed token budget on the embedded corpus, AdamW, warm-up + cosine, safetensors.

Recipe (the same for every variant, so differences come from the architecture):
- data: a seeded mixture. With probability `synthetic_fraction` (default 0.5) a training sequence is
  packed synthetic task documents (`suite.quality.taskdata`: MQAR 50%, copy 25%, passkey 25%, separated by
  the EOS byte), otherwise a random window of the training part of the corpus. A tiny model never
  sees associative recall or passkeys in source code, so without the synthetic part the recall
  tasks would measure nothing. Loss: next-byte cross-entropy, (1 - f) x its mean over every
  position of corpus windows + f x its mean over the answers of synthetic documents (f =
  synthetic_fraction). Only answers are trained in synthetic documents: their random keys and
  values cannot be predicted, and training on them drowned the recall signal.
- optimiser: AdamW, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on matrices and embeddings
  (parameters with >= 2 dimensions), none on biases, norm gains and sinks (`param_groups`; the
  config fields `decay_norms` and `decay_embeddings` change it); gradients clipped to 1.0.
- schedule: linear warm-up from 0 over the first 5% of steps (at least one), then cosine decay to
  10% of the peak learning rate at the last step.
- budget: steps = ceil(tokens / (batch_size * seq_len)); `seq_len` (the training context) defaults
  to min(context_length, 256). Dropout is set to 0: short budgets under-fit, and a regulariser
  that some variants carry and others do not would confound the comparison.
- determinism: weights from `build_model(cfg, seed=seed)`, data from `random.Random(seed)`; no
  other randomness, so the same seed gives the same weights on the same machine and torch build.
- learning-rate sweep: every rate in `lrs` is trained with the first seed; the one with the lowest
  validation loss (a fixed, separately seeded batch set of the same mixture, never the held-out
  test text) is used for the remaining seeds.

The fairness rule that decides which proxies share a quality table is `suite.analysis.fairness`.

A checkpoint folder holds `model.safetensors`, `config.yaml` (the ModelConfig) and `train.json`
(settings, losses, corpus hash, timings); `archbench train` writes one per (lr, seed) plus
`summary.json` with the chosen rate.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F

from suite.config import IDENTITY_FIELDS, ConfigError, ModelConfig
from suite.quality.checkpoint import is_trained, load_trained, same_architecture, save_trained  # noqa: F401
from suite.quality.taskdata import EOS, load_corpus, synthetic_train_doc

TRAINING_VERSION = "2"  # bump when the recipe changes: part of every checkpoint cache key
VAL_SEQUENCES = 32


@dataclass(frozen=True)
class TrainSettings:
    tokens: int = 1_000_000  # token budget (batch_size * seq_len * steps, rounded up to whole steps)
    seq_len: int | None = None  # training context; None: min(context_length, 256)
    batch_size: int = 8
    lr: float = 3e-3  # peak learning rate
    warmup_frac: float = 0.05
    min_lr_frac: float = 0.1
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    synthetic_fraction: float = 0.5
    corpus: str | None = None  # None: the embedded default corpus
    seed: int = 0

    def context(self, cfg: ModelConfig) -> int:
        return int(self.seq_len or min(cfg.context_length, 256))

    def steps(self, cfg: ModelConfig) -> int:
        return max(1, math.ceil(self.tokens / (self.batch_size * self.context(cfg))))


def lr_at(step: int, total: int, peak: float, warmup_frac: float = 0.05, min_lr_frac: float = 0.1) -> float:
    """Learning rate for 0-based `step` of `total`: linear warm-up, then cosine to min_lr_frac * peak."""
    warmup = max(1, round(warmup_frac * total))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - 1 - warmup)
    return peak * (min_lr_frac + (1 - min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


# --------------------------------------------------------------------- data
class MixtureSampler:
    """Seeded batches of (seq_len + 1) bytes with a target kind per position: 1 for corpus text (every
    position of a corpus window), 2 for the answers of packed synthetic documents, 0 untrained."""

    TEXT, ANSWER = 1, 2

    def __init__(self, text: bytes, seq_len: int, synthetic_fraction: float, seed: int | str):
        if len(text) <= seq_len + 1 and synthetic_fraction < 1:
            raise ValueError(f"corpus of {len(text)} bytes is too short for seq_len {seq_len}")
        self.text, self.seq_len, self.fraction = text, seq_len, synthetic_fraction
        self.rng = random.Random(seed)

    def _synthetic(self, n: int) -> tuple[bytes, bytes]:
        buf, kinds = bytearray(), bytearray()
        while len(buf) < n:
            room = max(16, min(self.seq_len, n - len(buf) - 1))
            for text, supervised in synthetic_train_doc(self.rng, room) + [(EOS.decode(), False)]:
                data = text.encode()
                buf += data
                kinds += bytes([self.ANSWER if supervised else 0]) * len(data)
        return bytes(buf[:n]), bytes(kinds[:n])

    def sequence(self) -> tuple[bytes, bytes]:
        n = self.seq_len + 1
        if self.rng.random() < self.fraction:
            return self._synthetic(n)
        start = self.rng.randrange(0, len(self.text) - n)
        return self.text[start : start + n], bytes([self.TEXT]) * n

    def batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens (B, T+1) long, target kinds (B, T) uint8 of the next-token predictions)."""
        rows, kinds = zip(*(self.sequence() for _ in range(batch_size)))
        tokens = torch.frombuffer(bytearray(b"".join(rows)), dtype=torch.uint8).view(batch_size, -1).long()
        kind = torch.frombuffer(bytearray(b"".join(kinds)), dtype=torch.uint8).view(batch_size, -1)
        return tokens, kind[:, 1:]


# ---------------------------------------------------------------- training
def training_config(cfg: ModelConfig) -> ModelConfig:
    return cfg.replace(dropout=0.0) if cfg.dropout else cfg


def _norm_types() -> tuple[type, ...]:
    from suite.model.mixers.layers import GatedRMSNorm
    from suite.model.norm import RMSNorm

    return (torch.nn.LayerNorm, torch.nn.RMSNorm, RMSNorm, GatedRMSNorm)


def _params_of(model: torch.nn.Module, kinds: tuple[type, ...]) -> list[torch.nn.Parameter]:
    return [p for m in model.modules() if isinstance(m, kinds) for p in m.parameters(recurse=False)]


def param_groups(model: torch.nn.Module, weight_decay: float, cfg: ModelConfig) -> list[dict]:
    """AdamW's (decayed, not decayed) groups: the one rule of every training loop. Parameters of >= 2
    dims are decayed and 1-d ones (biases, sinks, mixer gates) are not, except norm weights and biases,
    decayed iff `cfg.decay_norms`, and embedding tables (a tied head is the token table), decayed iff
    `cfg.decay_embeddings`. The defaults (False, True) are the >= 2-dims rule itself."""
    decided = {id(p): cfg.decay_norms for p in _params_of(model, _norm_types())}
    decided.update({id(p): cfg.decay_embeddings for p in _params_of(model, (torch.nn.Embedding,))})
    trained = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trained if decided.get(id(p), p.dim() >= 2)]
    other = [p for p in trained if not decided.get(id(p), p.dim() >= 2)]
    return [dict(params=decay, weight_decay=weight_decay), dict(params=other, weight_decay=0.0)]


def z_loss_term(logits: torch.Tensor, coef: float) -> torch.Tensor:
    """coef * mean(logsumexp(logits)^2) over every position: pulls the softmax normaliser log Z to 0."""
    return coef * torch.logsumexp(logits.float(), dim=-1).pow(2).mean()


def _loss(
    model, batch: tuple[torch.Tensor, torch.Tensor], synthetic_fraction: float, z_loss: float = 0.0
) -> torch.Tensor:
    """(1 - f) * mean loss on corpus text + f * mean loss on synthetic answers (f = synthetic_fraction),
    plus the z-loss when `z_loss` > 0 (training only: validation compares cross-entropy alone).

    Weighting the two parts, rather than averaging over all trained positions, keeps the few answer
    bytes from being drowned by the many text bytes."""
    tokens, kind = batch
    logits = model(tokens[:, :-1])
    losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), reduction="none").view(
        kind.shape
    )
    total = losses.new_zeros(())
    for value, weight in ((MixtureSampler.TEXT, 1.0 - synthetic_fraction), (MixtureSampler.ANSWER, synthetic_fraction)):
        picked = kind == value
        if weight > 0 and picked.any():
            total = total + weight * losses[picked].mean()
    return total + z_loss_term(logits, z_loss) if z_loss else total


@torch.no_grad()
def validation_loss(model, cfg: ModelConfig, s: TrainSettings) -> float:
    """Mean next-byte loss (nats) on a fixed batch set of the training mixture, seeded apart from training."""
    sampler = MixtureSampler(load_corpus(s.corpus).train, s.context(cfg), s.synthetic_fraction, seed="validation")
    model.eval()
    losses = [float(_loss(model, sampler.batch(8), s.synthetic_fraction)) for _ in range(VAL_SEQUENCES // 8)]
    return sum(losses) / len(losses)


@dataclass
class TrainResult:
    model: torch.nn.Module
    meta: dict[str, Any] = field(default_factory=dict)


def train(
    cfg: ModelConfig, s: TrainSettings, *, log: Callable[[str], None] | None = None, log_every: int = 50
) -> TrainResult:
    """Train one proxy from scratch; deterministic for (cfg, settings)."""
    from suite.model import build_model

    cfg = training_config(cfg)
    seq_len, steps = s.context(cfg), s.steps(cfg)
    if cfg.position == "learned" and seq_len > cfg.context_length:
        raise ConfigError(
            f"seq_len {seq_len} is longer than the {cfg.context_length} learned positions",
            variant=cfg.name,
            field="seq_len",
        )
    corpus = load_corpus(s.corpus)
    _check_corpus_length(corpus, seq_len, s)
    torch.manual_seed(s.seed)
    model = build_model(cfg, seed=s.seed)
    model.train()
    opt = torch.optim.AdamW(param_groups(model, s.weight_decay, cfg), lr=s.lr, betas=tuple(s.betas), eps=1e-8)
    sampler = MixtureSampler(corpus.train, seq_len, s.synthetic_fraction, seed=s.seed)
    losses: list[float] = []
    diverged_at = None
    start = time.perf_counter()
    for step in range(steps):
        lr = lr_at(step, steps, s.lr, s.warmup_frac, s.min_lr_frac)
        for group in opt.param_groups:
            group["lr"] = lr
        try:
            loss = _loss(model, sampler.batch(s.batch_size), s.synthetic_fraction, cfg.z_loss)
            losses.append(loss.item())
            # diverged: the rest of the budget cannot bring it back, and an update from a NaN loss is NaN
            if not math.isfinite(losses[-1]):
                diverged_at = step + 1
                if log:
                    log(f"step {step + 1}/{steps}: loss is {losses[-1]}; the run diverged at lr {s.lr:g}")
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
        except (MemoryError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and "alloc" not in str(exc).lower():
                raise
            raise ConfigError(
                f"one training step of {s.batch_size} x {seq_len} tokens does not fit in memory; "
                "lower --batch-size or --seq-len.",
                variant=cfg.name,
                field="batch_size",
            ) from None
        if s.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        opt.step()
        if log and (step % log_every == 0 or step == steps - 1):
            log(f"step {step + 1}/{steps} lr {lr:.2e} loss {losses[-1]:.4f}")
    seconds = max(time.perf_counter() - start, 1e-9)
    val = float("nan") if diverged_at else validation_loss(model, cfg, s)
    if diverged_at is None and not math.isfinite(val):
        diverged_at = len(losses)
    model.eval()
    tail = losses[-max(1, steps // 10) :]
    run_tokens = len(losses) * s.batch_size * seq_len
    meta = dict(
        variant=cfg.name,
        training_version=TRAINING_VERSION,
        settings=_jsonable(s),
        seq_len=seq_len,
        steps=steps,
        steps_run=len(losses),
        tokens_seen=run_tokens,
        train_loss=sum(tail) / len(tail),
        val_loss=val,
        diverged=diverged_at is not None,
        diverged_at_step=diverged_at,
        divergence=divergence_reason(losses, val, steps) if diverged_at else "",
        seconds=round(seconds, 3),
        tokens_per_s=round(run_tokens / seconds),
        **corpus.describe(),
        **param_summary(cfg),
    )
    return TrainResult(model=model, meta=meta)


def divergence_reason(losses: list[float], val: float, steps: int) -> str:
    """'non-finite training loss (nan) at step 3 of 40' or 'non-finite validation loss (inf)'."""
    for i, x in enumerate(losses):
        if not math.isfinite(x):
            return f"non-finite training loss ({x}) at step {i + 1} of {steps}"
    return f"non-finite validation loss ({val})"


def _check_corpus_length(corpus, seq_len: int, s: TrainSettings) -> None:
    """A corpus window is seq_len + 1 bytes of the training part (the first 90% of a --corpus file)."""
    from suite.safeio import InputError

    need = seq_len + 2
    if s.synthetic_fraction < 1 and len(corpus.train) < need:
        raise InputError(
            f"corpus file {s.corpus} has {len(corpus.train):,} bytes of training text (its first 90%); training "
            f"windows of {seq_len} tokens need at least {need:,} bytes: give a file of at least "
            f"{math.ceil(need / 0.9):,} bytes, a shorter --seq-len or --synthetic-fraction 1.",
            file=s.corpus,
            field="corpus",
        )


def _jsonable(s: TrainSettings) -> dict[str, Any]:
    d = dataclasses.asdict(s)
    d["betas"] = list(d["betas"])
    return d


def param_summary(cfg: ModelConfig) -> dict[str, int]:
    from suite.analytic.params import count_params

    counts = count_params(cfg)
    return dict(params_total=int(counts["total"]), active_excl_embedding=int(counts["active_excl_embedding"]))


def cache_key(cfg: ModelConfig, s: TrainSettings) -> str:
    """Content hash of what determines the trained weights (architecture, recipe, data)."""
    arch = {k: v for k, v in training_config(cfg).to_dict().items() if k not in IDENTITY_FIELDS}
    blob = json.dumps(
        dict(
            arch=arch,
            settings=_jsonable(s),
            corpus=load_corpus(s.corpus).sha256,
            version=TRAINING_VERSION,
            torch=torch.__version__.split("+")[0],
        ),
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def train_cached(
    cfg: ModelConfig, s: TrainSettings, cache: str | Path, *, log: Callable[[str], None] | None = None
) -> TrainResult:
    """`train`, reusing `cache/<content hash>/` when it already holds the result."""
    folder = Path(cache) / cache_key(cfg, s)
    if is_trained(folder) and (folder / "train.json").is_file():
        model, meta = load_trained(folder)
        return TrainResult(model=model, meta={**meta["train"], "cached": True})
    result = train(cfg, s, log=log)
    tmp = folder.with_name(folder.name + f".tmp{random.randrange(1 << 30)}")
    save_trained(result.model, tmp, result.meta)
    try:
        tmp.replace(folder)
    except OSError:  # another process finished first: its files are identical
        pass
    return TrainResult(model=result.model, meta={**result.meta, "cached": False})


# --------------------------------------------------------- sweep and seeds
@dataclass
class SweepResult:
    best_lr: float
    runs: list[TrainResult]  # one per seed, at the best learning rate (first seed first)
    sweep: dict[float, float]  # lr -> validation loss (first seed; NaN where it diverged)
    diverged: dict[float, str] = field(default_factory=dict)  # lr -> why it is not a candidate


class DivergedError(RuntimeError):
    """No usable model: every learning rate of a sweep, or a seed at the chosen rate, ended in a
    non-finite loss. `diverged` maps each failed rate to why."""

    def __init__(self, message: str, diverged: dict[float, str] | None = None):
        super().__init__(message)
        self.diverged = dict(diverged or {})


def _diverged(result: TrainResult) -> str:
    """Why a run is no candidate ('' if it is one): a diverged flag or a non-finite validation loss."""
    meta = result.meta
    val = meta.get("val_loss")
    if meta.get("diverged") or not isinstance(val, (int, float)) or not math.isfinite(val):
        return meta.get("divergence") or f"non-finite validation loss ({val})"
    return ""


def train_sweep(
    cfg: ModelConfig,
    s: TrainSettings,
    lrs: Iterable[float],
    seeds: Iterable[int],
    *,
    run: Callable[[ModelConfig, TrainSettings], TrainResult] | None = None,
) -> SweepResult:
    """Sweep `lrs` on the first seed, then train the other seeds at the best rate. A diverged rate is
    never picked, wherever it is listed; `DivergedError` when no rate (or a later seed) trains."""
    run = run or (lambda c, settings: train(c, settings))
    lrs, seeds = [float(x) for x in lrs], [int(x) for x in seeds]
    if not lrs or not seeds:
        raise ValueError("train_sweep needs at least one learning rate and one seed")
    first = {lr: run(cfg, dataclasses.replace(s, lr=lr, seed=seeds[0])) for lr in lrs}
    sweep = {lr: r.meta["val_loss"] for lr, r in first.items()}
    diverged = {lr: why for lr, r in first.items() if (why := _diverged(r))}
    finite = [lr for lr in lrs if lr not in diverged]
    if not finite:
        raise DivergedError(
            f"{cfg.name}: every learning rate diverged ("
            + "; ".join(f"lr {lr:g}: {why}" for lr, why in diverged.items())
            + "); try smaller rates, e.g. --lr 1e-3 3e-4.",
            diverged,
        )
    best = min(finite, key=lambda lr: (sweep[lr], lr))
    runs = [first[best]] + [run(cfg, dataclasses.replace(s, lr=best, seed=seed)) for seed in seeds[1:]]
    for seed, r in zip(seeds, runs):
        if why := _diverged(r):  # the chosen rate trained on the first seed but not on this one
            raise DivergedError(f"{cfg.name}: seed {seed} at the chosen lr {best:g} diverged ({why}).", diverged)
    for r in runs:
        r.meta["lr_sweep"] = {f"{lr:g}": v for lr, v in sweep.items()}
        r.meta["lr_diverged"] = {f"{lr:g}": why for lr, why in diverged.items()}
    return SweepResult(best_lr=best, runs=runs, sweep=sweep, diverged=diverged)


def __getattr__(name: str):
    # `archbench train` moved to suite.quality.command; the old import path keeps working
    if name == "train_command":
        from suite.quality.command import train_command

        return train_command
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
