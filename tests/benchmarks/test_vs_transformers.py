"""Our decoder vs transformers' implementation on the same config and the same weights, CPU fp32.

Each pair shares one pytest-benchmark `group` (`prefill-<model>`, `decode-<model>`) and the
reference's test name contains `transformers`, so any run's JSON reads as ratios
(ours / transformers, lower is better; the goal is <= 1.0).

Models (random weights built locally, never downloaded):
- `gpt2-124m`: GPT-2 small's real dimensions (124M parameters, 50257-token vocabulary);
- `qwen3-proxy`: the registry's Qwen3-0.6B proxy at scale `base` (GQA, QK-norm, RoPE, SwiGLU);
- `qwen3-next-proxy`: the registry's Qwen3-Next-80B-A3B proxy at scale `small` (3 Gated DeltaNet
  layers + 1 gated attention layer, 64-expert MoE with a gated shared expert).
The transformers model is built from its own config, saved with `save_pretrained`, and our decoder
is loaded from that folder by `suite.hf.load.load_checkpoint`, so both hold identical weights
(checked: the logits agree before anything is timed).

Prefill: a forward over `CONTEXT` tokens that fills a fresh KV cache, all positions' logits.
Decode: one step at position `CONTEXT` from a cache prefilled untimed; each round restores the
cache to exactly `CONTEXT` tokens first (ours: a shallow fork; transformers: `DynamicCache.crop`, or
a deep copy of the prefilled cache where recurrent states cannot be cropped back).
Long decode (`decode4k-<model>`): the same step at position `LONG_CONTEXT` (4,096) for an attention
model, where reading (and, for a concatenating cache, copying) the KV cache dominates the step.

Threads: 1 (ARCHBENCH_BENCH_THREADS overrides), recorded in each benchmark's extra_info.
Run: `pytest tests/benchmarks --benchmark-enable --benchmark-json=out.json` (addopts disables them);
`python tests/benchmarks/ratios.py out.json` prints the ratios.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch

from suite.probes.latency import fork_cache

CONTEXT = 128
LONG_CONTEXT = 4096
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


def _hf_qwen3_proxy(context: int | None = None):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from suite.registry import resolve_config

    cfg = resolve_config("qwen3-0.6b", scale="base")
    if context is not None:
        cfg = cfg.replace(context_length=context)
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


def _hf_qwen3_next_proxy():
    from transformers import Qwen3NextConfig, Qwen3NextForCausalLM

    from suite.registry import resolve_config

    cfg = resolve_config("qwen3-next-80b-a3b", scale="small")
    kinds = {"gated_deltanet": "linear_attention", "full": "full_attention"}
    return Qwen3NextForCausalLM(
        Qwen3NextConfig(
            vocab_size=cfg.vocab_size,
            hidden_size=cfg.d_model,
            intermediate_size=cfg.hidden,
            num_hidden_layers=cfg.n_layers,
            layer_types=[kinds[k] for k in cfg.layer_kinds],
            num_attention_heads=cfg.n_heads,
            num_key_value_heads=cfg.kv_heads,
            head_dim=cfg.head_size,
            max_position_embeddings=cfg.context_length,
            rms_norm_eps=cfg.norm_eps,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": cfg.rope_theta,
                "partial_rotary_factor": cfg.rope_fraction,
            },
            linear_num_key_heads=cfg.linear_k_heads,
            linear_num_value_heads=cfg.linear_v_heads,
            linear_key_head_dim=cfg.linear_k_head_dim,
            linear_value_head_dim=cfg.linear_v_head_dim,
            linear_conv_kernel_dim=cfg.mixer_conv_kernel,
            num_experts=cfg.n_experts,
            num_experts_per_tok=cfg.experts_top_k,
            moe_intermediate_size=cfg.expert_size,
            shared_expert_intermediate_size=cfg.shared_hidden,
            norm_topk_prob=cfg.router_norm_topk,
            mlp_only_layers=[],
            tie_word_embeddings=cfg.tie_embeddings,
            attention_bias=cfg.qkv_bias,
        )
    )


MODELS = {"gpt2-124m": _hf_gpt2, "qwen3-proxy": _hf_qwen3_proxy, "qwen3-next-proxy": _hf_qwen3_next_proxy}
RECURRENT = {"qwen3-next-proxy"}  # caches with recurrent states: restored by copy, not crop
LONG_MODEL = "qwen3-proxy"


def _build_pair(name: str, make, folder, context: int):
    """(name, ours, theirs, tokens) with identical weights, `context + 1` tokens."""
    import transformers

    from suite.hf.load import load_checkpoint

    transformers.utils.logging.set_verbosity_error()
    torch.manual_seed(0)
    theirs = make()
    with torch.no_grad():  # perturb every parameter: a missed bias or norm weight would show
        for p in theirs.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    theirs.save_pretrained(folder)
    theirs = transformers.AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.float32, attn_implementation="sdpa"
    ).eval()
    _, ours = load_checkpoint(folder)
    ours.eval()
    idx = torch.randint(0, theirs.config.vocab_size, (BATCH, context + 1), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(ours(idx), theirs(input_ids=idx).logits, rtol=1e-4, atol=1e-4)
    return name, ours, theirs, idx


@pytest.fixture(scope="module", params=list(MODELS))
def pair(request, tmp_path_factory):
    return _build_pair(request.param, MODELS[request.param], tmp_path_factory.mktemp(request.param), CONTEXT)


@pytest.fixture(scope="module")
def long_pair(tmp_path_factory):
    """The attention model with room for LONG_CONTEXT + 1 positions."""
    make = lambda: MODELS[LONG_MODEL](context=LONG_CONTEXT + 1)
    return _build_pair(LONG_MODEL, make, tmp_path_factory.mktemp(f"{LONG_MODEL}-4k"), LONG_CONTEXT)


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
def _decode_ours(benchmark, ours, idx, context: int) -> None:
    with torch.inference_mode():
        prefilled = ours.new_cache()
        ours(idx[:, :context], cache=prefilled)
    nxt = idx[:, context:]

    def setup():
        return (fork_cache(prefilled),), {}

    def step(cache):
        with torch.inference_mode():
            ours(nxt, cache=cache)

    benchmark.pedantic(step, setup=setup, rounds=ROUNDS["decode"], warmup_rounds=5)


def _prefilled(theirs, idx, context: int):
    with torch.inference_mode():
        return theirs(input_ids=idx[:, :context], use_cache=True).past_key_values


def _restore(past, context: int = CONTEXT) -> None:
    """Back to `context` tokens (transformers 5: crop takes the number of tokens to drop, negative)."""
    extra = past.get_seq_length() - context
    if extra > 0:
        past.crop(-extra)


def _restorer(name: str, past, context: int):
    """A function returning a cache holding exactly the prefilled `context` tokens."""
    if name in RECURRENT:  # a recurrent state has no crop: start every round from a copy
        return lambda: copy.deepcopy(past)
    return lambda: (_restore(past, context), past)[1]


def _decode_transformers(benchmark, name, theirs, idx, context: int) -> None:
    fresh = _restorer(name, _prefilled(theirs, idx, context), context)
    nxt = idx[:, context:]

    def setup():
        return (fresh(),), {}

    def step(cache):
        with torch.inference_mode():
            theirs(input_ids=nxt, past_key_values=cache, use_cache=True)

    benchmark.pedantic(step, setup=setup, rounds=ROUNDS["decode"], warmup_rounds=5)


def test_decode_ours(benchmark, pair):
    name, ours, _, idx = pair
    benchmark.group = f"decode-{name}"
    _decode_ours(benchmark, ours, idx, CONTEXT)


def test_decode_transformers(benchmark, pair):
    name, _, theirs, idx = pair
    benchmark.group = f"decode-{name}"
    _decode_transformers(benchmark, name, theirs, idx, CONTEXT)


def test_decode4k_ours(benchmark, long_pair):
    name, ours, _, idx = long_pair
    benchmark.group = f"decode4k-{name}"
    benchmark.extra_info.update(context=LONG_CONTEXT)
    _decode_ours(benchmark, ours, idx, LONG_CONTEXT)


def test_decode4k_transformers(benchmark, long_pair):
    name, _, theirs, idx = long_pair
    benchmark.group = f"decode4k-{name}"
    benchmark.extra_info.update(context=LONG_CONTEXT)
    _decode_transformers(benchmark, name, theirs, idx, LONG_CONTEXT)


def _paths_agree(name, ours, theirs, idx, context: int) -> None:
    """The timed decode steps compute the same next-token logits (guards the setup/restore logic)."""
    with torch.inference_mode():
        cache = ours.new_cache()
        ours(idx[:, :context], cache=cache)
        fresh = _restorer(name, _prefilled(theirs, idx, context), context)
        for _ in range(2):  # twice from the same restored state
            mine = ours(idx[:, context:], cache=fork_cache(cache))
            ref = theirs(input_ids=idx[:, context:], past_key_values=fresh(), use_cache=True).logits
            torch.testing.assert_close(mine, ref, rtol=1e-4, atol=1e-4)


def test_decode_paths_agree(pair):
    _paths_agree(*pair, CONTEXT)


def test_decode4k_paths_agree(long_pair):
    _paths_agree(*long_pair, LONG_CONTEXT)
