"""DeepSeek Sparse Attention (attention 'dsa', DeepSeek-V3.2): MLA over each query's top-k keys.

A lightweight indexer (`index_heads` heads of `index_head_dim`, one shared key head) scores every key
a query may see: sum over its heads of w_h(x) * ReLU(q_h . k), w_h a projection of the token, q_h
from MLA's query latent, k a LayerNorm-ed projection of the token. RoPE rotates the first
qk_rope_head_dim features of q_h and k in halves, while MLA rotates (even, odd) pairs. MLA then
attends only to each query's `index_topk` best-scored keys. The layer's cache holds MLA's latent and
RoPE key plus the indexer's key per token, in one `LayerCache`.

This is the FP8-free reference of transformers' `DeepseekV32Attention` (parameters named as there):
DeepSeek's kernels quantise the indexer to FP8 and rotate it by a Hadamard transform, which leaves the
dot products unchanged. A decoded token gathers its k keys and decompresses only their latents; a
longer pass masks the full block. Ties in the index scores go to the earliest key, so the selection
is the same however the tokens are split into passes (torch.topk's order among ties is arbitrary).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from suite.model.attention import LatentAttention, LayerCache, allowed_mask, attend, eager_attention, sdpa_attention
from suite.model.position import apply_rotary


class Indexer(nn.Module):
    """Scores keys for each query and returns the top `index_topk` of them.

    It learns only from its own loss in DeepSeek-V3.2 (a KL term towards MLA's attention, on detached
    inputs), which archbench does not train: it runs without gradients, as in transformers, and its
    weights are frozen."""

    def __init__(self, cfg):
        super().__init__()
        self.heads, self.head_dim, self.topk = cfg.index_heads, cfg.index_head_dim, cfg.index_topk
        self.wq_b = nn.Linear(cfg.q_lora_rank, self.heads * self.head_dim, bias=False)
        self.wk = nn.Linear(cfg.d_model, self.head_dim, bias=False)
        self.k_norm = nn.LayerNorm(self.head_dim, eps=1e-6)  # 1e-6 whatever norm_eps is, as in DeepSeek's code
        self.weights_proj = nn.Linear(cfg.d_model, self.heads, bias=False)
        self.requires_grad_(False)

    @torch.no_grad()
    def forward(self, x, rope, q_latent=None, keys: torch.Tensor | None = None, allowed=None) -> torch.Tensor:
        """Two calls per pass, both through the module so that FLOP counting sees them as the indexer's:
        `indexer(x, rope)` gives the rotated keys (B, T, index_head_dim) of the new tokens (what the
        cache keeps); `indexer(x, rope, q_latent, keys, allowed)` the indices (B, T, min(topk, S)) of
        the keys each query keeps, `allowed` (T, S) being the causal mask."""
        if q_latent is None:
            k = self.k_norm(self.wk(x)).unsqueeze(1)  # (B, 1, T, D)
            return (apply_rotary(k, *rope, False) if rope is not None else k).squeeze(1)
        b, t, _ = x.shape
        q = self.wq_b(q_latent).view(b, t, self.heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        if rope is not None:
            q = apply_rotary(q, *rope, False)
        q = q.transpose(1, 2)  # (B, T, H, D)
        scores = F.relu(q.float() @ keys.float().transpose(-1, -2).unsqueeze(1) * self.head_dim**-0.5)  # (B,T,H,S)
        weights = self.weights_proj(x).float() * self.heads**-0.5  # (B, T, H)
        index = (weights.unsqueeze(-2) @ scores).squeeze(-2)  # (B, T, S)
        index = index.masked_fill(~allowed, float("-inf"))
        order = torch.sort(index, dim=-1, descending=True, stable=True).indices
        return order[..., : min(self.topk, index.shape[-1])]


class SparseLatentAttention(LatentAttention):
    """MLA whose queries attend only to the keys their indexer selects (DeepSeek-V3.2)."""

    # the analytic cost component of the products this module runs itself, and of its children's
    # (the indexer's own products are "indexer": suite.probes.analytic.CHILD_ATTRIBUTION)
    flop_component: tuple[str, str | None] = ("attention_scores", "attention_proj")

    def __init__(self, cfg, layer_index: int):
        super().__init__(cfg, layer_index)
        self.indexer = Indexer(cfg)

    def forward(self, x, rope, cache: LayerCache | None, start: int):
        cfg = self.cfg
        b, t, _ = x.shape
        h, dn, dr, dv, r = cfg.n_heads, cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim, cfg.kv_lora_rank
        q_latent = self.q_a_norm(self.q_a_proj(x))  # the indexer's queries start here too
        q = self.q_b_proj(q_latent).view(b, t, h, dn + dr).transpose(1, 2)  # (B, H, T, dn+dr)
        q_nope, q_rope = q.split((dn, dr), dim=-1)
        latent, k_rope = self.kv_a_proj(x).split((r, dr), dim=-1)
        latent = self.kv_a_norm(latent)  # (B, T, r)
        k_rope = k_rope.view(b, 1, t, dr)  # (B, 1, T, dr)
        if rope is not None:
            q_rope = apply_rotary(q_rope, *rope, cfg.rope_interleaved)
            k_rope = apply_rotary(k_rope, *rope, cfg.rope_interleaved)
        index_keys = self.indexer(x, rope)
        k_start = start
        if cache is not None:
            (latent, k_rope, index_keys), k_start = cache.update(latent, k_rope, index_keys)
        q = torch.cat((q_nope, q_rope), dim=-1)
        s = latent.shape[1]
        if s <= self.indexer.topk:  # every key a query may see is selected: plain MLA
            y = attend(self, q, *self._expand(latent, k_rope), start, k_start)
            return self.o_proj(y.transpose(1, 2).reshape(b, t, h * dv))
        allowed = allowed_mask(start, t, k_start, s, self.window, x.device)
        top = self.indexer(x, rope, q_latent, index_keys, allowed)  # (B, T, k)
        if t == 1:  # decoding: decompress and attend to the k selected keys only
            idx = top[:, 0, :]
            latent = latent.gather(1, idx[..., None].expand(-1, -1, r))
            k_rope = k_rope.gather(2, idx[:, None, :, None].expand(-1, 1, -1, dr))
            y = self._attend(q, *self._expand(latent, k_rope), None)
        else:  # several queries: the full block under the mask of each query's selection
            keep = torch.zeros(b, t, s, dtype=torch.bool, device=x.device).scatter_(-1, top, True) & allowed
            y = self._attend(q, *self._expand(latent, k_rope), keep.unsqueeze(1))
        return self.o_proj(y.transpose(1, 2).reshape(b, t, h * dv))

    def _expand(self, latent, k_rope) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of every head from the latents: (B, H, S, dn+dr), (B, H, S, dv)."""
        cfg = self.cfg
        b, s, h, dn, dv = latent.shape[0], latent.shape[1], cfg.n_heads, cfg.qk_nope_head_dim, cfg.v_head_dim
        kv = self.kv_b_proj(latent).view(b, s, h, dn + dv).transpose(1, 2)
        k_nope, v = kv.split((dn, dv), dim=-1)
        return torch.cat((k_nope, k_rope.expand(b, h, s, cfg.qk_rope_head_dim)), dim=-1), v

    def _attend(self, q, k, v, keep: torch.Tensor | None):
        """Attention under a (B, 1, T, S) selection mask, or over every key handed (None)."""
        cfg = self.cfg
        dropout_p = cfg.dropout if self.training else 0.0
        if cfg.attention_backend == "eager" or cfg.attn_softcap is not None:
            allowed = keep if keep is not None else torch.ones(1, 1, 1, k.shape[-2], dtype=torch.bool, device=q.device)
            return eager_attention(
                q, k, v, allowed, scale=cfg.softmax_scale, softcap=cfg.attn_softcap, dropout_p=dropout_p
            )
        return sdpa_attention(q, k, v, keep, scale=cfg.softmax_scale, dropout_p=dropout_p)
