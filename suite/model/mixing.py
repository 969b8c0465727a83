"""Sequence mixers other than softmax attention, as decoder layers (`layer_types` entries).

A mixer layer takes the attention slot of a block: `forward(x, rope, cache, start)` like attention,
and keeps its fixed-size `MixerState` in the layer's cache (`MixerCache`). RoPE is ignored: these
mixers carry position in their recurrence and convolution.
"""

from __future__ import annotations

import torch
from torch import nn

from suite.model.mixers.gla_layer import GatedLinearAttentionLayer
from suite.model.mixers.layers import GatedDeltaNetLayer, Mamba2Layer, MixerState, ShortConvLayer


class MixerCache:
    """One mixer layer's cache: its state after `seen` positions; the same size at any length."""

    window = None

    def __init__(self):
        self.state: MixerState | None = None
        self.seen = 0

    def nbytes(self) -> int:
        return self.state.nbytes() if self.state is not None else 0

    def reserved_bytes(self) -> int:
        return self.nbytes()

    def __copy__(self) -> "MixerCache":
        # states are replaced, never written in place, so sharing the tensors is safe
        forked = MixerCache()
        forked.state, forked.seen = self.state, self.seen
        return forked

    def __len__(self) -> int:
        return self.seen


class MixerBlockLayer(nn.Module):
    """Adapts a mixer layer to the attention slot of a block."""

    # the analytic cost component of the products this module runs itself, and of its children's
    flop_component: tuple[str, str | None] = ("mixer", "mixer")

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.mixer = layer
        self.window = None

    def new_cache(self) -> MixerCache:
        return MixerCache()

    def forward(self, x, rope, cache: MixerCache | None, start: int):
        if cache is None:
            y, _ = self.mixer(x)
            return y
        y, cache.state = self.mixer(x, cache.state)
        cache.seen += x.shape[1]
        return y


def gated_deltanet(cfg, layer_index: int) -> MixerBlockLayer:
    return MixerBlockLayer(
        GatedDeltaNetLayer(
            cfg.d_model,
            n_k_heads=cfg.linear_k_heads,
            n_v_heads=cfg.linear_v_heads,
            head_k_dim=cfg.linear_k_head_dim,
            head_v_dim=cfg.linear_v_head_dim,
            conv_kernel=cfg.mixer_conv_kernel,
            eps=cfg.norm_eps,
            chunk_size=cfg.mixer_chunk_size,
        )
    )


def mamba2(cfg, layer_index: int) -> MixerBlockLayer:
    return MixerBlockLayer(
        Mamba2Layer(
            cfg.d_model,
            n_heads=cfg.ssm_heads,
            head_dim=cfg.ssm_head_dim,
            state_size=cfg.ssm_state_size,
            n_groups=cfg.ssm_groups,
            conv_kernel=cfg.mixer_conv_kernel,
            conv_bias=cfg.ssm_conv_bias,
            bias=cfg.ssm_bias,
            eps=cfg.norm_eps,
            chunk_size=cfg.mixer_chunk_size,
        )
    )


def short_conv(cfg, layer_index: int) -> MixerBlockLayer:
    return MixerBlockLayer(ShortConvLayer(cfg.d_model, conv_kernel=cfg.mixer_conv_kernel, bias=cfg.mixer_bias))


def gla(cfg, layer_index: int) -> MixerBlockLayer:
    return MixerBlockLayer(
        GatedLinearAttentionLayer(
            cfg.d_model,
            n_heads=cfg.linear_k_heads,
            head_k_dim=cfg.linear_k_head_dim,
            head_v_dim=cfg.linear_v_head_dim,
            eps=cfg.norm_eps,
            chunk_size=cfg.mixer_chunk_size,
        )
    )


MIXERS = {"gated_deltanet": gated_deltanet, "mamba2": mamba2, "short_conv": short_conv, "gla": gla}


def init_mixer_(module: nn.Module) -> None:
    """Mixer parameters whose scale is part of the method (decays, time steps, skips) get the
    published initialisation back after the generic N(0, 0.02) pass. GLA has none: fla initialises
    it with the generic pass (normal weights, zero gate bias, unit norm weight)."""
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, GatedDeltaNetLayer):
                layer.dt_bias.fill_(1.0)
                layer.A_log.copy_(torch.linspace(0.01, 16, layer.A_log.numel()).log())
                layer.norm.weight.fill_(1.0)
            elif isinstance(layer, Mamba2Layer):
                layer.dt_bias.fill_(1.0)
                layer.A_log.copy_(torch.arange(1, layer.A_log.numel() + 1, dtype=torch.float32).log())
                layer.D.fill_(1.0)
                layer.norm.weight.fill_(1.0)
