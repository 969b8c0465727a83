"""Length extrapolation: score a proxy trained at context L on held-out text and passkeys at multiples of L.

- Bits per byte (`window_bpb`): fixed end points in the held-out corpus (its documents joined by EOS,
  the same bytes for every length); the window for length n is the n bytes before an end point, and
  only the last L next-byte predictions are scored. Every length therefore scores the same bytes,
  and for n >= 2L every scored prediction sits at a position the model never trained on: a flat
  curve means the model still predicts well there, whatever extra context it may or may not use.
- Passkey (`passkey_scores`): `taskdata.passkey_example` documents of exactly n bytes; the five digits
  are scored teacher-forced, which equals greedy decoding (the first wrong argmax is where greedy
  decoding would leave the key). Accuracy: all five right; digit accuracy (chance 0.1) alongside.
- Evaluation-time RoPE scaling (`eval_config`, `evaluated_model`): the trained config with only the
  RoPE schedule changed, e.g. YaRN with factor n / L and original context L; the trained weights are
  loaded into it (the RoPE tables are buffers rebuilt from the config, not parameters).
"""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F

from suite.config import ModelConfig
from suite.quality.taskdata import EOS, load_corpus, passkey_example

SCALINGS = ("none", "yarn", "linear")  # evaluation-time RoPE schedules (factor = eval length / L)


def past_table_reason(cfg: ModelConfig, length: int) -> str:
    """Why `length` cannot be evaluated ('' when it can): learned positions end at their table."""
    if cfg.position == "learned" and length > cfg.context_length:
        return (
            f"{length} tokens need more than the {cfg.context_length} learned positions (context_length): "
            "a learned-position model has no embedding for the positions past its table"
        )
    return ""


def eval_config(cfg: ModelConfig, scaling: str, length: int, train_context: int) -> ModelConfig:
    """`cfg` with an evaluation-time RoPE schedule for `length` tokens (the trained config for 'none'
    or at length <= L, where a factor of 1 changes nothing)."""
    if scaling not in SCALINGS:
        raise ValueError(f"unknown eval_rope_scaling '{scaling}'; choose from: {', '.join(SCALINGS)}")
    if scaling == "none" or length <= train_context:
        return cfg
    if cfg.position != "rope":
        raise ValueError(f"{cfg.name}: eval_rope_scaling '{scaling}' needs position 'rope', not '{cfg.position}'")
    factor = length / train_context
    if scaling == "linear":
        return cfg.replace(rope_scaling="linear", rope_factor=factor)
    return cfg.replace(rope_scaling="yarn", rope_factor=factor, rope_original_context=train_context)


def evaluated_model(model: torch.nn.Module, cfg: ModelConfig) -> torch.nn.Module:
    """A model of `cfg` holding `model`'s weights (strict: the configs may differ only in buffers)."""
    from suite.model import build_model

    if cfg == model.cfg:
        return model
    out = build_model(cfg, seed=0)
    out.load_state_dict(model.state_dict(), strict=True)
    return out.eval()


# ------------------------------------------------------------- bits per byte
def heldout_stream(corpus: str | None = None) -> bytes:
    return EOS.join(doc.encode() for doc in load_corpus(corpus).heldout)


def window_ends(stream_len: int, longest: int, n_windows: int, seed: int = 0) -> list[int]:
    """`n_windows` distinct end points, each with `longest` bytes before it (same points for every length)."""
    low, high = longest, stream_len - 1  # an end point is the index of the last predicted byte
    if high - low < n_windows:
        raise ValueError(f"the held-out text ({stream_len} bytes) is too short for {n_windows} windows of {longest}")
    return sorted(random.Random(f"extrapolation-bpb-{seed}").sample(range(low, high), n_windows))


@torch.no_grad()
def window_bpb(
    model: torch.nn.Module, stream: bytes, ends: list[int], length: int, scored: int, batch: int = 8
) -> float:
    """Mean next-byte loss in bits over the last `scored` predictions of `length`-byte windows."""
    model.eval()
    data = torch.frombuffer(bytearray(stream), dtype=torch.uint8).long()
    total, count = 0.0, 0
    for i in range(0, len(ends), batch):
        rows = torch.stack([data[e - length : e + 1] for e in ends[i : i + batch]])  # (b, length + 1)
        logits = model(rows[:, :-1])[:, -scored:]
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), rows[:, -scored:].reshape(-1), reduction="sum"
        )
        total, count = total + float(loss), count + logits.shape[0] * logits.shape[1]
    return total / count / math.log(2)


# ------------------------------------------------------------------ passkey
def passkey_docs(length: int, n_docs: int, seed: int = 0) -> list[tuple[str, str]]:
    """(context, key) pairs whose context + key + '.' is `length` bytes; seeded apart from training."""
    rng = random.Random(f"extrapolation-passkey-{length}-{seed}")
    return [passkey_example(rng, length)[:2] for _ in range(n_docs)]


@torch.no_grad()
def passkey_scores(model: torch.nn.Module, docs: list[tuple[str, str]], batch: int = 8) -> tuple[float, float]:
    """(share of keys with every digit the argmax, share of digits right) under teacher forcing."""
    model.eval()
    exact = digits = n_digits = 0
    for i in range(0, len(docs), batch):
        chunk = docs[i : i + batch]
        rows = torch.tensor([list((c + k).encode()) for c, k in chunk])  # one length per call: no padding
        width = len(chunk[0][1])
        pred = model(rows[:, :-1])[:, -width:].argmax(-1)
        right = pred == rows[:, -width:]
        exact += int(right.all(dim=1).sum())
        digits += int(right.sum())
        n_digits += right.numel()
    return exact / len(docs), digits / n_digits
