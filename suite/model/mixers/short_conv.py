"""Depthwise causal short convolution (shared by Gated DeltaNet and Mamba-2) and the LFM2 gated
short-convolution mixer, each in a whole-sequence form and a one-token step."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _activate(y: torch.Tensor, activation: str | None) -> torch.Tensor:
    if activation is None:
        return y
    if activation in ("silu", "swish"):
        return F.silu(y)
    raise ValueError(f"unknown conv activation {activation!r}; expected None or 'silu'")


def causal_conv1d(
    x: torch.Tensor,  # (B, T, C)
    weight: torch.Tensor,  # (C, w): nn.Conv1d(groups=C).weight.squeeze(1)
    bias: torch.Tensor | None = None,  # (C,)
    state: torch.Tensor | None = None,  # (B, C, w-1): the inputs before x, oldest first
    activation: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Depthwise causal conv over a sequence, as transformers' `causal_conv1d_fn` (plus a carried state)."""
    b, t, c = x.shape
    w = weight.shape[-1]
    xt = x.transpose(1, 2).to(weight.dtype)  # (B, C, T)
    if state is None:
        state = xt.new_zeros(b, c, w - 1)
    xp = torch.cat([state.to(xt), xt], dim=-1)  # (B, C, w-1+T)
    y = F.conv1d(xp, weight.unsqueeze(1), bias, groups=c)  # (B, C, T)
    # (B, C, w-1); T < w-1 keeps old inputs. A copy: a view would keep the whole padded input alive
    # in the "fixed-size" state (measured: 6.3 MB held after a 4k prefill of a tiny proxy)
    new_state = xp[..., xp.shape[-1] - (w - 1) :].clone()
    # Back to (B, T, C) before the activation, so that it and its backward run on the layout the
    # gradients arrive in (measured: silu's backward across the two layouts is ~4x slower).
    return _activate(y.transpose(1, 2).contiguous(), activation).to(x.dtype), new_state


def causal_conv1d_step(
    x: torch.Tensor,  # (B, C): one token
    weight: torch.Tensor,  # (C, w)
    bias: torch.Tensor | None,  # (C,)
    state: torch.Tensor,  # (B, C, w-1)
    activation: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One decode step of the causal conv, as transformers' `causal_conv1d_update` (state of w-1, not w)."""
    window = torch.cat([state.to(weight.dtype), x.to(weight.dtype).unsqueeze(-1)], dim=-1)  # (B, C, w)
    y = F.conv1d(window, weight.unsqueeze(1), bias, groups=window.shape[1]).squeeze(-1)  # (B, C), one output
    return _activate(y, activation).to(x.dtype), window[..., 1:]


def short_conv_chunked(
    x: torch.Tensor,  # (B, T, C): the three in_proj outputs, split
    b: torch.Tensor,  # (B, T, C): input gate
    c: torch.Tensor,  # (B, T, C): output gate
    weight: torch.Tensor,  # (C, w)
    bias: torch.Tensor | None = None,
    initial_state: torch.Tensor | None = None,  # (B, C, w-1)
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gated short conv y = c * conv(b * x), as transformers `Lfm2ShortConv.forward` (all positions at once)."""
    y, state = causal_conv1d(b * x, weight, bias, initial_state)
    return c * y, state


def short_conv_step(
    x: torch.Tensor,  # (B, C)
    b: torch.Tensor,  # (B, C)
    c: torch.Tensor,  # (B, C)
    weight: torch.Tensor,  # (C, w)
    bias: torch.Tensor | None,
    state: torch.Tensor,  # (B, C, w-1)
) -> tuple[torch.Tensor, torch.Tensor]:
    """One decode step of the gated short conv, as `Lfm2ShortConv` with a cache."""
    y, state = causal_conv1d_step(b * x, weight, bias, state)
    return c * y, state
