"""The decoder: every component combination runs, decodes incrementally exactly as the full
forward pass, and its analytic parameter count equals the instantiated one."""

import dataclasses

import pytest
import torch

from suite.analytic.params import count_params
from suite.config import ModelConfig
from suite.model import build_model
from suite.model.attention import allowed_mask, eager_attention, sdpa_attention
from suite.model.mlp import MoE
from suite.registry import Registry, proxy

TINY = ModelConfig(name="tiny", vocab_size=256, d_model=64, n_layers=2, n_heads=4, context_length=128, dropout=0.0)
ROPE = dict(position="rope", qkv_bias=False, out_bias=False, mlp_bias=False)
GQA = dict(attention="gqa", n_kv_heads=2)
MOE = dict(mlp="swiglu", n_experts=8, experts_top_k=2, expert_hidden=96)
MLA = dict(
    ROPE,
    attention="mla",
    kv_lora_rank=32,
    q_lora_rank=48,
    qk_nope_head_dim=16,
    qk_rope_head_dim=8,
    v_head_dim=16,
    rope_interleaved=True,
)
SLIDING = dict(layer_types=("sliding", "full"), sliding_window=8)

COMBOS = {
    "gpt2": {},
    "no-position": dict(position="none"),
    "rope": ROPE,
    "rope-linear": dict(ROPE, rope_scaling="linear", rope_factor=4.0),
    "rope-llama3": dict(ROPE, rope_scaling="llama3", rope_factor=8.0, rope_original_context=32, rope_theta=500000.0),
    "rope-yarn": dict(ROPE, rope_scaling="yarn", rope_factor=32.0, rope_original_context=32, rope_truncate=False),
    "rope-partial": dict(ROPE, rope_fraction=0.5),
    "rmsnorm": dict(ROPE, norm="rmsnorm"),
    "post-norm-qk-full": dict(ROPE, norm="rmsnorm", norm_placement="post", qk_norm="full"),
    "sandwich-qk-head": dict(ROPE, norm="rmsnorm", norm_placement="sandwich", qk_norm="head"),
    "swiglu": dict(ROPE, mlp="swiglu"),
    "geglu-scaled-emb": dict(ROPE, mlp="geglu", scale_embeddings=True),
    "swiglu-clamp": dict(ROPE, mlp="swiglu", swiglu_limit=7.0),
    "gqa": dict(ROPE, **GQA),
    "mqa": dict(ROPE, attention="mqa", n_kv_heads=1),
    "sliding": dict(ROPE, **SLIDING),
    "sliding-local-theta": dict(
        ROPE, **SLIDING, rope_theta_local=10000.0, rope_theta=1e6, rope_scaling="linear", rope_factor=8.0
    ),
    "sinks": dict(ROPE, attention_sinks=True),
    "sinks-sliding-gqa": dict(ROPE, attention_sinks=True, **SLIDING, **GQA),
    "softcaps": dict(ROPE, attn_softcap=50.0, final_logit_softcap=30.0),
    "untied": dict(ROPE, tie_embeddings=False),
    "moe-softmax": dict(ROPE, **MOE, router_norm_topk=True),
    "moe-topk-softmax-bias": dict(
        ROPE, **MOE, router="topk_softmax", router_bias=True, mlp_bias=True, swiglu_limit=7.0
    ),
    "moe-sigmoid-groups-shared": dict(
        ROPE,
        **MOE,
        router="sigmoid",
        router_groups=4,
        router_topk_groups=2,
        router_scale=2.5,
        router_norm_topk=True,
        n_shared_experts=1,
        moe_dense_first=1,
    ),
    "moe-gelu": dict(ROPE, mlp="gelu", n_experts=4, experts_top_k=1),
    "mla": MLA,
    "mla-full-q": dict(MLA, q_lora_rank=None),
    "mla-yarn-mscale": dict(
        MLA, rope_scaling="yarn", rope_factor=40.0, rope_original_context=32, rope_mscale=1.0, rope_mscale_all_dim=1.0
    ),
    "eager-backend": dict(ROPE, attention_backend="eager", attention_sinks=True, **SLIDING, **GQA),
}


