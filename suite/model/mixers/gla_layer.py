"""Gated linear attention (Yang et al. 2023, arXiv:2312.06635) as a layer: flash-linear-attention's
`fla.layers.GatedLinearAttention` with its defaults (no short conv, swish output gate, norm then gate).

Parameter names and shapes are fla's, except that fla's fused norm (fuse_norm=True) stores its weight
as `g_norm_swish_gate`; the math is the same as its unfused `g_norm`, the name used here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from suite.model.mixers.gla import gla_chunked, gla_step
from suite.model.mixers.layers import GatedRMSNorm, MixerState

GATE_LOW_RANK = 16  # fla gate_low_rank_dim: the decay gate is a rank-16 projection
GATE_LOGIT_NORMALIZER = 16  # fla gate_logit_normalizer: keeps the initial decay close to 1


class GatedLinearAttentionLayer(nn.Module):
    """q, k, v and an output gate g from the input, a per-key-dimension log decay
    gk = logsigmoid(gk_proj(x)) / 16, the GLA recurrence, RMSNorm per head gated by swish(g), o_proj."""

    def __init__(
        self, d_model: int, *, n_heads: int, head_k_dim: int, head_v_dim: int, eps: float = 1e-5, chunk_size: int = 64
    ):
        super().__init__()
        self.h, self.dk, self.dv, self.chunk_size = n_heads, head_k_dim, head_v_dim, chunk_size
        key_dim, value_dim = n_heads * head_k_dim, n_heads * head_v_dim
        self.q_proj = nn.Linear(d_model, key_dim, bias=False)
        self.k_proj = nn.Linear(d_model, key_dim, bias=False)
        self.v_proj = nn.Linear(d_model, value_dim, bias=False)
        self.g_proj = nn.Linear(d_model, value_dim, bias=False)
        self.gk_proj = nn.Sequential(
            nn.Linear(d_model, GATE_LOW_RANK, bias=False), nn.Linear(GATE_LOW_RANK, key_dim, bias=True)
        )
        self.g_norm = GatedRMSNorm(head_v_dim, eps)
        self.o_proj = nn.Linear(value_dim, d_model, bias=False)

    def forward(self, x: torch.Tensor, state: MixerState | None = None) -> tuple[torch.Tensor, MixerState]:
        b_, t = x.shape[:2]
        heads = lambda y, dim: y.view(b_, t, self.h, dim)
        q, k, v = heads(self.q_proj(x), self.dk), heads(self.k_proj(x), self.dk), heads(self.v_proj(x), self.dv)
        gk = F.logsigmoid(heads(self.gk_proj(x), self.dk)) / GATE_LOGIT_NORMALIZER
        recurrent = state.recurrent if state is not None else None
        if recurrent is not None and t == 1:
            out, recurrent = gla_step(q[:, 0], k[:, 0], v[:, 0], gk[:, 0], recurrent)
            out = out.unsqueeze(1)
        else:
            out, recurrent = gla_chunked(q, k, v, gk, self.chunk_size, recurrent)
        out = self.g_norm(out, heads(self.g_proj(x), self.dv)).reshape(b_, t, -1)
        return self.o_proj(out), MixerState(recurrent=recurrent)

    def new_state(self, batch: int, dtype=torch.float32, device=None) -> MixerState:
        # no conv tail: the whole state is the (B, H, Dk, Dv) fp32 recurrent state
        return MixerState(recurrent=torch.zeros(batch, self.h, self.dk, self.dv, dtype=torch.float32, device=device))
