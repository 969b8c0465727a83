"""A component lives in one place: every key of the component registries has its model class and
its analytic cost, so adding a key that misses one place fails here naming the key and the place."""

from __future__ import annotations

import pytest
import torch

from suite import components
from suite.analytic import costs
from suite.analytic.params import count_params
from suite.config import ModelConfig
from suite.model import build_model
from suite.model.attention import ATTENTIONS
from suite.model.mlp import ROUTERS
from suite.model.norm import NORMS
from suite.model.position import ROPE_SCALINGS

# the model's table for each registry that maps keys to code (the others are read as fields)
MODEL_TABLES = {"attention": ATTENTIONS, "norm": NORMS, "router": ROUTERS, "rope_scaling": ROPE_SCALINGS}

TINY = dict(
    vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, attention="gqa", mlp_hidden=48, context_length=64
)
# what a key needs beside itself to make a valid tiny config
NEEDS = {
    ("attention", "mha"): dict(n_kv_heads=4),
    ("attention", "mqa"): dict(n_kv_heads=1),
    ("attention", "mla"): dict(position="rope", kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=4, v_head_dim=8),
    ("attention", "dsa"): dict(
        position="rope",
        q_lora_rank=16,
        kv_lora_rank=16,
        qk_nope_head_dim=8,
        qk_rope_head_dim=4,
        v_head_dim=8,
        index_heads=2,
        index_head_dim=8,
        index_topk=4,  # below the 8-token forward: selection drops keys
    ),
    ("rope_scaling", "llama3"): dict(position="rope", rope_original_context=16, rope_factor=4.0),
    ("rope_scaling", "yarn"): dict(position="rope", rope_original_context=16, rope_factor=4.0),
    ("rope_scaling", "linear"): dict(position="rope", rope_factor=2.0),
    ("layer_types", "sliding"): dict(sliding_window=8),
    ("layer_types", "gated_deltanet"): dict(
        linear_k_heads=2, linear_v_heads=4, linear_k_head_dim=8, linear_v_head_dim=8
    ),
    ("layer_types", "gla"): dict(linear_k_heads=2, linear_v_heads=2, linear_k_head_dim=8, linear_v_head_dim=8),
    ("layer_types", "mamba2"): dict(ssm_heads=4, ssm_head_dim=8, ssm_state_size=8, ssm_groups=2),
    ("mlp", "none"): dict(mlp_hidden=None),
    ("router", "softmax_topk"): dict(n_experts=4, experts_top_k=2),
    ("router", "topk_softmax"): dict(n_experts=4, experts_top_k=2),
    ("router", "sigmoid"): dict(n_experts=4, experts_top_k=2),
}


def _every_key():
    for registry in components.ALL:
        for key in registry:
            yield pytest.param(registry, key, id=f"{registry.config_field}={key}")


def _tiny(registry, key) -> ModelConfig:
    value = (key,) * TINY["n_layers"] if registry.config_field == "layer_types" else key
    return ModelConfig(
        name=f"tiny-{key}", **{**TINY, **NEEDS.get((registry.config_field, key), {}), registry.config_field: value}
    )


@pytest.mark.parametrize("registry, key", list(_every_key()))
def test_every_registered_key_is_built_and_costed(registry, key):
    cfg = _tiny(registry, key)
    table = MODEL_TABLES.get(registry.config_field)
    if table is not None:
        assert key in table, f"{registry.kind} '{key}' has no entry in suite.model's table"
    model = build_model(cfg)
    counted = sum(p.numel() for p in model.parameters())
    assert count_params(cfg)["total"] == counted, f"{registry.kind} '{key}': suite.analytic.params miscounts it"
    assert costs.total(costs.prefill_flops(cfg, 16)) > 0
    with torch.no_grad():
        assert model(torch.randint(0, cfg.vocab_size, (1, 8))).shape[-1] == cfg.vocab_size


@pytest.mark.parametrize("field, table", list(MODEL_TABLES.items()))
def test_the_model_has_no_key_the_registry_lacks(field, table):
    registry = next(r for r in components.ALL if r.config_field == field)
    assert set(table) <= set(registry), f"suite.model knows {set(table) - set(registry)} for '{field}'"


def test_registry_refuses_duplicates_and_explains_a_miss():
    with pytest.raises(ValueError, match="attention 'gqa' is already registered"):
        components.ATTENTION.register("gqa", "again")
    assert components.ATTENTION.unknown("gqb") == "'gqb' is not one of: mha, mqa, gqa, mla, dsa. Did you mean 'gqa'?"
