"""Attention: MHA / MQA / GQA (one class, the group size is a number) and MLA, with their KV cache.

Kind (`attention`: mha, mqa, gqa, mla) and backend (`attention_backend`: sdpa, eager) are separate
keys. The eager path is the naive reference; a test holds the two equal. Masks: causal, plus the
window for sliding layers (a query at position p sees keys p-W+1..p). Attention sinks (gpt-oss) are
one learned logit per head that joins the softmax and carries no value.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from suite.model.norm import rms_norm
from suite.model.position import apply_rotary


# ------------------------------------------------------------------- cache
class LayerCache:
    """One layer's cached tensors (time on dim -2) in preallocated buffers, written in place.

    Full layers grow their buffer geometrically (a prefill chunk reserves exactly what it needs, a
    decoded token an eighth more), so decoding does not copy the whole cache per token. Sliding
    layers keep a ring of `window` slots, position p in slot p % window: a decoded token overwrites
    the oldest slot, no copy at all. Attention is order-free over the keys it may all see, so a full
    ring is handed to it as it lies. `nbytes` counts the tokens held, exactly like the analytic
    `kv_cache_bytes`; spare capacity is `reserved_bytes() - nbytes()`."""

    def __init__(self, window: int | None = None):
        self.window = window
        self.buffers: tuple[torch.Tensor, ...] | None = None
        self.seen = 0  # positions fed so far

    @property
    def held(self) -> int:
        return min(self.seen, self.window) if self.window is not None else self.seen

    @property
    def tensors(self) -> tuple[torch.Tensor, ...] | None:
        """The held tokens (a full ring in slot order)."""
        if self.buffers is None:
            return None
        return tuple(b[..., : self.held, :] for b in self.buffers)

    def _allocate(self, like: tuple[torch.Tensor, ...], capacity: int) -> None:
        fresh = tuple(t.new_empty(*t.shape[:-2], capacity, t.shape[-1]) for t in like)
        if self.buffers is not None:
            for new, old in zip(fresh, self.buffers):
                new[..., : self.held, :] = old[..., : self.held, :]
        self.buffers = fresh

    def _ordered(self) -> tuple[torch.Tensor, ...]:
        """The held tokens in position order (a ring is rolled so its oldest token comes first)."""
        held = self.tensors or ()
        if self.window is None or self.seen <= self.window:
            return held
        return tuple(torch.roll(t, -(self.seen % self.window), dims=-2) for t in held)

    def update(self, *new: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], int]:
        """Add new (B, ..., T, D) tensors; return everything attention needs and the first key position."""
        t = new[0].shape[-2]
        if self.window is not None:
            return self._update_ring(new, t)
        needed = self.seen + t
        capacity = 0 if self.buffers is None else self.buffers[0].shape[-2]
        if needed > capacity:
            self._allocate(new, needed if t > 1 else max(needed, capacity + max(16, capacity // 8)))
        for buf, n in zip(self.buffers, new):
            buf[..., self.seen : needed, :] = n
        self.seen = needed
        return self.tensors, 0

    def _update_ring(self, new: tuple[torch.Tensor, ...], t: int) -> tuple[tuple[torch.Tensor, ...], int]:
        w = self.window
        if self.buffers is None:
            self.buffers = tuple(n.new_empty(*n.shape[:-2], w, n.shape[-1]) for n in new)
        if t == 1:
            slot = self.seen % w
            for buf, n in zip(self.buffers, new):
                buf[..., slot : slot + 1, :] = n
            self.seen += 1
            return self.tensors, self.seen - self.held
        # a prefill chunk attends to the held tokens in order, then the ring keeps the last w
        full = tuple(torch.cat((old, n), dim=-2) for old, n in zip(self._ordered(), new))
        first_key = self.seen - self.held
        self.seen += t
        keep = min(self.seen, w)
        slots = torch.arange(self.seen - keep, self.seen, device=new[0].device) % w
        for buf, f in zip(self.buffers, full):
            buf.index_copy_(buf.dim() - 2, slots, f[..., f.shape[-2] - keep :, :])
        return full, first_key

    def __copy__(self) -> "LayerCache":
        """A cache that continues from this one without changing it (a timed decode step from a fixed
        state): full layers share the buffer if it has a spare slot (writes land past what this one
        holds), a ring is cloned (a write would overwrite a slot this one still holds)."""
        forked = LayerCache(self.window)
        forked.seen = self.seen
        if self.buffers is None:
            return forked
        capacity = self.buffers[0].shape[-2]
        if self.window is None and capacity > self.seen:
            forked.buffers = self.buffers
        elif self.window is None:
            forked.buffers = self.buffers
            forked._allocate(self.buffers, capacity + max(16, capacity // 8))
        else:
            forked.buffers = tuple(b.clone() for b in self.buffers)
        return forked

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors or ())

    def reserved_bytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self.buffers or ())

    def __len__(self) -> int:
        return self.held


class KVCache:
    """Every layer's cache: a `LayerCache` for attention, a fixed-size `MixerCache` for a mixer layer.
    Built from windows (attention only) or from the layers' own caches."""

    def __init__(self, layers: list):
        self.layers = [layer if hasattr(layer, "nbytes") else LayerCache(layer) for layer in layers]

    @property
    def length(self) -> int:
        """Positions seen so far (the next token's position)."""
        return self.layers[0].seen if self.layers else 0

    def nbytes(self) -> int:
        return sum(layer.nbytes() for layer in self.layers)