def combo(name: str) -> ModelConfig:
    return dataclasses.replace(TINY, name=name, **COMBOS[name]).replace()


def registered_proxies():
    registry = Registry()
    return {name: proxy(registry.get(name), "tiny") for name in registry.names()}


ALL = {**{f"combo/{k}": combo(k) for k in COMBOS}, **{f"variant/{k}": v for k, v in registered_proxies().items()}}


@pytest.fixture(params=sorted(ALL), ids=sorted(ALL))
def cfg(request):
    return ALL[request.param]


def test_incremental_decoding_equals_full_forward(cfg):
    torch.manual_seed(0)
    model = build_model(cfg, seed=1).eval()
    t = min(48, cfg.context_length)
    idx = torch.randint(0, cfg.vocab_size, (2, t))
    with torch.no_grad():
        full = model(idx)
        cache = model.new_cache()
        pieces = [model(idx[:, : t - 12], cache=cache)]
        pieces.append(model(idx[:, t - 12 : t - 8], cache=cache))  # a chunk after the prefill
        pieces += [model(idx[:, i : i + 1], cache=cache) for i in range(t - 8, t)]  # one token at a time
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=0)


def test_forward_backward_generate(cfg):
    model = build_model(cfg, seed=0)
    idx = torch.randint(0, cfg.vocab_size, (2, 16))
    logits = model(idx)
    assert logits.shape == (2, 16, cfg.vocab_size)
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), idx.flatten())
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and all(torch.isfinite(g).all() for g in grads)
    out = model.eval().generate(idx[:1, :5], max_new_tokens=6)
    assert out.shape == (1, 11) and torch.equal(out[:, :5], idx[:1, :5])


def test_analytic_params_equal_instantiated(cfg):
    model = build_model(cfg, seed=0)
    counted = count_params(cfg)
    assert counted["total"] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", Registry().names())
def test_full_size_params_on_meta(name):
    cfg = Registry().get(name)
    model = build_model(cfg, device="meta")
    assert count_params(cfg)["total"] == sum(p.numel() for p in model.parameters())


def test_gpt2_small_parameter_count():
    assert count_params(Registry().get("gpt2-small"))["total"] == 124_439_808


def test_sliding_cache_stops_growing_at_the_window():
    cfg = combo("sliding")
    model = build_model(cfg).eval()
    cache = model.new_cache()
    with torch.no_grad():
        for _t in range(20):
            model(torch.randint(0, 256, (1, 1)), cache=cache)
    sliding, full = cache.layers
    assert len(sliding) == cfg.sliding_window and len(full) == 20


@pytest.mark.parametrize("window", [None, 5])
@pytest.mark.parametrize("sinks", [False, True])
def test_sdpa_equals_eager_reference(window, sinks):
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 4, 10, 8), torch.randn(2, 2, 14, 8), torch.randn(2, 2, 14, 8)
    allowed = allowed_mask(4, 10, 0, 14, window, "cpu")
    sink = torch.randn(4) if sinks else None
    ref = eager_attention(q, k, v, allowed, scale=0.3, sinks=sink)
    fast = sdpa_attention(q, k, v, allowed, scale=0.3, sinks=sink)
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_grouped_decode_equals_eager_reference(dtype):
    from suite.model.attention import grouped_decode

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, h, t, 8).to(dtype) for h, t in ((6, 1), (2, 14), (2, 14)))
    allowed = allowed_mask(13, 1, 0, 14, None, "cpu")  # a query at position 13 sees keys 0..13
    ref = eager_attention(q, k, v, allowed, scale=0.3)
    tol = 1e-6 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(grouped_decode(q, k, v, scale=0.3), ref, atol=tol, rtol=tol)


