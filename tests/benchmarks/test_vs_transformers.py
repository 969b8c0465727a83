"""Our decoder vs transformers' implementation on the same config and the same weights, CPU fp32.

Each pair shares one pytest-benchmark `group` (`prefill-<model>`, `decode-<model>`) and the
reference's test name contains `transformers`, so any run's JSON reads as ratios
(ours / transformers, lower is better; the goal is <= 1.0).

Models (random weights built locally, never downloaded):
- `gpt2-124m`: GPT-2 small's real dimensions (124M parameters, 50257-token vocabulary);
- `qwen3-proxy`: the registry's Qwen3-0.6B proxy at scale `base` (GQA, QK-norm, RoPE, SwiGLU).
The transformers model is built from its own config, saved with `save_pretrained`, and our decoder
is loaded from that folder by `suite.hf.load.load_checkpoint`, so both hold identical weights
(checked: the logits agree before anything is timed).

Prefill: a forward over `CONTEXT` tokens that fills a fresh KV cache, all positions' logits.
Decode: one step at position `CONTEXT` from a cache prefilled untimed; each round restores the
cache to exactly `CONTEXT` tokens first (ours: a shallow fork; transformers: `DynamicCache.crop`).

Threads: 1 (ARCHBENCH_BENCH_THREADS overrides), recorded in each benchmark's extra_info.
Run: `pytest tests/benchmarks --benchmark-enable --benchmark-json=out.json` (addopts disables them);
`python tests/benchmarks/ratios.py out.json` prints the ratios.
"""

from __future__ import annotations

import os

import pytest
import torch

from suite.probes.latency import fork_cache

CONTEXT = 128
BATCH = 1
ROUNDS = dict(prefill=30, decode=200)
# One intra-op thread by default: on a shared machine two threads stall at every parallel region
# whenever a neighbour takes a core, which swamps a 10% difference. Override for a quiet machine.
THREADS = int(os.environ.get("ARCHBENCH_BENCH_THREADS", "1"))


@pytest.fixture(autouse=True)
def pinned_threads(request):
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    if "benchmark" in request.fixturenames:
        request.getfixturevalue("benchmark").extra_info.update(
            threads=THREADS, context=CONTEXT, batch=BATCH, dtype="fp32"
        )
    yield
    torch.set_num_threads(before)


def _hf_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config())  # the defaults are GPT-2 small: 12 x 768, 50257 vocab, 1024 positions


def _hf_qwen3_proxy():
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from suite.registry import resolve_config

    cfg = resolve_config("qwen3-0.6b", scale="base")
    return Qwen3ForCausalLM(
        Qwen3Config(
            vocab_size=cfg.vocab_size,
            hidden_size=cfg.d_model,
            intermediate_size=cfg.hidden,
            num_hidden_layers=cfg.n_layers,
            num_attention_heads=cfg.n_heads,
            num_key_value_heads=cfg.kv_heads,
            head_dim=cfg.head_size,
            max_position_embeddings=cfg.context_length,
            rms_norm_eps=cfg.norm_eps,
            rope_theta=cfg.rope_theta,
            tie_word_embeddings=cfg.tie_embeddings,
            attention_bias=cfg.qkv_bias,
        )
    )


MODELS = {"gpt2-124m": _hf_gpt2, "qwen3-proxy": _hf_qwen3_proxy}


@pytest.fixture(scope="module", params=list(MODELS))
def pair(request, tmp_path_factory):
    """(name, ours, theirs, tokens) with identical weights."""
    import transformers

    from suite.hf.load import load_checkpoint

    transformers.utils.logging.set_verbosity_error()
    torch.manual_seed(0)
    theirs = MODELS[request.param]()
    with torch.no_grad():  # perturb every parameter: a missed bias or norm weight would show
        for p in theirs.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    folder = tmp_path_factory.mktemp(request.param)
    theirs.save_pretrained(folder)
    theirs = transformers.AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.float32, attn_implementation="sdpa"
    ).eval()
    _, ours = load_checkpoint(folder)
    ours.eval()
    idx = torch.randint(0, theirs.config.vocab_size, (BATCH, CONTEXT + 1), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(ours(idx), theirs(input_ids=idx).logits, rtol=1e-4, atol=1e-4)
    return request.param, ours, theirs, idx


# ------------------------------------------------------------------ prefill
def _ours_prefill(ours, idx):
    with torch.inference_mode():
        ours(idx, cache=ours.new_cache())


def _theirs_prefill(theirs, idx):
    with torch.inference_mode():
        theirs(input_ids=idx, use_cache=True)


def test_prefill_ours(benchmark, pair):
    name, ours, _, idx = pair
    benchmark.group = f"prefill-{name}"
    benchmark.pedantic(_ours_prefill, args=(ours, idx[:, :CONTEXT]), rounds=ROUNDS["prefill"], warmup_rounds=3)


def test_prefill_transformers(benchmark, pair):
    name, _, theirs, idx = pair
    benchmark.group = f"prefill-{name}"
    benchmark.pedantic(_theirs_prefill, args=(theirs, idx[:, :CONTEXT]), rounds=ROUNDS["prefill"], warmup_rounds=3)


# ------------------------------------------------------------------ decode
def test_decode_ours(benchmark, pair):
    name, ours, _, idx = pair
    benchmark.group = f"decode-{name}"
    with torch.inference_mode():
        prefilled = ours.new_cache()
        ours(idx[:, :CONTEXT], cache=prefilled)
    nxt = idx[:, CONTEXT:]

    def setup():
        return (fork_cache(prefilled),), {}

    def step(cache):
        with torch.inference_mode():
            ours(nxt, cache=cache)

    benchmark.pedantic(step, setup=setup, rounds=ROUNDS["decode"], warmup_rounds=5)


def _restore(past) -> None:
    """Back to CONTEXT tokens (transformers 5: crop takes the number of tokens to drop, negative)."""
    extra = past.get_seq_length() - CONTEXT
    if extra > 0:
        past.crop(-extra)


def test_decode_transformers(benchmark, pair):
    name, _, theirs, idx = pair
    benchmark.group = f"decode-{name}"
    with torch.inference_mode():
        past = theirs(input_ids=idx[:, :CONTEXT], use_cache=True).past_key_values
    nxt = idx[:, CONTEXT:]

    def setup():
        _restore(past)
        return (past,), {}

    def step(cache):
        with torch.inference_mode():
            theirs(input_ids=nxt, past_key_values=cache, use_cache=True)

    benchmark.pedantic(step, setup=setup, rounds=ROUNDS["decode"], warmup_rounds=5)


def test_decode_paths_agree(pair):
    """The timed decode steps compute the same next-token logits (guards the setup/restore logic)."""
    _, ours, theirs, idx = pair
    with torch.inference_mode():
        cache = ours.new_cache()
        ours(idx[:, :CONTEXT], cache=cache)
        past = theirs(input_ids=idx[:, :CONTEXT], use_cache=True).past_key_values
        for _ in range(2):  # twice from the same restored state
            mine = ours(idx[:, CONTEXT:], cache=fork_cache(cache))
            _restore(past)
            ref = theirs(input_ids=idx[:, CONTEXT:], past_key_values=past, use_cache=True).logits
            torch.testing.assert_close(mine, ref, rtol=1e-4, atol=1e-4)
