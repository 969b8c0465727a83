"""The recall protocol (Zoology, Arora et al. 2023, arXiv:2312.04927): models trained on multi-query
associative recall (MQAR) itself, then scored on held-out instances, including more key-value pairs
and longer sequences than they were trained on.

An MQAR instance is a token sequence (no tokenizer: token ids straight into the proxy's vocabulary):
    k1 v1 k2 v2 ... kN vN | q v(q) . . q' v(q') . . .
N keys bound to N values, 2N distinct ids of one vocabulary (1 .. V-1), so an id is a key in one
instance and a value in another; after the pairs, N queries (every key once, in random order) are
placed at random even offsets of the rest of the sequence, each followed by its value; the other
positions hold 0. Only the value after a query is a target: accuracy is the share of queries whose
value is the argmax, so chance is 1/(V-1). The key-query distance ranges from 1 to the sequence
length, so a sliding window shorter than most distances cannot recall, as in Zoology's analysis.

Unlike Zoology's generator, keys and values share the vocabulary instead of taking its two halves:
with disjoint halves a value is recognisable by its id alone, and the attention proxies settled on
answering some value of the context (accuracy about 1/N, about 0.5 at N = 4 since the values
already answered are visible) in 10 of 12 runs of 1,000-3,000 steps (the other two left it after
2,200 and 2,900); with one vocabulary the lookup appeared after 400-700 steps (README: the recall
protocol).

Training and held-out instances come from disjoint seed streams (`TRAIN_STREAM`, `EVAL_STREAM`) of
one `torch.Generator`, and a test checks that no held-out instance equals a training one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from suite.config import ModelConfig
from suite.quality.training import param_groups

TRAIN_STREAM, EVAL_STREAM = 1_000_003, 2_000_003  # seed offsets: training and held-out never share a generator
IGNORE = -100


@dataclass(frozen=True)
class RecallSettings:
    """One training recipe for every variant (Zoology's: AdamW, warm-up then cosine, no dropout)."""

    train: tuple[tuple[int, int], ...] = ((64, 4), (128, 8), (128, 16))  # (sequence length, pairs) mixed evenly
    # A curriculum: the first `first_frac` of the steps draw from `train_first` instead (e.g. few pairs
    # per sequence, which the recurrent mixers learn from; attention learns fastest from dense ones).
    train_first: tuple[tuple[int, int], ...] = ()
    first_frac: float = 0.0
    steps: int = 800
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.1
    warmup_frac: float = 0.1
    eval: tuple[tuple[int, int], ...] = ((64, 4), (128, 8), (128, 16), (128, 32), (256, 16), (256, 32), (256, 64))
    eval_instances: int = 256
    # Train to a criterion: stop once the training queries' accuracy, averaged over the last
    # `stop_window` steps, reaches `stop_accuracy` (None: always `steps`). Variants that learn the
    # lookup early stop early; the others train the whole budget, so every one gets its chance.
    stop_accuracy: float | None = None
    stop_window: int = 100
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: [list(x) for x in v] if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def mqar_batch(
    gen: torch.Generator, batch: int, seq_len: int, n_pairs: int, vocab: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets), both (batch, seq_len); targets are IGNORE except at each query's value."""
    if 2 * n_pairs > vocab - 1:
        raise ValueError(
            f"{n_pairs} pairs need {2 * n_pairs} distinct key and value ids: the vocabulary ({vocab}) has {vocab - 1}"
        )
    if 4 * n_pairs > seq_len:
        raise ValueError(f"{n_pairs} pairs and their queries need at least {4 * n_pairs} tokens, got {seq_len}")
    ids = torch.argsort(torch.rand(batch, vocab - 1, generator=gen), dim=1)[:, : 2 * n_pairs] + 1  # 0 is filler
    keys, values = ids[:, :n_pairs], ids[:, n_pairs:]
    seq = torch.zeros(batch, seq_len, dtype=torch.long)
    seq[:, 0 : 2 * n_pairs : 2], seq[:, 1 : 2 * n_pairs : 2] = keys, values
    # queries: every key once, at distinct random even offsets of the rest of the sequence
    slots = (seq_len - 2 * n_pairs) // 2
    offsets = 2 * n_pairs + 2 * torch.argsort(torch.rand(batch, slots, generator=gen), dim=1)[:, :n_pairs]
    order = torch.argsort(torch.rand(batch, n_pairs, generator=gen), dim=1)
    rows = torch.arange(batch).unsqueeze(1)
    seq[rows, offsets] = keys.gather(1, order)
    seq[rows, offsets + 1] = values.gather(1, order)
    inputs, targets = seq[:, :-1], torch.full((batch, seq_len - 1), IGNORE, dtype=torch.long)
    targets[rows, offsets] = values.gather(1, order)  # predict the value at the query's position
    return inputs, targets


def _lr(step: int, total: int, s: RecallSettings) -> float:
    warm = max(1, int(total * s.warmup_frac))
    if step < warm:
        return s.lr * (step + 1) / warm
    return s.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def train_recall(model: torch.nn.Module, cfg: ModelConfig, s: RecallSettings, seed: int) -> list[float]:
    """Train `model` in place on the MQAR mixture; returns the loss per step (its length is the steps
    run: a non-finite loss or the stopping criterion, `RecallSettings.stop_accuracy`, ends it early)."""
    gen = torch.Generator().manual_seed(TRAIN_STREAM + seed)
    # fused: the same update in one kernel per step instead of one per tensor (a recall step 6% faster on a CPU core)
    opt = torch.optim.AdamW(param_groups(model, s.weight_decay, cfg), lr=s.lr, betas=(0.9, 0.95), fused=True)
    model.train()
    losses: list[float] = []
    accuracies: list[float] = []  # per step, kept only when there is a stopping criterion
    for step in range(s.steps):
        mix = s.train_first if s.train_first and step < s.first_frac * s.steps else s.train
        seq_len, pairs = mix[step % len(mix)]
        inputs, targets = mqar_batch(gen, s.batch_size, min(seq_len, cfg.context_length), pairs, cfg.vocab_size)
        for group in opt.param_groups:
            group["lr"] = _lr(step, s.steps, s)
        logits, answers = target_logits(model, inputs, targets)
        loss = F.cross_entropy(logits, answers)
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):
            break
        if s.stop_accuracy is not None:
            accuracies.append(float((logits.detach().argmax(-1) == answers).float().mean()))
            recent = accuracies[-s.stop_window :]
            if len(recent) == s.stop_window and sum(recent) / s.stop_window >= s.stop_accuracy:
                break
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return losses


def target_logits(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor):
    """(logits, answers) at the target positions only: the same loss and accuracy as over the whole
    sequence with IGNORE elsewhere, without the output head and softmax on the other ~7/8 of positions
    (one training step 5-6% faster at 64 tokens). A model without `hidden_only` runs whole."""
    mask = targets != IGNORE
    if hasattr(model, "logits"):
        return model.logits(model(inputs, hidden_only=True)[mask]), targets[mask]
    return model(inputs)[mask], targets[mask]


@torch.no_grad()
def recall_accuracy(
    model: torch.nn.Module, cfg: ModelConfig, seq_len: int, n_pairs: int, instances: int, seed: int = 0
) -> float:
    """Share of held-out queries answered exactly (argmax over the whole vocabulary)."""
    model.eval()
    gen = torch.Generator().manual_seed(EVAL_STREAM + 7919 * seq_len + n_pairs + 104_729 * seed)
    correct = total = 0
    for start in range(0, instances, 64):
        inputs, targets = mqar_batch(gen, min(64, instances - start), seq_len, n_pairs, cfg.vocab_size)
        logits, answers = target_logits(model, inputs, targets)
        correct += int((logits.argmax(-1) == answers).sum())
        total += answers.numel()
    return correct / total
