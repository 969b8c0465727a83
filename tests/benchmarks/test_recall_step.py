"""One recall training step (`suite.quality.recall`, the `cpu` preset's shapes: 64 sequences of 64
tokens, 8 pairs) at the recall suite's settings against the settings it ran with before, per variant.

- ours: the mixers' chunked form in 16-token chunks (the cpu presets' `mixer_chunk_size`), the
  output head and softmax at the target positions only (`target_logits`), fused AdamW;
- baseline: the default 64-token chunks, the head over every position, AdamW one tensor at a time.
Both run the same model code (GLA's sub-chunk follows the chunk: 8 at 64, 4 at 16), so the ratio is
what the settings buy. Each pair shares a `group` and the baseline's name contains `baseline`:
`python tests/benchmarks/ratios.py out.json` prints ours / baseline (lower is better).

Run: `pytest tests/benchmarks/test_recall_step.py --benchmark-enable --benchmark-json=out.json`.
Threads: 1, as the recall probe runs (ARCHBENCH_BENCH_THREADS overrides).
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

from suite.analytic.matching import match_params
from suite.hf.resolve import resolve_any
from suite.model import build_model
from suite.quality.recall import IGNORE, mqar_batch, target_logits
from suite.quality.training import param_groups

THREADS = int(os.environ.get("ARCHBENCH_BENCH_THREADS", "1"))
VARIANTS = [
    "mixers/attention",
    "mixers/gated-deltanet-all",
    "mixers/gla-all",
    "mixers/mamba2-all",
    "mixers/short-conv-all",
]


@pytest.fixture(autouse=True)
def pinned_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(before)


def _step(variant: str, chunk: int, at_targets: bool, fused: bool):
    cfg = match_params(resolve_any(variant, ()), 100_000, "tiny").replace(
        vocab_size=128, dropout=0.0, mixer_chunk_size=chunk
    )
    model = build_model(cfg, seed=0)
    opt = torch.optim.AdamW(param_groups(model, 0.1, cfg), lr=2e-3, betas=(0.9, 0.95), fused=fused)
    inputs, targets = mqar_batch(torch.Generator().manual_seed(0), 64, 64, 8, cfg.vocab_size)

    def step():
        if at_targets:
            logits, answers = target_logits(model, inputs, targets)
            loss = F.cross_entropy(logits, answers)
        else:
            logits = model(inputs)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    return step


@pytest.mark.parametrize("variant", VARIANTS)
def test_recall_step_ours(benchmark, variant):
    benchmark.group = f"recall-step-{variant.split('/')[-1]}"
    benchmark.extra_info.update(threads=THREADS, chunk=16, head="targets", adamw="fused")
    benchmark.pedantic(_step(variant, 16, True, True), rounds=10, warmup_rounds=2)


@pytest.mark.parametrize("variant", VARIANTS)
def test_recall_step_baseline(benchmark, variant):
    benchmark.group = f"recall-step-{variant.split('/')[-1]}"
    benchmark.extra_info.update(threads=THREADS, chunk=64, head="all positions", adamw="per tensor")
    benchmark.pedantic(_step(variant, 64, False, False), rounds=10, warmup_rounds=2)
