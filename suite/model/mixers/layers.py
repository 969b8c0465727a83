"""The mixers as layers: projections and gates around the kernels, one fixed-size state each.

Parameter names and shapes follow the transformers modules they reproduce, so a checkpoint's
weights load without renaming: `Qwen3NextGatedDeltaNet`, `Mamba2Mixer`, `Lfm2ShortConv`.

Every layer has `forward(x, state=None) -> (y, state)`. Without a state the whole sequence runs in
the chunked form; a state continues a sequence (prefill chunk by chunk, or decode one token with
the recurrent step). The state never grows with the sequence: that is what these mixers buy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from suite.model.mixers.gated_deltanet import gated_delta_chunked, gated_delta_gates, gated_delta_step
from suite.model.mixers.mamba2 import mamba2_chunked, mamba2_step
from suite.model.mixers.short_conv import causal_conv1d, causal_conv1d_step, short_conv_chunked, short_conv_step


@dataclass
class MixerState:
    """What a mixer carries between calls: the last w-1 conv inputs and the recurrent state."""

    conv: torch.Tensor | None = None  # (B, C, w-1)
    recurrent: torch.Tensor | None = None  # (B, H, Dk, Dv) or (B, H, P, N)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (self.conv, self.recurrent) if t is not None)


def _depthwise_conv(channels: int, kernel: int, bias: bool) -> nn.Conv1d:
    # nn.Conv1d only for its (C, 1, w) weight layout, which is what checkpoints store
    return nn.Conv1d(channels, channels, kernel, groups=channels, bias=bias, padding=kernel - 1)


def _conv(x: torch.Tensor, conv: nn.Conv1d, state: MixerState | None, activation: str | None):
    """The causal conv over (B, T, C), continuing from the state's conv tail when there is one."""
    weight = conv.weight.squeeze(1)
    tail = state.conv if state is not None else None
    if tail is not None and x.shape[1] == 1:
        y, tail = causal_conv1d_step(x[:, 0], weight, conv.bias, tail, activation)
        return y.unsqueeze(1), tail
    return causal_conv1d(x, weight, conv.bias, tail, activation)


