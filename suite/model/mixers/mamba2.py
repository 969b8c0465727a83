"""Mamba-2 selective state space, SSD form (Dao & Gu 2024, arXiv:2405.21060): a scalar decay per
head, input-dependent dt, B and C shared by head groups, D skip; recurrent step and chunked form."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def segsum(a: torch.Tensor) -> torch.Tensor:
    """(..., C) -> (..., C, C): sum of a[j+1..i] for j <= i, -inf above, as transformers `segment_sum`."""
    c = a.shape[-1]
    a = a.unsqueeze(-1).expand(*a.shape, c)  # a[..., i, j] = a_i
    a = a.masked_fill(~torch.ones(c, c, dtype=torch.bool, device=a.device).tril(-1), 0)
    out = a.cumsum(-2)  # cumsum, not differences, for stability
    return out.masked_fill(~torch.ones(c, c, dtype=torch.bool, device=a.device).tril(), -math.inf)


def _discretise_dt(dt, dt_bias, dt_softplus, dt_limit):
    dt = dt.float()
    if dt_bias is not None:
        dt = dt + dt_bias.float()
    if dt_softplus:
        dt = F.softplus(dt)
    return dt.clamp(dt_limit[0], dt_limit[1])


def mamba2_step(
    x: torch.Tensor,  # (B, H, P)
    dt: torch.Tensor,  # (B, H): raw time step, before dt_bias and softplus
    A: torch.Tensor,  # (H,): negative, -exp(A_log)
    B: torch.Tensor,  # (B, G, N)
    C: torch.Tensor,  # (B, G, N)
    state: torch.Tensor,  # (B, H, P, N)
    D: torch.Tensor | None = None,  # (H,)
    dt_bias: torch.Tensor | None = None,  # (H,)
    dt_softplus: bool = True,
    dt_limit: tuple[float, float] = (0.0, math.inf),
) -> tuple[torch.Tensor, torch.Tensor]:
    """h = exp(dt A) h + dt B x, y = C h + D x, as transformers `mamba2_selective_state_update` (+ dt_limit)."""
    dtype, heads = x.dtype, x.shape[1]
    dt = _discretise_dt(dt, dt_bias, dt_softplus, dt_limit)  # (B, H)
    B, C = (z.float().repeat_interleave(heads // z.shape[1], dim=1) for z in (B, C))  # (B, H, N)
    xf = x.float()
    decay = (dt * A.float()).exp()[..., None, None]  # (B, H, 1, 1)
    # two products per head (write, read) as batched matmuls, which FlopCounterMode counts
    state = state.float() * decay + (dt[..., None] * xf).unsqueeze(-1) @ B.unsqueeze(-2)
    y = (state @ C.unsqueeze(-1)).squeeze(-1)  # (B, H, P)
    if D is not None:
        y = y + D.float()[:, None] * xf
    return y.to(dtype), state


def mamba2_chunked(
    x: torch.Tensor,  # (B, T, H, P)
    dt: torch.Tensor,  # (B, T, H)
    A: torch.Tensor,  # (H,)
    B: torch.Tensor,  # (B, T, G, N)
    C: torch.Tensor,  # (B, T, G, N)
    D: torch.Tensor | None = None,
    dt_bias: torch.Tensor | None = None,
    chunk_size: int = 64,
    initial_state: torch.Tensor | None = None,  # (B, H, P, N)
    dt_softplus: bool = True,
    dt_limit: tuple[float, float] = (0.0, math.inf),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunked SSD (segsum inside chunks, a recurrence across them), as transformers `mamba2_chunk_scan`."""
    bsz, t, h, p = x.shape
    dtype, n_state = x.dtype, B.shape[-1]
    dt = _discretise_dt(dt, dt_bias, dt_softplus, dt_limit)  # (B, T, H)
    B, C = (z.float().repeat_interleave(h // z.shape[2], dim=2) for z in (B, C))  # (B, T, H, N)
    xf = x.float()
    skip = D.float()[:, None] * xf if D is not None else None
    pad = (chunk_size - t % chunk_size) % chunk_size
    n = (t + pad) // chunk_size
    # Padded steps have dt * x = 0 and dt * A = 0 (no decay): the final state is the state at t.
    xdt = F.pad(xf * dt[..., None], (0, 0, 0, 0, 0, pad)).reshape(bsz, n, chunk_size, h, p)
    B, C = (F.pad(z, (0, 0, 0, 0, 0, pad)).reshape(bsz, n, chunk_size, h, n_state) for z in (B, C))
    a = F.pad(dt * A.float(), (0, 0, 0, pad)).reshape(bsz, n, chunk_size, h).permute(0, 3, 1, 2)  # (B, H, N, C)
    a_cum = a.cumsum(-1)

    # Head-major (B, H, N, C, .) so every product below is one batched matmul.
    B, C, xdt = (z.permute(0, 3, 1, 2, 4) for z in (B, C, xdt))
    # Inside a chunk: attention-like scores C_l . B_s, masked by the decay from s to l.
    decay = segsum(a).exp()  # (B, H, N, C, C)
    y = ((C @ B.transpose(-1, -2)) * decay) @ xdt  # (B, H, N, C, P)
    # Each chunk's own contribution to the state at its end.
    to_end = (a_cum[..., -1:] - a_cum).exp()  # (B, H, N, C)
    chunk_states = (xdt * to_end[..., None]).transpose(-1, -2) @ B  # (B, H, N, P, N_state)
    from_start = a_cum.exp()  # (B, H, N, C)

    state = xf.new_zeros(bsz, h, p, n_state) if initial_state is None else initial_state.float()
    for i in range(n):
        y[:, :, i] += (C[:, :, i] @ state.transpose(-1, -2)) * from_start[:, :, i, :, None]
        state = state * a_cum[:, :, i, -1, None, None].exp() + chunk_states[:, :, i]
    y = y.permute(0, 2, 3, 1, 4).reshape(bsz, n * chunk_size, h, p)[:, :t]
    if skip is not None:
        y = y + skip
    return y.to(dtype), state  # (B, T, H, P), (B, H, P, N)
