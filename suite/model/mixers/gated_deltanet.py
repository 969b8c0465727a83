"""Gated DeltaNet (Yang et al. 2024, arXiv:2412.06464) as in Qwen3-Next: a delta-rule state with a
scalar log decay per head, l2-normalised q/k, recurrent step and chunked (UT transform) form."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def l2norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """x / sqrt(|x|^2 + eps) over the last dim, as transformers `qwen3_next.l2norm` (FLA's convention)."""
    return x * torch.rsqrt((x * x).sum(dim=-1, keepdim=True) + eps)


def gated_delta_gates(
    a: torch.Tensor,  # (..., Hv): decay logits from in_proj_ba
    b: torch.Tensor,  # (..., Hv): write-strength logits
    A_log: torch.Tensor,  # (Hv,)
    dt_bias: torch.Tensor,  # (Hv,)
) -> tuple[torch.Tensor, torch.Tensor]:
    """g = -exp(A_log) * softplus(a + dt_bias) and beta = sigmoid(b), as `Qwen3NextGatedDeltaNet.forward`."""
    g = -A_log.float().exp() * F.softplus(a.float() + dt_bias)
    return g, b.sigmoid()


def _prepare(q, k, v, use_qk_l2norm):
    # Grouped value heads: each q/k head serves Hv // Hk consecutive value heads.
    hk, hv = k.shape[-2], v.shape[-2]
    if hk != hv:
        q, k = (x.repeat_interleave(hv // hk, dim=-2) for x in (q, k))
    q, k, v = (x.float() for x in (q, k, v))
    if use_qk_l2norm:
        q, k = l2norm(q), l2norm(k)
    return q * q.shape[-1] ** -0.5, k, v


def gated_delta_step(
    q: torch.Tensor,  # (B, Hk, Dk)
    k: torch.Tensor,  # (B, Hk, Dk)
    v: torch.Tensor,  # (B, Hv, Dv)
    g: torch.Tensor,  # (B, Hv): log decay, <= 0
    beta: torch.Tensor,  # (B, Hv): in (0, 1)
    state: torch.Tensor,  # (B, Hv, Dk, Dv)
    use_qk_l2norm: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step S = a S + beta k (v - k^T a S)^T, o = q S, as transformers `torch_recurrent_gated_delta_rule`."""
    dtype = v.dtype
    q, k, v = _prepare(q, k, v, use_qk_l2norm)
    state = state.float() * g.float().exp()[..., None, None]
    # three products per head (read, write, output): batched matmuls, which FlopCounterMode counts
    recalled = (k.unsqueeze(-2) @ state).squeeze(-2)  # (B, Hv, Dv)
    delta = (v - recalled) * beta.float().unsqueeze(-1)
    state = state + k.unsqueeze(-1) @ delta.unsqueeze(-2)
    return (q.unsqueeze(-2) @ state).squeeze(-2).to(dtype), state  # (B, Hv, Dv), (B, Hv, Dk, Dv)


def gated_delta_chunked(
    q: torch.Tensor,  # (B, T, Hk, Dk)
    k: torch.Tensor,  # (B, T, Hk, Dk)
    v: torch.Tensor,  # (B, T, Hv, Dv)
    g: torch.Tensor,  # (B, T, Hv)
    beta: torch.Tensor,  # (B, T, Hv)
    chunk_size: int = 64,
    initial_state: torch.Tensor | None = None,  # (B, Hv, Dk, Dv)
    use_qk_l2norm: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunked gated delta rule (WY/UT transform per chunk), as transformers `torch_chunk_gated_delta_rule`."""
    bsz, t, dtype = q.shape[0], q.shape[1], v.dtype
    q, k, v = _prepare(q, k, v, use_qk_l2norm)
    h, dk, dv = v.shape[2], k.shape[-1], v.shape[-1]
    pad = (chunk_size - t % chunk_size) % chunk_size
    # Padded steps have k = v = beta = 0 and g = 0: they leave the state as it was at t.
    q, k, v = (F.pad(x.transpose(1, 2), (0, 0, 0, pad)) for x in (q, k, v))  # (B, H, T', D)
    beta, g = (F.pad(x.float().transpose(1, 2), (0, pad)) for x in (beta, g))  # (B, H, T')
    n = (t + pad) // chunk_size
    k_beta, v_beta = k * beta.unsqueeze(-1), v * beta.unsqueeze(-1)
    q, k, k_beta, v_beta = (x.reshape(bsz, h, n, chunk_size, -1) for x in (q, k, k_beta, v_beta))
    g = g.reshape(bsz, h, n, chunk_size).cumsum(-1)  # (B, H, N, C) log decay from chunk start
    upper = torch.ones(chunk_size, chunk_size, dtype=torch.bool, device=q.device).triu(1)
    decay = (g.unsqueeze(-1) - g.unsqueeze(-2)).masked_fill(upper, float("-inf")).exp()  # (B, H, N, C, C)

    # UT transform: (I + strictly_lower(beta K K^T * decay)) [u, w] = [beta V, beta K exp(g)],
    # condensing the chunk's delta-rule updates into matmuls (u: values, w: keys reading the old state).
    system = (k_beta @ k.transpose(-1, -2)) * decay
    u = torch.linalg.solve_triangular(system, v_beta, upper=False, unitriangular=True)
    w = torch.linalg.solve_triangular(system, k_beta * g.exp().unsqueeze(-1), upper=False, unitriangular=True)
    attn = (q @ k.transpose(-1, -2)) * decay  # (B, H, N, C, C)
    q_in = q * g.exp().unsqueeze(-1)
    k_out = k * (g[..., -1:] - g).exp().unsqueeze(-1)

    state = q.new_zeros(bsz, h, dk, dv) if initial_state is None else initial_state.float()
    out = torch.empty_like(u)
    for i in range(n):
        v_new = u[:, :, i] - w[:, :, i] @ state  # only what the state does not predict
        out[:, :, i] = q_in[:, :, i] @ state + attn[:, :, i] @ v_new
        state = state * g[:, :, i, -1, None, None].exp() + k_out[:, :, i].transpose(-1, -2) @ v_new
    out = out.reshape(bsz, h, n * chunk_size, dv)[:, :, :t]
    return out.transpose(1, 2).to(dtype), state  # (B, T, Hv, Dv), (B, Hv, Dk, Dv)
