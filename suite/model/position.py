"""Rotary position embeddings: frequency schedules (default, linear, llama3, yarn) and their application.

Learned absolute positions live in the decoder (an embedding table); `none` needs nothing.
Schedules follow the published formulas (transformers' `modeling_rope_utils`), computed in fp32.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _base_inv_freq(theta: float, dim: int) -> torch.Tensor:
    return 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))


def _default(cfg, theta, dim):
    return _base_inv_freq(theta, dim), 1.0


def _linear(cfg, theta, dim):
    return _base_inv_freq(theta, dim) / cfg.rope_factor, 1.0


def _llama3(cfg, theta, dim):
    inv_freq = _base_inv_freq(theta, dim)
    factor, low, high = cfg.rope_factor, cfg.rope_low_freq_factor, cfg.rope_high_freq_factor
    old_context = cfg.rope_original_context
    low_freq_wavelen, high_freq_wavelen = old_context / low, old_context / high
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_context / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return torch.where(medium, smoothed, scaled), 1.0


def _yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def _yarn(cfg, theta, dim):
    factor = cfg.rope_factor
    if cfg.rope_mscale and cfg.rope_mscale_all_dim:
        attention_factor = _yarn_mscale(factor, cfg.rope_mscale) / _yarn_mscale(factor, cfg.rope_mscale_all_dim)
    else:
        attention_factor = _yarn_mscale(factor)

    def correction_dim(rotations: float) -> float:
        return dim * math.log(cfg.rope_original_context / (rotations * 2 * math.pi)) / (2 * math.log(theta))

    low, high = correction_dim(cfg.rope_beta_fast), correction_dim(cfg.rope_beta_slow)
    if cfg.rope_truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001
    ramp = ((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low)).clamp(0, 1)
    extrapolation = 1 - ramp
    pos_freqs = theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)
    inv_freq = (1.0 / (factor * pos_freqs)) * (1 - extrapolation) + (1.0 / pos_freqs) * extrapolation
    return inv_freq, attention_factor


ROPE_SCALINGS = {"none": _default, "linear": _linear, "llama3": _llama3, "yarn": _yarn}


class Rotary(nn.Module):
    """cos/sin tables for a layer kind; sliding layers may use their own base (Gemma-3's local theta)."""

    def __init__(self, cfg, layer_kind: str = "full"):
        super().__init__()
        dim = cfg.rotary_dim
        if layer_kind == "sliding" and cfg.rope_theta_local is not None:
            inv_freq, self.attention_factor = _default(cfg, cfg.rope_theta_local, dim)
        else:
            inv_freq, self.attention_factor = ROPE_SCALINGS[cfg.rope_scaling](cfg, cfg.rope_theta, dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.interleaved = cfg.rope_interleaved

    def forward(self, positions: torch.Tensor, dtype: torch.dtype):
        # positions: (T,) -> cos, sin: (T, rotary_dim)
        freqs = positions.float()[:, None] * self.inv_freq.to(positions.device)[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return (emb.cos() * self.attention_factor).to(dtype), (emb.sin() * self.attention_factor).to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool = False) -> torch.Tensor:
    """Rotate the first cos.shape[-1] features of x (B, H, T, D); the rest pass through (partial rotary)."""
    rot = cos.shape[-1]
    # under autocast q/k come out of the projections in bf16 while the tables are fp32: keep x's dtype
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    x_rot, x_pass = x[..., :rot], x[..., rot:]
    if interleaved:
        # (even, odd) pairs -> halves; the same permutation on q and k leaves q.k unchanged
        b, h, t, d = x_rot.shape
        x_rot = x_rot.reshape(b, h, t, d // 2, 2).transpose(-1, -2).reshape(b, h, t, d)
    x_rot = x_rot * cos + _rotate_half(x_rot) * sin
    return torch.cat((x_rot, x_pass), dim=-1) if x_pass.shape[-1] else x_rot
