"""Hybrid stacks (mixer layers beside attention): parameters, FLOPs and cache bytes from the config
equal what the built model has, what FlopCounterMode counts, and what its cache tensors hold."""

import pytest
import torch

from suite.analytic import costs
from suite.analytic.params import count_params
from suite.config import ModelConfig
from suite.model import build_model
from suite.probes import analytic as analytic_probe

BASE = dict(
    vocab_size=64, d_model=32, n_layers=4, n_heads=4, n_kv_heads=2, attention="gqa", mlp_hidden=48,
    context_length=256, position="rope", norm="rmsnorm", mlp="swiglu", qkv_bias=False, out_bias=False,
    mlp_bias=False, mixer_chunk_size=16,
)  # fmt: skip
HYBRIDS = {
    "gated_deltanet": dict(
        layer_types=("gated_deltanet", "gated_deltanet", "gated_deltanet", "full"), linear_k_heads=2,
        linear_v_heads=4, linear_k_head_dim=8, linear_v_head_dim=8, attn_output_gate=True,
    ),
    "mamba2": dict(
        layer_types=("mamba2", "full", "mamba2", "mamba2"), ssm_heads=4, ssm_head_dim=8, ssm_state_size=8, ssm_groups=2,
    ),
    "short_conv": dict(layer_types=("short_conv", "full", "short_conv", "full"), mixer_conv_kernel=3, mixer_bias=True),
    "gla": dict(
        layer_types=("gla", "full", "gla", "gla"), linear_k_heads=2, linear_v_heads=2, linear_k_head_dim=8,
        linear_v_head_dim=6,
    ),
    "moe_gated_shared": dict(
        layer_types=("gated_deltanet", "full", "gated_deltanet", "full"), linear_k_heads=1, linear_v_heads=2,
        linear_k_head_dim=8, linear_v_head_dim=8, n_experts=4, experts_top_k=2, n_shared_experts=1,
        shared_expert_gate=True, expert_hidden=16,
    ),
}  # fmt: skip


def _cfg(name):
    return ModelConfig(name=name, **BASE, **HYBRIDS[name])


@pytest.mark.parametrize("name", sorted(HYBRIDS))
def test_parameters_equal_the_built_model(name):
    cfg = _cfg(name)
    assert count_params(cfg)["total"] == sum(p.numel() for p in build_model(cfg).parameters())
    assert count_params(cfg)["by_component"]["mixer"] > 0


@pytest.mark.parametrize("name", sorted(HYBRIDS))
@pytest.mark.parametrize("past, context", [(0, 8), (0, 16), (0, 40), (19, 5), (70, 1)])
def test_forward_flops_equal_the_counter(name, past, context):
    result = analytic_probe.check_forward(_cfg(name), context=context, past=past)
    assert not result["problems"], result["problems"]
    assert result["counter"] == result["analytic"]
    assert result["components"]["mixer"]["counter"] == result["components"]["mixer"]["analytic"] > 0


@pytest.mark.parametrize("name", sorted(HYBRIDS))
@pytest.mark.parametrize("context, checkpointing", [(8, False), (33, False), (33, True)])
def test_training_flops_equal_the_counter(name, context, checkpointing):
    result = analytic_probe.check_train(_cfg(name), context=context, checkpointing=checkpointing)
    assert not result["problems"], result["problems"]
    assert result["counter"] == result["analytic"]


@pytest.mark.parametrize("name", sorted(HYBRIDS))
def test_cache_bytes_equal_the_cache_tensors_and_mixer_state_is_fixed(name):
    cfg = _cfg(name)
    model = build_model(cfg).eval()
    cache, fed = model.new_cache(), 0
    with torch.no_grad():
        for chunk in (3, 20, 1, 1, 9):
            model(torch.randint(0, cfg.vocab_size, (2, chunk)), cache=cache)
            fed += chunk
            assert cache.nbytes() == costs.kv_cache_bytes(cfg, fed, "fp32", batch=2), fed
    state = costs.mixer_state_bytes(cfg, "fp32")
    assert state > 0
    assert costs.kv_cache_bytes(cfg, 10_000, "fp32") - costs.kv_cache_bytes(cfg, 1_000, "fp32") == (
        9_000 * costs.kv_cache_bytes_per_token(cfg, "fp32")
    )  # only the attention layers grow


def test_the_per_token_cost_of_a_mixer_does_not_depend_on_the_context():
    cfg = ModelConfig(name="all-mixer", **{**BASE, **HYBRIDS["mamba2"], "layer_types": ("mamba2",) * 4})
    short, long = (costs.decode_flops(cfg, position) for position in (100, 100_000))
    assert short == long
    assert costs.kv_cache_bounded(cfg)
