"""The KV cache protocol: preallocated buffers written in place, a ring for sliding layers, exact bytes."""

import copy

import pytest
import torch

from suite.config import ModelConfig
from suite.model import build_model
from suite.model.attention import LayerCache


def _cfg(**kw):
    base = dict(
        vocab_size=64, d_model=32, n_layers=2, n_heads=4, context_length=256, position="rope", norm="rmsnorm",
        mlp="swiglu", qkv_bias=False, out_bias=False, mlp_bias=False, attention="gqa", n_kv_heads=2,
    )  # fmt: skip
    base.update(kw)
    return ModelConfig(**base)


def test_decoding_into_a_ring_never_reallocates_and_holds_the_window():
    cache = LayerCache(window=4)
    k = torch.randn(1, 2, 6, 8)
    cache.update(k, k)
    pointers = [b.data_ptr() for b in cache.buffers]
    for i in range(10):
        step = torch.full((1, 2, 1, 8), float(i))
        (keys, _), first = cache.update(step, step)
        assert [b.data_ptr() for b in cache.buffers] == pointers
        assert keys.shape[-2] == 4 and first == cache.seen - 4
    held = sorted(float(x) for x in cache.tensors[0][0, 0, :, 0])
    assert held == [6.0, 7.0, 8.0, 9.0]  # the last four tokens, whatever their slots


def test_full_layers_grow_geometrically_not_per_token():
    cache = LayerCache()
    cache.update(torch.randn(1, 1, 10, 4))
    assert cache.buffers[0].shape[-2] == 10  # a prefill reserves exactly what it holds
    reallocations, last = 0, cache.buffers[0].data_ptr()
    for _ in range(500):
        cache.update(torch.randn(1, 1, 1, 4))
        if cache.buffers[0].data_ptr() != last:
            reallocations, last = reallocations + 1, cache.buffers[0].data_ptr()
    assert len(cache) == 510 and reallocations <= 20
    assert cache.nbytes() == 510 * 4 * 4 and cache.reserved_bytes() >= cache.nbytes()


@pytest.mark.parametrize("layer_types, window", [(None, None), (("sliding", "full"), 5), (("sliding", "sliding"), 3)])
def test_decoding_matches_the_whole_sequence(layer_types, window):
    cfg = _cfg(layer_types=layer_types, sliding_window=window)
    model = build_model(cfg).eval()
    idx = torch.randint(0, 64, (2, 30), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = model(idx)
        cache = model.new_cache()
        steps = [model(idx[:, :7], cache=cache), model(idx[:, 7:12], cache=cache)]
        steps += [model(idx[:, i : i + 1], cache=cache) for i in range(12, 30)]
    torch.testing.assert_close(torch.cat(steps, dim=1), whole, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("layer_types, window", [(None, None), (("sliding", "sliding"), 3)])
def test_a_copied_cache_continues_without_changing_the_original(layer_types, window):
    cfg = _cfg(layer_types=layer_types, sliding_window=window)
    model = build_model(cfg).eval()
    idx = torch.randint(0, 64, (1, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        cache = model.new_cache()
        model(idx[:, :10], cache=cache)
        nxt = idx[:, 10:11]
        outs = []
        for _ in range(3):  # the same step from the same state, as a repeated timing sample
            fork = copy.copy(cache)
            fork.layers = [copy.copy(layer) for layer in cache.layers]
            outs.append(model(nxt, cache=fork))
        after = model(idx[:, 10:12], cache=cache)  # the original goes on as if no copy had run
        whole = model(idx)
    torch.testing.assert_close(outs[0], outs[1])
    torch.testing.assert_close(outs[0], outs[2])
    torch.testing.assert_close(after, whole[:, 10:12], atol=1e-5, rtol=1e-5)


def test_conv_state_after_prefill_owns_only_its_own_bytes():
    """The fixed-size state must not be a view that keeps the prefill's whole input alive."""
    from suite.model.mixers.short_conv import causal_conv1d

    x, weight = torch.randn(2, 500, 8), torch.randn(8, 4)
    _, state = causal_conv1d(x, weight)
    assert state.shape == (2, 8, 3)
    assert state.untyped_storage().nbytes() == state.numel() * state.element_size()
