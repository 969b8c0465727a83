"""Normalisation layers, chosen by `ModelConfig.norm`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # computed in fp32 like the reference implementations, then cast back
        return F.rms_norm(x.float(), self.weight.shape, self.weight.float(), self.eps).to(x.dtype)


def layer_norm(dim: int, eps: float, bias: bool) -> nn.Module:
    return nn.LayerNorm(dim, eps=eps, bias=bias)


NORMS = {
    "layernorm": lambda cfg, dim: layer_norm(dim, cfg.norm_eps, cfg.norm_bias),
    "rmsnorm": lambda cfg, dim: RMSNorm(dim, cfg.norm_eps),
}


def make_norm(cfg, dim: int | None = None) -> nn.Module:
    return NORMS[cfg.norm](cfg, dim or cfg.d_model)


def rms_norm(dim: int, eps: float) -> nn.Module:
    """QK-norm and MLA's latent norms are RMSNorm whatever the block norm is."""
    return RMSNorm(dim, eps)
