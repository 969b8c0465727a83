"""The attention -> mixer ladder (architectures/ladder/attention-to-mixers.yaml): each variant swaps
a declared share of ladder/05-gqa's attention layers for one mixer, at matched parameters."""

import pytest
import torch

from suite.analytic.costs import kv_cache_bytes
from suite.analytic.params import count_params
from suite.model import build_model
from suite.registry import Registry, proxy

SHARES = {"1of4": 3, "3of4": 9, "all": 12}
MIXER_KIND = {"gated-deltanet": "gated_deltanet", "mamba2": "mamba2", "short-conv": "short_conv", "gla": "gla"}


@pytest.fixture(scope="module")
def registry():
    return Registry()


def _rungs(registry):
    return sorted(n for n in registry.names() if n.startswith("mixers/") and n != "mixers/attention")


def test_every_mixer_has_every_share(registry):
    expected = {f"mixers/{mixer}-{share}" for mixer in MIXER_KIND for share in SHARES}
    assert expected <= set(_rungs(registry))


def test_shares_and_matched_parameters(registry):
    base = registry.get("mixers/attention")
    assert base.layer_kinds == ("full",) * 12 and base.d_model == 768
    base_params = count_params(base)["non_embedding"]
    for name in _rungs(registry):
        mixer, share = name.removeprefix("mixers/").rsplit("-", 1)
        cfg = registry.get(name)
        assert cfg.layer_kinds.count(MIXER_KIND[mixer]) == SHARES[share], name
        assert set(cfg.layer_kinds) <= {"full", MIXER_KIND[mixer]}, name
        assert count_params(cfg)["non_embedding"] == pytest.approx(base_params, rel=0.01), name
        # nothing else changes: width, depth, vocabulary, attention and MLP kinds
        for field in ("d_model", "n_layers", "vocab_size", "n_heads", "n_kv_heads", "mlp", "norm", "position"):
            assert getattr(cfg, field) == getattr(base, field), (name, field)


def test_only_attention_layers_grow_with_context(registry):
    base = registry.get("mixers/attention")
    for name in _rungs(registry):
        cfg = registry.get(name)
        grow = kv_cache_bytes(cfg, 1024) - kv_cache_bytes(cfg, 512)
        full_share = cfg.layer_kinds.count("full") / 12
        base_grow = kv_cache_bytes(base, 1024) - kv_cache_bytes(base, 512)
        assert grow == pytest.approx(base_grow * full_share), name


@pytest.mark.parametrize(
    "name", ["mixers/gated-deltanet-3of4", "mixers/mamba2-all", "mixers/short-conv-1of4", "mixers/gla-all"]
)
def test_rung_proxies_run_and_decode(registry, name):
    cfg = proxy(registry.get(name), "tiny")
    model = build_model(cfg).eval()
    idx = torch.randint(0, cfg.vocab_size, (1, 20), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(idx)
        cache = model.new_cache()
        steps = [model(idx[:, :13], cache=cache)] + [model(idx[:, i : i + 1], cache=cache) for i in range(13, 20)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-4, atol=1e-4)


def test_budget_of_a_pure_mixer_model_is_not_limited_by_context(registry):
    from suite.analytic import budget

    cfg = registry.get("mixers/mamba2-all")
    fit = budget.max_context(cfg, 8 * 2**30)
    assert fit["memory_max_context"] is None and fit["limited_by"] == "trained_context"
    assert fit["max_context"] == cfg.context_length