@pytest.mark.parametrize("name", ["moe-softmax", "moe-topk-softmax-bias", "moe-sigmoid-groups-shared", "moe-gelu"])
def test_moe_equals_per_token_reference(name):
    cfg = combo(name)
    model = build_model(cfg, seed=3)
    moe = next(m for m in model.modules() if isinstance(m, MoE))
    x = torch.randn(3, 7, cfg.d_model)
    with torch.no_grad():
        fast = moe(x)
        flat = x.reshape(-1, cfg.d_model)
        weights, index = moe.route(flat)
        ref = torch.stack(
            [
                sum(weights[n, j] * moe._expert(int(index[n, j]), flat[n : n + 1])[0] for j in range(index.shape[1]))
                for n in range(flat.shape[0])
            ]
        )
        if cfg.n_shared_experts:
            ref = ref + moe.shared(flat)
    torch.testing.assert_close(fast.reshape(-1, cfg.d_model), ref, atol=1e-5, rtol=1e-5)


def test_learned_positions_refuse_past_context():
    model = build_model(combo("gpt2"))
    with pytest.raises(ValueError, match="past the 128 learned positions"):
        model(torch.zeros(1, 129, dtype=torch.long))


def test_meta_build_allocates_nothing():
    cfg = Registry().get("gpt2-xl")
    model = build_model(cfg, device="meta")
    assert all(p.device.type == "meta" for p in model.parameters())


def test_bf16_autocast_keeps_the_kv_cache_in_bf16():
    """RoPE tables are fp32; the rotated keys must not be promoted (the cache would double in size)."""
    model = build_model(combo("gqa")).eval()
    cache = model.new_cache()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        model(torch.randint(0, 256, (1, 10)), cache=cache)
    assert {t.dtype for layer in cache.layers for t in layer.tensors} == {torch.bfloat16}


GRANITE_LIKE = dict(
    name="granite-like", vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, attention="gqa",
    norm="rmsnorm", position="none", mlp="swiglu", mlp_bias=False, layer_types=("mamba2", "full"),
    ssm_heads=4, ssm_head_dim=16, ssm_state_size=8, mixer_chunk_size=8, context_length=64,
)  # fmt: skip


def test_multipliers_scale_what_granite_scales():
    base = ModelConfig(**GRANITE_LIKE)
    idx = torch.randint(0, 64, (1, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = build_model(base).eval()(idx)
        divided = build_model(base.replace(logits_scaling=4.0)).eval()(idx)
        # a residual multiplier of 1 is exact; a different one changes every layer's contribution
        scaled = build_model(base.replace(residual_multiplier=0.22, embedding_multiplier=12.0)).eval()(idx)
    torch.testing.assert_close(divided, plain / 4.0, rtol=1e-6, atol=1e-6)
    assert (scaled - plain).abs().max() > 1e-3


def test_mlp_none_blocks_are_the_mixer_alone():
    cfg = ModelConfig(**{**GRANITE_LIKE, "mlp": "none", "mlp_bias": True, "layer_types": ("mamba2", "mamba2")})
    model = build_model(cfg)
    assert not any("mlp" in name for name, _ in model.named_parameters())
    assert sum(p.numel() for p in model.parameters()) == count_params(cfg)["total"]
    idx = torch.randint(0, 64, (1, 11), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model.eval()(idx)
        cache = model.new_cache()
        steps = [model(idx[:, :5], cache=cache)] + [model(idx[:, i : i + 1], cache=cache) for i in range(5, 11)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-4, atol=1e-4)


def test_shared_expert_of_its_own_size_is_built_and_counted():
    cfg = ModelConfig(
        **{**GRANITE_LIKE, "n_experts": 4, "experts_top_k": 2, "n_shared_experts": 1, "expert_hidden": 16,
           "shared_expert_hidden": 40, "router": "topk_softmax"}
    )  # fmt: skip
    model = build_model(cfg)
    assert model.blocks[0].mlp.shared.up_proj.weight.shape == (40, 32)
    assert sum(p.numel() for p in model.parameters()) == count_params(cfg)["total"]
