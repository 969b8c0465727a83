"""The GPT-2 -> gpt-oss evolution ladder: one declared change per rung, fixed width and depth."""

import re

import pytest
import torch

from suite.analytic.params import count_params
from suite.config import IDENTITY_FIELDS
from suite.model import build_model
from suite.registry import Registry, proxy


@pytest.fixture(scope="module")
def registry():
    return Registry()


@pytest.fixture(scope="module")
def rungs(registry):
    names = sorted(n for n in registry.names() if n.startswith("ladder/"))
    assert len(names) >= 9
    return names


def math_fields(cfg) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k not in IDENTITY_FIELDS}


def test_rungs_are_numbered_and_chained(registry, rungs):
    assert rungs[0] == "ladder/00-gpt2"
    for i, name in enumerate(rungs):
        assert re.fullmatch(rf"ladder/{i:02d}-[a-z0-9-]+", name), name
        entry = registry.entries[name]
        assert registry.get(name).description, f"{name} does not say what it changes"
        assert registry.get(name).family == "ladder"
        if i:
            assert entry.base == rungs[i - 1], f"{name} must build on {rungs[i - 1]}"


def test_each_rung_changes_exactly_what_it_declares(registry, rungs):
    for before, after in zip(rungs, rungs[1:]):
        old, new = math_fields(registry.get(before)), math_fields(registry.get(after))
        changed = {k for k in new if new[k] != old[k]}
        declared = set(registry.entries[after].fields) - set(IDENTITY_FIELDS)
        assert changed == declared, f"{after}: changes {sorted(changed)} but declares {sorted(declared)}"
        assert declared, f"{after} changes nothing"


def test_starts_at_gpt2_and_keeps_its_size(registry, rungs):
    assert math_fields(registry.get(rungs[0])) == math_fields(registry.get("gpt2-small"))
    for name in rungs:
        cfg = registry.get(name)
        assert (cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.head_size, cfg.vocab_size) == (768, 12, 12, 64, 50257)


def test_ends_at_the_gpt_oss_layout(registry, rungs):
    last, oss = registry.get(rungs[-1]), registry.get("gpt-oss-20b")
    for key in (
        "norm",
        "norm_placement",
        "qk_norm",
        "position",
        "rope_theta",
        "rope_scaling",
        "rope_factor",
        "rope_original_context",
        "rope_truncate",
        "attention",
        "sliding_window",
        "attention_sinks",
        "qkv_bias",
        "out_bias",
        "mlp",
        "mlp_bias",
        "swiglu_limit",
        "router",
        "router_bias",
        "n_experts",
        "experts_top_k",
        "n_shared_experts",
        "tie_embeddings",
        "dropout",
        "context_length",
    ):
        assert getattr(last, key) == getattr(oss, key), key
    assert last.layer_kinds == oss.layer_kinds[: last.n_layers]


def test_moe_rung_matches_active_parameters(registry):
    dense, moe = registry.get("ladder/07-sinks"), registry.get("ladder/08-moe")
    assert moe.experts_top_k * moe.expert_size == dense.hidden
    router = moe.n_layers * (moe.d_model * moe.n_experts + moe.n_experts)
    assert count_params(moe)["active"] == count_params(dense)["active"] + router
    assert count_params(moe)["total"] > 4 * count_params(dense)["total"]


def test_swiglu_rung_matches_parameters(registry):
    assert (
        count_params(registry.get("ladder/04-swiglu"))["total"]
        == count_params(registry.get("ladder/03-rmsnorm"))["total"]
    )


@pytest.mark.parametrize("name", [f"ladder/{i:02d}" for i in range(13)])
def test_rung_runs_as_a_tiny_proxy(registry, name):
    full = next(n for n in registry.names() if n.startswith(name))
    model = build_model(proxy(registry.get(full), "tiny"))
    idx = torch.randint(0, 256, (1, 24))
    assert model(idx).shape == (1, 24, 256)