class GatedRMSNorm(nn.Module):
    """RMSNorm over groups of the last dim, multiplied by silu(gate): norm first (Qwen3-Next) or gate first
    (Mamba-2), the two conventions of the released models."""

    def __init__(self, dim: int, eps: float, *, group_size: int | None = None, gate_first: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps, self.group_size, self.gate_first = eps, group_size or dim, gate_first

    def forward(self, x: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        h = x.float()
        if self.gate_first:
            h = h * F.silu(gate.float())
        groups = h.reshape(*h.shape[:-1], -1, self.group_size)
        h = (groups * torch.rsqrt(groups.pow(2).mean(-1, keepdim=True) + self.eps)).reshape(h.shape)
        if self.gate_first:
            return self.weight * h.to(dtype)
        return (self.weight * h.to(dtype) * F.silu(gate.float())).to(dtype)


class GatedDeltaNetLayer(nn.Module):
    """Qwen3-Next's linear-attention layer: fused qkvz/ba projections grouped per key head, a short
    causal conv (silu) over q, k, v, the gated delta rule, a gated RMSNorm by z, the output projection."""

    def __init__(
        self,
        d_model: int,
        *,
        n_k_heads: int,
        n_v_heads: int,
        head_k_dim: int,
        head_v_dim: int,
        conv_kernel: int = 4,
        eps: float = 1e-6,
        chunk_size: int = 64,
    ):
        super().__init__()
        if n_v_heads % n_k_heads:
            raise ValueError(f"n_v_heads ({n_v_heads}) must be a multiple of n_k_heads ({n_k_heads})")
        self.hk, self.hv, self.dk, self.dv, self.chunk_size = n_k_heads, n_v_heads, head_k_dim, head_v_dim, chunk_size
        key_dim, value_dim = n_k_heads * head_k_dim, n_v_heads * head_v_dim
        self.conv1d = _depthwise_conv(2 * key_dim + value_dim, conv_kernel, bias=False)
        self.in_proj_qkvz = nn.Linear(d_model, 2 * key_dim + 2 * value_dim, bias=False)
        self.in_proj_ba = nn.Linear(d_model, 2 * n_v_heads, bias=False)
        self.dt_bias = nn.Parameter(torch.ones(n_v_heads))
        self.A_log = nn.Parameter(torch.log(torch.empty(n_v_heads).uniform_(0.01, 16)))
        self.norm = GatedRMSNorm(head_v_dim, eps)
        self.out_proj = nn.Linear(value_dim, d_model, bias=False)

    def _split(self, x: torch.Tensor):
        # The projections are laid out per key head: [q, k, v-group, z-group] and [b-group, a-group].
        b_, t = x.shape[:2]
        per = self.hv // self.hk
        qkvz = self.in_proj_qkvz(x).view(b_, t, self.hk, 2 * self.dk + 2 * per * self.dv)
        q, k, v, z = qkvz.split([self.dk, self.dk, per * self.dv, per * self.dv], dim=-1)
        beta, a = self.in_proj_ba(x).view(b_, t, self.hk, 2 * per).split([per, per], dim=-1)
        flat = lambda y: y.reshape(b_, t, -1)
        # z contiguous: its gate (silu) and that backward are several times slower on a strided view
        return flat(q), flat(k), flat(v), z.reshape(b_, t, self.hv, self.dv).contiguous(), flat(beta), flat(a)

    def forward(self, x: torch.Tensor, state: MixerState | None = None) -> tuple[torch.Tensor, MixerState]:
        b_, t = x.shape[:2]
        q, k, v, z, beta_logit, a = self._split(x)
        qkv, conv_tail = _conv(torch.cat([q, k, v], dim=-1), self.conv1d, state, "silu")
        key_dim = self.hk * self.dk
        q, k, v = qkv.split([key_dim, key_dim, self.hv * self.dv], dim=-1)
        q, k = q.view(b_, t, self.hk, self.dk), k.view(b_, t, self.hk, self.dk)
        v = v.view(b_, t, self.hv, self.dv)
        g, beta = gated_delta_gates(a, beta_logit, self.A_log, self.dt_bias)
        recurrent = state.recurrent if state is not None else None
        if recurrent is not None and t == 1:
            out, recurrent = gated_delta_step(q[:, 0], k[:, 0], v[:, 0], g[:, 0], beta[:, 0], recurrent)
            out = out.unsqueeze(1)
        else:
            out, recurrent = gated_delta_chunked(q, k, v, g, beta, self.chunk_size, recurrent)
        out = self.norm(out, z).reshape(b_, t, -1)
        return self.out_proj(out), MixerState(conv_tail, recurrent)

    def new_state(self, batch: int, dtype=torch.float32, device=None) -> MixerState:
        conv = self.conv1d
        return MixerState(
            torch.zeros(batch, conv.in_channels, conv.kernel_size[0] - 1, dtype=dtype, device=device),
            torch.zeros(batch, self.hv, self.dk, self.dv, dtype=torch.float32, device=device),
        )


class Mamba2Layer(nn.Module):
    """Mamba-2 (SSD) as `Mamba2Mixer`: one in_proj to [gate z, conv input (x, B, C), dt], a short causal
    conv (silu), the selective scan with D skip, a grouped RMSNorm gated by z (gate first), out_proj."""

    def __init__(
        self,
        d_model: int,
        *,
        n_heads: int,
        head_dim: int,
        state_size: int,
        n_groups: int = 1,
        conv_kernel: int = 4,
        conv_bias: bool = True,
        bias: bool = False,
        eps: float = 1e-5,
        chunk_size: int = 256,
        dt_limit: tuple[float, float] = (0.0, float("inf")),
    ):
        super().__init__()
        if n_heads % n_groups:
            raise ValueError(f"n_heads ({n_heads}) must be a multiple of n_groups ({n_groups})")
        self.h, self.p, self.n, self.g = n_heads, head_dim, state_size, n_groups
        self.chunk_size, self.dt_limit = chunk_size, tuple(dt_limit)
        inner = n_heads * head_dim
        self.inner = inner
        conv_dim = inner + 2 * n_groups * state_size
        self.conv1d = _depthwise_conv(conv_dim, conv_kernel, bias=conv_bias)
        self.in_proj = nn.Linear(d_model, inner + conv_dim + n_heads, bias=bias)
        self.dt_bias = nn.Parameter(torch.ones(n_heads))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n_heads + 1, dtype=torch.float32)))
        self.D = nn.Parameter(torch.ones(n_heads))
        self.norm = GatedRMSNorm(inner, eps, group_size=inner // n_groups, gate_first=True)
        self.out_proj = nn.Linear(inner, d_model, bias=bias)

    def forward(self, x: torch.Tensor, state: MixerState | None = None) -> tuple[torch.Tensor, MixerState]:
        b_, t = x.shape[:2]
        gn = self.g * self.n
        gate, xbc, dt = self.in_proj(x).split([self.inner, self.inner + 2 * gn, self.h], dim=-1)
        xbc, conv_tail = _conv(xbc, self.conv1d, state, "silu")
        xs, B, C = xbc.split([self.inner, gn, gn], dim=-1)
        A = -self.A_log.float().exp()
        recurrent = state.recurrent if state is not None else None
        if recurrent is not None and t == 1:
            y, recurrent = mamba2_step(
                xs[:, 0].view(b_, self.h, self.p), dt[:, 0], A, B[:, 0].view(b_, self.g, self.n),
                C[:, 0].view(b_, self.g, self.n), recurrent, self.D, self.dt_bias, dt_limit=self.dt_limit,
            )  # fmt: skip
        else:
            y, recurrent = mamba2_chunked(
                xs.view(b_, t, self.h, self.p), dt, A, B.view(b_, t, self.g, self.n), C.view(b_, t, self.g, self.n),
                self.D, self.dt_bias, self.chunk_size, recurrent, dt_limit=self.dt_limit,
            )  # fmt: skip
        y = self.norm(y.reshape(b_, t, self.inner), gate)
        return self.out_proj(y.to(x.dtype)), MixerState(conv_tail, recurrent)

    def new_state(self, batch: int, dtype=torch.float32, device=None) -> MixerState:
        conv = self.conv1d
        return MixerState(
            torch.zeros(batch, conv.in_channels, conv.kernel_size[0] - 1, dtype=dtype, device=device),
            torch.zeros(batch, self.h, self.p, self.n, dtype=torch.float32, device=device),
        )


class ShortConvLayer(nn.Module):
    """LFM2's gated short convolution as `Lfm2ShortConv`: in_proj to [B, C, x], y = C * conv(B * x), out_proj.
    Its whole state is the last w-1 inputs of the conv."""

    def __init__(self, d_model: int, *, conv_kernel: int = 3, bias: bool = False):
        super().__init__()
        self.conv = _depthwise_conv(d_model, conv_kernel, bias=bias)
        self.in_proj = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: torch.Tensor, state: MixerState | None = None) -> tuple[torch.Tensor, MixerState]:
        b, c, h = self.in_proj(x).chunk(3, dim=-1)
        weight, tail = self.conv.weight.squeeze(1), state.conv if state is not None else None
        if tail is not None and x.shape[1] == 1:
            y, tail = short_conv_step(h[:, 0], b[:, 0], c[:, 0], weight, self.conv.bias, tail)
            y = y.unsqueeze(1)
        else:
            y, tail = short_conv_chunked(h, b, c, weight, self.conv.bias, tail)
        return self.out_proj(y), MixerState(conv=tail)

    def new_state(self, batch: int, dtype=torch.float32, device=None) -> MixerState:
        conv = self.conv
        return MixerState(torch.zeros(batch, conv.in_channels, conv.kernel_size[0] - 1, dtype=dtype, device=device))
