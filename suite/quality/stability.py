"""Training stability at small scale (Wortsman et al. 2023, "Small-scale proxies for large-scale
Transformer training instabilities", arXiv:2309.14322): train one proxy at a sweep of learning rates
with one recipe and record, per rate, what goes wrong at the high end.

Per run (one learning rate, one seed):
- final loss: the mean next-byte cross-entropy of the last `tail` steps (nats; the z-loss term, when
  the variant has one, is trained on but not counted, so variants compare on the same quantity);
- diverged: a non-finite loss (training stops there) or a final loss above `diverge_factor` x the
  first step's loss;
- loss spikes: steps whose loss exceeds `spike_factor` x the median of the previous `spike_window`
  steps; gradient-norm spikes: the same rule on the pre-clipping gradient norm;
- max attention logit: max |q.k| x softmax scale over every attention layer, head, allowed
  (query, key) pair and step, before any soft-cap: the quantity whose growth Wortsman et al. show
  QK-layernorm removes (NaN for a model with no layer in `suite.model.attention`'s kernel, e.g.
  all mixers or DSA); max output logit: max |logit| of the model's output over training.

Summaries over a sweep (`lr_sensitivity`, `stable_lr_range`) are defined beside their functions.
Data: windows of the embedded corpus's training part (`MixtureSampler` with no synthetic part), seeded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from suite.config import ModelConfig
from suite.model import attention as attention_module
from suite.quality.taskdata import load_corpus
from suite.quality.training import MixtureSampler, lr_at, param_groups, z_loss_term


@dataclass(frozen=True)
class StabilitySettings:
    """One recipe for every variant and rate (training.py's AdamW recipe on a fixed token budget)."""

    steps: int = 300
    batch_size: int = 8
    seq_len: int = 128
    warmup_frac: float = 0.05
    min_lr_frac: float = 0.1
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    tail: int = 20  # final loss: mean of the last `tail` steps
    spike_window: int = 20
    spike_factor: float = 1.5
    diverge_factor: float = 2.0
    corpus: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(d["betas"])
        return d


# ------------------------------------------------------- attention logits
@torch.no_grad()
def max_abs_logit(q: torch.Tensor, k: torch.Tensor, scale: float, allowed: torch.Tensor) -> float:
    """max |q.k| * scale over the (query, key) pairs `allowed` ((T, S) bool); q (B, H, T, D), k (B, Hkv, S, D)."""
    k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
    scores = (q.float() @ k.float().transpose(-1, -2)).abs() * scale
    return float(scores.masked_fill(~allowed, 0.0).amax())


@contextlib.contextmanager
def attention_logit_recorder() -> Iterator[list[float]]:
    """Within the block, every call of the attention kernel in `suite.model.attention` appends its
    max |q.k| * scale to the yielded list. The kernel is wrapped, not the modules re-run, so the
    logits are those of the q and k the layer really used (after QK-norm and RoPE)."""
    seen: list[float] = []
    original = attention_module.attend

    def recording(module, q, k, v, q_start, k_start):
        allowed = attention_module.allowed_mask(q_start, q.shape[-2], k_start, k.shape[-2], module.window, q.device)
        seen.append(max_abs_logit(q, k, module.cfg.softmax_scale, allowed))
        return original(module, q, k, v, q_start, k_start)

    attention_module.attend = recording
    try:
        yield seen
    finally:
        attention_module.attend = original


# -------------------------------------------------------------- one run
def count_spikes(values: list[float], window: int = 20, factor: float = 1.5) -> int:
    """Steps whose value exceeds `factor` x the median of the previous `window` (full windows only)."""
    return sum(1 for i in range(window, len(values)) if values[i] > factor * statistics.median(values[i - window : i]))


def train_at_lr(cfg: ModelConfig, s: StabilitySettings, lr: float, seed: int) -> dict[str, Any]:
    """Train a fresh proxy at peak rate `lr`; never raises on divergence: it is part of the record."""
    from suite.model import build_model

    cfg = cfg.replace(dropout=0.0) if cfg.dropout else cfg
    seq_len = min(s.seq_len, cfg.context_length)
    torch.manual_seed(seed)
    model = build_model(cfg, seed=seed)
    model.train()
    opt = torch.optim.AdamW(param_groups(model, s.weight_decay, cfg), lr=lr, betas=tuple(s.betas), eps=1e-8)
    sampler = MixtureSampler(load_corpus(s.corpus).train, seq_len, 0.0, seed=seed)
    losses, grad_norms, out_max = [], [], 0.0
    attn_max: float | None = None  # stays None for a model without softmax attention (all mixers)
    start = time.perf_counter()
    with attention_logit_recorder() as attn_logits:
        for step in range(s.steps):
            for group in opt.param_groups:
                group["lr"] = lr_at(step, s.steps, lr, s.warmup_frac, s.min_lr_frac)
            tokens, _ = sampler.batch(s.batch_size)
            logits = model(tokens[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tokens[:, 1:].reshape(-1))
            losses.append(float(loss.detach()))
            peak = float(logits.detach().abs().amax())
            out_max = max(out_max, peak if math.isfinite(peak) else math.inf)
            if attn_logits:
                attn_max = max(attn_max or 0.0, *(x if math.isfinite(x) else math.inf for x in attn_logits))
            attn_logits.clear()
            # a non-finite loss poisons every later update: the rest of the budget cannot bring it back
            if not math.isfinite(losses[-1]):
                break
            opt.zero_grad(set_to_none=True)
            (loss + z_loss_term(logits, cfg.z_loss) if cfg.z_loss else loss).backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip or math.inf)
            grad_norms.append(float(norm))
            opt.step()
    return summarise_run(losses, grad_norms, attn_max, out_max, s, lr, seed, time.perf_counter() - start)


def summarise_run(
    losses: list[float],
    grad_norms: list[float],
    attn_max: float | None,
    out_max: float,
    s: StabilitySettings,
    lr: float,
    seed: int,
    seconds: float,
) -> dict[str, Any]:
    initial = losses[0] if losses else math.nan
    tail = losses[-s.tail :]
    final = sum(tail) / len(tail) if tail else math.nan
    non_finite = next((i for i, x in enumerate(losses) if not math.isfinite(x)), None)
    if non_finite is not None:
        final, why = math.nan, f"non-finite loss ({losses[non_finite]}) at step {non_finite + 1} of {s.steps}"
    elif final > s.diverge_factor * initial:
        why = f"final loss {final:.3f} > {s.diverge_factor:g} x the initial {initial:.3f}"
    else:
        why = ""
    return dict(
        lr=lr,
        seed=seed,
        initial_loss=initial,
        final_loss=final,
        diverged=bool(why),
        divergence=why,
        steps_run=len(losses),
        loss_spikes=count_spikes([x for x in losses if math.isfinite(x)], s.spike_window, s.spike_factor),
        grad_norm_spikes=count_spikes(grad_norms, s.spike_window, s.spike_factor),
        max_grad_norm=max(grad_norms, default=math.nan),
        max_attention_logit=math.nan if attn_max is None else attn_max,
        max_output_logit=out_max if math.isfinite(out_max) else math.inf,
        seconds=round(seconds, 2),
    )


# --------------------------------------------------------------- summaries
def lr_sensitivity(final_losses: list[float], initial_loss: float) -> float:
    """Wortsman et al. 2023's learning-rate sensitivity: the mean over the sweep of
    min(final loss, initial loss) minus the best final loss. A diverged (non-finite) run counts as the
    initial loss, so one bad rate costs at most (initial - best) / n. 0: every rate reached the best."""
    capped = [min(x, initial_loss) if math.isfinite(x) else initial_loss for x in final_losses]
    return sum(capped) / len(capped) - min(capped)


def stable_lr_range(lrs: list[float], diverged: list[bool]) -> float:
    """Decades spanned by the widest run of consecutive (sorted) rates that did not diverge:
    log10(highest / lowest) of that run; 0 for a single stable rate or none."""
    order = sorted(range(len(lrs)), key=lambda i: lrs[i])
    best, first = 0.0, None
    for i in order:
        if diverged[i]:
            first = None
            continue
        first = lrs[i] if first is None else first
        best = max(best, math.log10(lrs[i] / first))
    return best


def sweep(cfg: ModelConfig, s: StabilitySettings, lrs: list[float], seed: int) -> dict[str, Any]:
    """Every rate with one seed, and the seed's two summaries."""
    runs = [train_at_lr(cfg, s, lr, seed) for lr in lrs]
    initial = statistics.median(r["initial_loss"] for r in runs)  # the same init and first batch at every rate
    return dict(
        seed=seed,
        runs=runs,
        initial_loss=initial,
        lr_sensitivity=lr_sensitivity([r["final_loss"] for r in runs], initial),
        stable_lr_range=stable_lr_range([r["lr"] for r in runs], [r["diverged"] for r in runs]),
    )
