"""The mixer layers against the transformers modules they reproduce (fp32, same weights):
whole-sequence output, token-by-token decoding from the layer's fixed state, and chunked prefill."""

import pytest
import torch

from suite.model.mixers.layers import GatedDeltaNetLayer, Mamba2Layer, MixerState, ShortConvLayer

TOL = 1e-4


def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("A_log"):
                p.copy_(torch.rand(p.shape, generator=gen) * 2 - 1)
            else:
                p.copy_(
                    torch.randn(p.shape, generator=gen) * (0.3 if p.dim() > 1 else 0.5)
                    + (1.0 if "norm" in name else 0.0)
                )


def _load_same_weights(ours: torch.nn.Module, theirs: torch.nn.Module) -> None:
    _randomise(theirs)
    ours_keys = set(ours.state_dict())
    theirs_state = {k: v for k, v in theirs.state_dict().items() if k in ours_keys}
    assert set(theirs_state) == ours_keys, (sorted(ours_keys - set(theirs_state)), sorted(set(theirs_state)))
    ours.load_state_dict(theirs_state)


def _decode(layer, x, prefix: int):
    """Prefill `prefix` tokens (chunked form), then one token at a time from the state."""
    y, state = layer(x[:, :prefix], layer.new_state(x.shape[0]))
    outs = [y]
    for i in range(prefix, x.shape[1]):
        y, state = layer(x[:, i : i + 1], state)
        outs.append(y)
    return torch.cat(outs, dim=1), state


def _gdn_pair():
    from transformers.models.qwen3_next.configuration_qwen3_next import Qwen3NextConfig
    from transformers.models.qwen3_next.modeling_qwen3_next import Qwen3NextGatedDeltaNet

    cfg = Qwen3NextConfig(
        hidden_size=32, linear_num_key_heads=2, linear_num_value_heads=4, linear_key_head_dim=8,
        linear_value_head_dim=6, linear_conv_kernel_dim=4, num_hidden_layers=1, layer_types=["linear_attention"],
    )  # fmt: skip
    theirs = Qwen3NextGatedDeltaNet(cfg, 0).eval()
    ours = GatedDeltaNetLayer(32, n_k_heads=2, n_v_heads=4, head_k_dim=8, head_v_dim=6, conv_kernel=4, chunk_size=8)
    return ours, theirs


def _mamba_pair():
    from transformers.models.mamba2.configuration_mamba2 import Mamba2Config
    from transformers.models.mamba2.modeling_mamba2 import Mamba2Mixer

    cfg = Mamba2Config(
        hidden_size=32, num_heads=8, head_dim=8, state_size=8, n_groups=2, expand=2, conv_kernel=4,
        chunk_size=8, num_hidden_layers=1, use_conv_bias=True, use_bias=False,
    )  # fmt: skip
    theirs = Mamba2Mixer(cfg, 0).eval()
    ours = Mamba2Layer(32, n_heads=8, head_dim=8, state_size=8, n_groups=2, conv_kernel=4, chunk_size=8)
    return ours, theirs


def _short_conv_pair():
    from transformers.models.lfm2.configuration_lfm2 import Lfm2Config
    from transformers.models.lfm2.modeling_lfm2 import Lfm2ShortConv

    cfg = Lfm2Config(hidden_size=32, conv_L_cache=3, conv_bias=False, num_hidden_layers=1, layer_types=["conv"])
    return ShortConvLayer(32, conv_kernel=3), Lfm2ShortConv(cfg, 0).eval()


PAIRS = {"gated_deltanet": _gdn_pair, "mamba2": _mamba_pair, "short_conv": _short_conv_pair}


@pytest.mark.parametrize("kind", sorted(PAIRS))
@pytest.mark.parametrize("length", [1, 7, 19])  # a single token, shorter than a chunk, not a multiple of it
def test_whole_sequence_matches_transformers(kind, length):
    ours, theirs = PAIRS[kind]()
    _load_same_weights(ours, theirs)
    x = torch.randn(2, length, 32, generator=torch.Generator().manual_seed(length))
    with torch.no_grad():
        expected = theirs(x)
        got, _ = ours(x)
    torch.testing.assert_close(got, expected, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("kind", sorted(PAIRS))
@pytest.mark.parametrize("prefix", [1, 5, 9])
def test_decoding_from_the_state_matches_the_whole_sequence(kind, prefix):
    ours, theirs = PAIRS[kind]()
    _load_same_weights(ours, theirs)
    x = torch.randn(2, 21, 32, generator=torch.Generator().manual_seed(prefix))
    with torch.no_grad():
        whole, whole_state = ours(x)
        stepped, state = _decode(ours, x, prefix)
    torch.testing.assert_close(stepped, whole, atol=TOL, rtol=TOL)
    torch.testing.assert_close(state.recurrent, whole_state.recurrent, atol=TOL, rtol=TOL, equal_nan=False)
    torch.testing.assert_close(state.conv, whole_state.conv)


@pytest.mark.parametrize("kind", sorted(PAIRS))
def test_the_state_does_not_grow_with_the_sequence(kind):
    ours, _ = PAIRS[kind]()
    sizes = set()
    with torch.no_grad():
        for length in (3, 30, 90):
            _, state = ours(torch.randn(1, length, 32))
            sizes.add(state.nbytes())
    assert len(sizes) == 1
    assert sizes.pop() == ours.new_state(1).nbytes()


def test_chunked_prefill_in_pieces_matches_one_pass():
    ours, theirs = _gdn_pair()
    _load_same_weights(ours, theirs)
    x = torch.randn(1, 30, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        whole, _ = ours(x)
        first, state = ours(x[:, :11])
        second, _ = ours(x[:, 11:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, atol=TOL, rtol=TOL)


def test_empty_state_is_a_mixer_state():
    assert MixerState().nbytes() == 0
