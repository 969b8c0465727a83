"""Gated linear attention (Yang et al. 2023, arXiv:2312.06635): a linear-attention state decayed
per key dimension by data-dependent log-space gates; recurrent step and chunked form."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from suite.config import gla_sub_chunk


def gla_step(
    q: torch.Tensor,  # (B, H, Dk)
    k: torch.Tensor,  # (B, H, Dk)
    v: torch.Tensor,  # (B, H, Dv)
    gk: torch.Tensor,  # (B, H, Dk): log decay, <= 0
    state: torch.Tensor,  # (B, H, Dk, Dv)
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One recurrent step S = diag(exp(gk)) S + k^T v, o = (q * scale) S, as fla `naive_recurrent_gla`."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    dtype = v.dtype
    q, k, v, gk = (t.float() for t in (q, k, v, gk))
    # the write and the read as batched matmuls, which FlopCounterMode counts (2 x 2·Dk·Dv per head)
    state = state.float() * gk.exp().unsqueeze(-1) + k.unsqueeze(-1) @ v.unsqueeze(-2)
    out = ((q * scale).unsqueeze(-2) @ state).squeeze(-2)  # (B, H, Dv)
    return out.to(dtype), state


def gla_chunked(
    q: torch.Tensor,  # (B, T, H, Dk)
    k: torch.Tensor,  # (B, T, H, Dk)
    v: torch.Tensor,  # (B, T, H, Dv)
    gk: torch.Tensor,  # (B, T, H, Dk): log decay, <= 0
    chunk_size: int = 64,
    initial_state: torch.Tensor | None = None,  # (B, H, Dk, Dv)
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GLA in chunks: parallel inside a chunk, recurrent across chunks (GLA paper sec. 4, fla `chunk_gla`)."""
    b, t, h, dk = q.shape
    dv, dtype = v.shape[-1], v.dtype
    scale = dk**-0.5 if scale is None else scale
    # diagonal sub-blocks pairwise, the blocks below them factorised against a reference point between
    # them (every exponent <= 0, so nothing overflows however strong the decay)
    sub = gla_sub_chunk(chunk_size)
    pad = (chunk_size - t % chunk_size) % chunk_size
    # Padded steps have k = v = 0 and gk = 0 (no decay), so the final state is the state at t.
    q, k, v, gk = (F.pad(x.float().transpose(1, 2), (0, 0, 0, pad)) for x in (q, k, v, gk))
    n, s = (t + pad) // chunk_size, chunk_size // sub
    q = q * scale
    q, k, gk = (x.reshape(b, h, n, s, sub, dk) for x in (q, k, gk))  # (B, H, N, S, c, Dk)
    v = v.reshape(b, h, n, chunk_size, dv)  # (B, H, N, C, Dv)
    g = gk.reshape(b, h, n, chunk_size, dk).cumsum(3).reshape(b, h, n, s, sub, dk)

    # Diagonal sub-blocks, pairwise: A[i, j] = sum_d q_id k_jd exp(g_id - g_jd) for j <= i.
    causal = torch.ones(sub, sub, dtype=torch.bool, device=q.device).tril()
    rel = (g.unsqueeze(-2) - g.unsqueeze(-3)).masked_fill(~causal[:, :, None], float("-inf"))
    diag = torch.einsum("...id,...jd,...ijd->...ij", q, k, rel.exp())  # (B, H, N, S, c, c)

    # Blocks below the diagonal: reference r_s = g just before sub-block s starts, so that
    # g_i <= r_s for queries in s and g_j >= r_s for keys in earlier sub-blocks.
    ref = torch.cat([torch.zeros_like(g[..., :1, :1, :]), g[..., :-1, -1:, :]], dim=3)  # (B, H, N, S, 1, Dk)
    q_ref = q * (g - ref).exp()
    below = torch.ones(s, s, dtype=torch.bool, device=q.device).tril(-1)  # key block t < query block s
    k_exp = ref.unsqueeze(4) - g.unsqueeze(3)  # (B, H, N, S_q, S_k, c, Dk)
    k_ref = k.unsqueeze(3) * k_exp.masked_fill(~below[:, :, None, None], float("-inf")).exp()
    attn = torch.einsum("...sid,...stjd->...stij", q_ref, k_ref)  # (B, H, N, S, S, c, c)
    attn = attn + torch.eye(s, device=q.device)[:, :, None, None] * diag.unsqueeze(4)
    attn = attn.transpose(4, 5).reshape(b, h, n, chunk_size, chunk_size)  # (B, H, N, C, C)

    g = g.reshape(b, h, n, chunk_size, dk)
    q = q.reshape(b, h, n, chunk_size, dk)
    k = k.reshape(b, h, n, chunk_size, dk)
    q_in = q * g.exp()  # reads the chunk's start state
    k_out = k * (g[..., -1:, :] - g).exp()  # writes into its end state
    state = q.new_zeros(b, h, dk, dv) if initial_state is None else initial_state.float()
    out = torch.empty_like(v)
    for i in range(n):
        out[:, :, i] = q_in[:, :, i] @ state + attn[:, :, i] @ v[:, :, i]
        state = state * g[:, :, i, -1].exp().unsqueeze(-1) + k_out[:, :, i].transpose(-1, -2) @ v[:, :, i]
    out = out.reshape(b, h, n * chunk_size, dv)[:, :, :t]
    return out.transpose(1, 2).to(dtype), state  # (B, T, H, Dv), (B, H, Dk, Dv)