# -------------------------------------------------------------- the kernel
def allowed_mask(q_start: int, t: int, k_start: int, s: int, window: int | None, device) -> torch.Tensor:
    """(T, S) bool: True where query i may attend to key j."""
    q_pos = torch.arange(q_start, q_start + t, device=device)[:, None]
    k_pos = torch.arange(k_start, k_start + s, device=device)[None, :]
    allowed = k_pos <= q_pos
    if window is not None:
        allowed &= (q_pos - k_pos) < window
    return allowed


def eager_attention(q, k, v, allowed, *, scale, sinks=None, softcap=None, dropout_p=0.0):
    """Naive reference: (B, H, T, D) x (B, Hkv, S, D) -> (B, H, T, Dv)."""
    groups = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    scores = (q @ k.transpose(-1, -2)) * scale
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    scores = scores.masked_fill(~allowed, float("-inf"))
    if sinks is not None:
        b, h, t, _ = scores.shape
        scores = torch.cat((scores, sinks.view(1, h, 1, 1).expand(b, h, t, 1).to(scores.dtype)), dim=-1)
    probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
    if sinks is not None:
        probs = probs[..., :-1]
    probs = F.dropout(probs, dropout_p)
    return probs @ v


def sdpa_attention(q, k, v, allowed, *, scale, sinks=None, causal=False, dropout_p=0.0):
    """torch SDPA; a sink is an extra key with zero value whose logit is the sink (via an additive mask)."""
    if sinks is None:
        if causal:
            return F.scaled_dot_product_attention(
                q, k, v, is_causal=True, scale=scale, dropout_p=dropout_p, enable_gqa=True
            )
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, scale=scale, dropout_p=dropout_p, enable_gqa=True
        )
    b, hkv, s, _ = k.shape
    h, t = q.shape[1], q.shape[2]
    k = torch.cat((k, k.new_zeros(b, hkv, 1, k.shape[-1])), dim=-2)
    v = torch.cat((v, v.new_zeros(b, hkv, 1, v.shape[-1])), dim=-2)
    bias = torch.zeros(t, s, dtype=q.dtype, device=q.device).masked_fill(~allowed, float("-inf"))
    mask = torch.cat((bias.expand(h, t, s), sinks.to(q.dtype).view(h, 1, 1).expand(h, t, 1)), dim=-1)
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask.unsqueeze(0), scale=scale, dropout_p=dropout_p, enable_gqa=True
    )


def grouped_decode(q, k, v, *, scale):
    """One decoded token per head over keys it may all see, as two batched products per key/value head
    (its query heads stacked, no repeated keys). On CPU this beats SDPA's flash kernel, which is tiled
    for long queries: 12-15% faster decode steps at 4,096 tokens of context (decode4k-qwen3-proxy in
    tests/benchmarks/test_vs_transformers.py), the same at 128."""
    b, h, t, d = q.shape
    hkv = k.shape[1]
    scores = (q.reshape(b, hkv, (h // hkv) * t, d) @ k.transpose(-1, -2)) * scale
    probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
    return (probs @ v).view(b, h, t, v.shape[-1])


def attend(module: nn.Module, q, k, v, q_start: int, k_start: int):
    cfg = module.cfg
    t, s = q.shape[-2], k.shape[-2]
    sinks = getattr(module, "sinks", None)
    dropout_p = cfg.dropout if module.training else 0.0
    if cfg.attention_backend == "eager" or cfg.attn_softcap is not None:
        allowed = allowed_mask(q_start, t, k_start, s, module.window, q.device)
        return eager_attention(
            q, k, v, allowed, scale=cfg.softmax_scale, sinks=sinks, softcap=cfg.attn_softcap, dropout_p=dropout_p
        )
    causal = q_start == k_start and t == s and (module.window is None or module.window >= t)
    # every query may see every key it is handed (a decode step inside the window): no mask at all
    sees_all = k_start + s - 1 <= q_start and (module.window is None or q_start + t - 1 - k_start < module.window)
    if sees_all and t == 1 and sinks is None and not dropout_p and q.device.type == "cpu":
        return grouped_decode(q, k, v, scale=cfg.softmax_scale)
    # the (T, S) mask is built only where SDPA needs it (not for causal prefill: T^2 bytes per layer)
    allowed = (
        None
        if sinks is None and (causal or sees_all)
        else allowed_mask(q_start, t, k_start, s, module.window, q.device)
    )
    return sdpa_attention(
        q, k, v, allowed, scale=cfg.softmax_scale, sinks=sinks, causal=causal and not sees_all, dropout_p=dropout_p
    )


# ---------------------------------------------------------------- modules
class Attention(nn.Module):
    """Multi-head attention with n_kv_heads key/value heads: MHA (= n_heads), GQA, MQA (= 1)."""

    # the analytic cost component of the products this module runs itself, and of its children's
    flop_component: tuple[str, str | None] = ("attention_scores", "attention_proj")

    def __init__(self, cfg, layer_index: int):
        super().__init__()
        self.cfg = cfg
        self.window = cfg.sliding_window if cfg.layer_kinds[layer_index] == "sliding" else None
        h, kv, hd = cfg.n_heads, cfg.kv_heads, cfg.head_size
        # Qwen3-Next's gated attention: each head's query projection is followed by its output gate
        self.q_proj = nn.Linear(cfg.d_model, h * hd * (2 if cfg.attn_output_gate else 1), bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(cfg.d_model, kv * hd, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(cfg.d_model, kv * hd, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(h * hd, cfg.d_model, bias=cfg.out_bias)
        if cfg.qk_norm == "head":
            self.q_norm, self.k_norm = rms_norm(hd, cfg.norm_eps), rms_norm(hd, cfg.norm_eps)
        elif cfg.qk_norm == "full":
            self.q_norm, self.k_norm = rms_norm(h * hd, cfg.norm_eps), rms_norm(kv * hd, cfg.norm_eps)
        if cfg.attention_sinks:
            self.sinks = nn.Parameter(torch.zeros(h))

    def forward(self, x, rope, cache: LayerCache | None, start: int):
        cfg = self.cfg
        b, t, _ = x.shape
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        gate = None
        if cfg.attn_output_gate:
            q, gate = q.view(b, t, cfg.n_heads, 2 * cfg.head_size).chunk(2, dim=-1)
            q, gate = q.reshape(b, t, -1), gate.reshape(b, t, -1)
        if cfg.qk_norm == "full":
            q, k = self.q_norm(q), self.k_norm(k)
        q = q.view(b, t, cfg.n_heads, cfg.head_size).transpose(1, 2)  # (B, H, T, hd)
        k = k.view(b, t, cfg.kv_heads, cfg.head_size).transpose(1, 2)  # (B, Hkv, T, hd)
        v = v.view(b, t, cfg.kv_heads, cfg.head_size).transpose(1, 2)
        if cfg.qk_norm == "head":
            q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = apply_rotary(q, *rope, cfg.rope_interleaved), apply_rotary(k, *rope, cfg.rope_interleaved)
        k_start = start
        if cache is not None:
            (k, v), k_start = cache.update(k, v)
        y = attend(self, q, k, v, start, k_start).transpose(1, 2).reshape(b, t, -1)  # (B, T, H*hd)
        if gate is not None:
            y = y * torch.sigmoid(gate)
        return self.o_proj(y)


class LatentAttention(nn.Module):
    """Multi-head latent attention (DeepSeek-V2/V3): keys and values come from a low-rank latent that
    is all the cache stores (kv_lora_rank + qk_rope_head_dim per token), plus a decoupled RoPE key
    shared by all heads."""

    # the analytic cost component of the products this module runs itself, and of its children's
    flop_component: tuple[str, str | None] = ("attention_scores", "attention_proj")

    def __init__(self, cfg, layer_index: int):
        super().__init__()
        self.cfg = cfg
        self.window = cfg.sliding_window if cfg.layer_kinds[layer_index] == "sliding" else None
        h, dn, dr, dv, r = cfg.n_heads, cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim, cfg.kv_lora_rank
        if cfg.q_lora_rank:
            self.q_a_proj = nn.Linear(cfg.d_model, cfg.q_lora_rank, bias=cfg.qkv_bias)
            self.q_a_norm = rms_norm(cfg.q_lora_rank, cfg.norm_eps)
            self.q_b_proj = nn.Linear(cfg.q_lora_rank, h * (dn + dr), bias=False)
        else:
            self.q_proj = nn.Linear(cfg.d_model, h * (dn + dr), bias=False)
        self.kv_a_proj = nn.Linear(cfg.d_model, r + dr, bias=cfg.qkv_bias)
        self.kv_a_norm = rms_norm(r, cfg.norm_eps)
        self.kv_b_proj = nn.Linear(r, h * (dn + dv), bias=False)
        self.o_proj = nn.Linear(h * dv, cfg.d_model, bias=cfg.out_bias)

    def forward(self, x, rope, cache: LayerCache | None, start: int):
        cfg = self.cfg
        b, t, _ = x.shape
        h, dn, dr, dv, r = cfg.n_heads, cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim, cfg.kv_lora_rank
        q = self.q_b_proj(self.q_a_norm(self.q_a_proj(x))) if cfg.q_lora_rank else self.q_proj(x)
        q = q.view(b, t, h, dn + dr).transpose(1, 2)  # (B, H, T, dn+dr)
        q_nope, q_rope = q.split((dn, dr), dim=-1)
        latent, k_rope = self.kv_a_proj(x).split((r, dr), dim=-1)
        latent = self.kv_a_norm(latent)  # (B, T, r)
        k_rope = k_rope.view(b, 1, t, dr)  # (B, 1, T, dr)
        if rope is not None:  # a full_nope layer: the decoupled key carries no position
            q_rope = apply_rotary(q_rope, *rope, cfg.rope_interleaved)
            k_rope = apply_rotary(k_rope, *rope, cfg.rope_interleaved)
        k_start = start
        if cache is not None:
            (latent, k_rope), k_start = cache.update(latent, k_rope)
        s = latent.shape[1]
        kv = self.kv_b_proj(latent).view(b, s, h, dn + dv).transpose(1, 2)  # (B, H, S, dn+dv)
        k_nope, v = kv.split((dn, dv), dim=-1)
        k = torch.cat((k_nope, k_rope.expand(b, h, s, dr)), dim=-1)
        q = torch.cat((q_nope, q_rope), dim=-1)
        y = attend(self, q, k, v, start, k_start)  # (B, H, T, dv)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, h * dv))


# DeepSeek Sparse Attention builds on LatentAttention, so its module imports this one: registered last
from suite.model.sparse_attention import SparseLatentAttention  # noqa: E402

ATTENTIONS = {
    "mha": Attention,
    "mqa": Attention,
    "gqa": Attention,
    "mla": LatentAttention,
    "dsa": SparseLatentAttention,
}
