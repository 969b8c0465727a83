"""Analytic costs from the config alone: FLOPs, weight, KV-cache, activation and optimizer bytes.

Pure arithmetic on a `ModelConfig`: no torch, no modules, no weights, so a 671B model is analysed
in milliseconds. Tests hold these formulas against `FlopCounterMode` and the real KV cache of
`suite.model` on proxies of every family.

FLOP conventions
- A multiply-add is 2 FLOPs. Only matrix products are counted: attention projections, attention
  scores (QK^T and AV), MLP / experts, router, LM head. Norms, activations, softmax and RoPE are
  elementwise (a few percent at most) and left out, as FlopCounterMode leaves them out.
- A *pass* feeds `new` tokens to a sequence that already holds `past` tokens (prefill at context L:
  past=0, new=L; one decode step at position L: past=L, new=1). Figures are per sequence (batch 1).
- counting="useful": what an efficient kernel must do. Causal: query p scores p+1 keys; a sliding
  layer at most `sliding_window`. MLA takes the cheaper of its two standard forms (decompress the
  latent of every attended key, or absorb the up-projections into the query and output).
- counting="executed": what `suite.model` computes, and so what FlopCounterMode sees. Every query is
  scored against every key it is handed (the full T x S block even under a causal mask, as SDPA and
  the eager path do); a sliding layer's cache holds at most `sliding_window` old tokens (a decoded
  token replaces the oldest in its ring, so it sees at most `sliding_window` keys); MLA
  decompresses every cached latent each pass; attention sinks add one zero key on the SDPA path.
- DeepSeek Sparse Attention ('dsa'): MLA over each query's top-k keys plus the "indexer" that picks
  them (`suite.analytic.sparse_costs`); the indexer has no backward.
- The LM head runs on every new token (the model returns logits for all positions).
- Training = forward + backward = 3 x forward (the backward of a product is two products);
  gradient checkpointing recomputes the blocks' forward once more (the head is not recomputed).
"""

from __future__ import annotations

import math

from suite.analytic import mixer_costs, sparse_costs, weight_formats
from suite.analytic.params import count_params, expert_matrix_params, is_mixer, mlp_matrix_params
from suite.config import ConfigError, ModelConfig

COUNTINGS = ("useful", "executed")

# Bits per element of activations and caches. Weight formats (with their group scales and the
# tensors they keep in 16 bits) live in `suite.analytic.weight_formats`.
DTYPE_BITS: dict[str, float] = {
    "fp32": 32,
    "bf16": 16,
    "fp16": 16,
    "fp8": 8,
    "int8": 8,
    "int4": 4,
}
WEIGHT_FORMATS = weight_formats.FORMATS
KV_DTYPES = tuple(DTYPE_BITS)
COMPONENTS = ("attention_proj", "attention_scores", "mlp", "experts", "router", "lm_head")


def _check(table, key: str, what: str):
    """table[key] (or key, for a tuple of choices); an unknown key is a ConfigError listing the choices."""
    if key not in table:
        raise ConfigError(f"unknown {what} '{key}'; choose one of: {', '.join(table)}.", field=what)
    return table[key] if isinstance(table, dict) else key


def _bytes(elements: float, bits: float) -> int:
    return int(math.ceil(elements * bits / 8))


# ------------------------------------------------------------- layer shapes
def _windows(cfg: ModelConfig) -> list[int | None]:
    """Per layer: the sliding window, or None for full attention."""
    return [cfg.sliding_window if kind == "sliding" else None for kind in cfg.layer_kinds]


def attention_proj_params(cfg: ModelConfig) -> int:
    """Weights of one layer's attention projections that every token passes through (MLA: all but kv_b)."""
    d, h = cfg.d_model, cfg.n_heads
    if cfg.latent_attention:
        dq = h * (cfg.qk_nope_head_dim + cfg.qk_rope_head_dim)
        q = d * cfg.q_lora_rank + cfg.q_lora_rank * dq if cfg.q_lora_rank else d * dq
        kv_a = d * (cfg.kv_lora_rank + cfg.qk_rope_head_dim)
        return q + kv_a + h * cfg.v_head_dim * d
    hd = cfg.head_size
    q = d * h * hd * (2 if cfg.attn_output_gate else 1)  # the gate comes out of the query projection
    return q + 2 * d * cfg.kv_heads * hd + h * hd * d


def mla_kv_b_params(cfg: ModelConfig) -> int:
    """MLA's latent -> per-head (k_nope, v) up-projection."""
    return cfg.kv_lora_rank * cfg.n_heads * (cfg.qk_nope_head_dim + cfg.v_head_dim)


# -------------------------------------------------------------------- FLOPs
def _causal_pairs(past: int, new: int, window: int | None) -> int:
    """Sum over query positions p in [past, past+new) of the keys it may see: min(p+1, window)."""

    def upto(n: int) -> int:  # sum_{j=1..n} min(j, window)
        if window is None or n <= window:
            return n * (n + 1) // 2
        return window * (window + 1) // 2 + (n - window) * window

    return upto(past + new) - upto(past)


def _keys_held(past: int, new: int, window: int | None) -> int:
    """Keys the model hands to attention: its cache (a sliding layer keeps `window`) plus the new ones.
    A single decoded token goes into the sliding ring first, over the slot of the token leaving the
    window, so it sees at most `window` keys."""
    if window is not None and new == 1:
        return min(past + 1, window)
    return (past if window is None else min(past, window)) + new


def _attention_layer(cfg: ModelConfig, past: int, new: int, window: int | None, counting: str) -> dict[str, int]:
    h = cfg.n_heads
    executed = counting == "executed"
    pairs = new * _keys_held(past, new, window) if executed else _causal_pairs(past, new, window)
    if executed and cfg.attention_sinks and cfg.attention_backend == "sdpa" and cfg.attn_softcap is None:
        pairs += new  # the sink is an extra all-zero key/value on the SDPA path
    proj = 2 * new * attention_proj_params(cfg)
    if not cfg.latent_attention:
        return {"attention_proj": proj, "attention_scores": 2 * h * pairs * (cfg.head_size + cfg.value_head_size)}
    keys = _keys_held(past, new, window)
    if cfg.attention == "dsa":  # only each query's top-k keys
        top = cfg.index_topk if window is None else min(cfg.index_topk, window)
        pairs, keys = sparse_costs.selected(cfg, new, keys, _causal_pairs(past, new, top), executed)
    r, dr, dn, dv = cfg.kv_lora_rank, cfg.qk_rope_head_dim, cfg.qk_nope_head_dim, cfg.v_head_dim
    # decompressed form: kv_b on every key handed to attention, then ordinary heads of dn+dr / dv
    decompressed = {
        "attention_proj": proj + 2 * keys * mla_kv_b_params(cfg),
        "attention_scores": 2 * h * pairs * (dn + dr + dv),
    }
    if executed:
        return decompressed
    # absorbed form: fold W_uk into the query and W_uv into the output (per new token), score in the latent
    absorbed = {
        "attention_proj": proj + 2 * new * mla_kv_b_params(cfg),
        "attention_scores": 2 * h * pairs * (r + dr + r),
    }
    return min(decompressed, absorbed, key=lambda c: sum(c.values()))


def _mlp_layer(cfg: ModelConfig, index: int, new: int) -> dict[str, int]:
    d = cfg.d_model
    if not cfg.is_moe_layer(index):
        return {"mlp": 2 * new * mlp_matrix_params(cfg, cfg.hidden)}
    shared = mlp_matrix_params(cfg, cfg.shared_hidden) if cfg.n_shared_experts else 0
    gate = 2 * new * d if cfg.n_shared_experts and cfg.shared_expert_gate else 0  # the shared expert's sigmoid gate
    routed = cfg.experts_top_k * expert_matrix_params(cfg)
    return {"experts": 2 * new * (routed + shared) + gate, "router": 2 * new * d * cfg.n_experts}


def forward_flops(cfg: ModelConfig, *, new: int, past: int = 0, counting: str = "useful") -> dict[str, int]:
    """FLOPs of one forward pass over `new` tokens after `past` cached ones, by component (batch 1)."""
    _check(COUNTINGS, counting, "counting")
    if new < 0 or past < 0:
        raise ConfigError(f"token counts must be >= 0, got new={new}, past={past}.", field="context")
    out = dict.fromkeys(COMPONENTS, 0)
    for i, (window, kind) in enumerate(zip(_windows(cfg), cfg.layer_kinds)):
        if is_mixer(kind):
            # "mixer" appears only in models that have such layers (attention-only outputs keep their keys)
            out["mixer"] = out.get("mixer", 0) + mixer_costs.mixer_layer_flops(cfg, kind, past, new, counting)
            mixing = {}
        else:
            mixing = _attention_layer(cfg, past, new, window, counting)
            if cfg.attention == "dsa":  # "indexer" appears only in models that have one, like "mixer"
                held = _keys_held(past, new, window)
                pairs = new * held if counting == "executed" else _causal_pairs(past, new, window)
                out["indexer"] = out.get("indexer", 0) + sparse_costs.indexer_flops(cfg, new, held, pairs)
        for part in (mixing, _mlp_layer(cfg, i, new)):
            for key, value in part.items():
                out[key] += value
    out["lm_head"] = 2 * new * cfg.d_model * cfg.vocab_size
    return out


def prefill_flops(cfg: ModelConfig, context: int, counting: str = "useful") -> dict[str, int]:
    """A forward pass over `context` tokens from an empty cache, by component (total, not per token)."""
    return forward_flops(cfg, new=context, past=0, counting=counting)


def decode_flops(cfg: ModelConfig, position: int, counting: str = "useful") -> dict[str, int]:
    """One decode step for the token at `position` (0-based; `position` tokens already cached)."""
    return forward_flops(cfg, new=1, past=position, counting=counting)


def fused_sdpa_backward(cfg: ModelConfig) -> bool:
    """Whether training runs torch's fused (flash) SDPA kernel, whose backward recomputes QK^T:
    SDPA backend, no logit soft-cap (that takes the eager path), equal q/k and v head sizes, no
    attention dropout and no learned sinks (they enter through a mask that needs a gradient);
    otherwise torch falls back to its unfused math path."""
    return (
        cfg.attention_backend == "sdpa"
        and cfg.attn_softcap is None
        and cfg.dropout == 0.0
        and cfg.head_size == cfg.value_head_size
        and not cfg.attention_sinks
    )


def train_flops(
    cfg: ModelConfig, context: int, *, checkpointing: bool = False, counting: str = "useful"
) -> dict[str, int]:
    """Forward + backward of one sequence of `context` tokens, by component (total).

    Backward = 2 x forward; with checkpointing the blocks' forward runs twice. "executed" also
    counts the fused SDPA backward's recomputation of the scores (2.5 x forward for that part)."""
    fwd = prefill_flops(cfg, context, counting)
    out = {}
    for key, value in fwd.items():
        backward = 2 * value
        if key == "attention_scores" and counting == "executed" and fused_sdpa_backward(cfg):
            backward = value * 5 // 2
        if key == "indexer":  # no gradient reaches it (its top-k selection is discrete)
            backward = 0
        if key == "mixer" and counting == "executed":
            backward += sum(mixer_costs.backward_excess(cfg, kind, context) for kind in cfg.layer_kinds)
        out[key] = value * (2 if checkpointing and key != "lm_head" else 1) + backward
    return out


def total(parts: dict[str, int]) -> int:
    return sum(parts.values())


# ----------------------------------------------------------------- KV cache
def kv_cache_elements_per_token(cfg: ModelConfig) -> list[int]:
    """Per layer: cached values per token. MLA caches its latent and the shared RoPE key (DSA also
    its indexer key); other kinds cache K and V for their n_kv_heads (GQA / MQA share heads)."""
    if cfg.latent_attention:
        per_layer = cfg.kv_lora_rank + cfg.qk_rope_head_dim + (cfg.index_head_dim if cfg.attention == "dsa" else 0)
    else:
        per_layer = cfg.kv_heads * (cfg.head_size + cfg.value_head_size)
    return [0 if is_mixer(kind) else per_layer for kind in cfg.layer_kinds]  # a mixer's state does not grow


def mixer_state_bytes(cfg: ModelConfig, dtype: str = "bf16", batch: int = 1) -> int:
    """The fixed state of every mixer layer (conv tails in `dtype`, recurrent states in fp32)."""
    per_element = _check(DTYPE_BITS, dtype, "dtype") / 8
    return batch * int(sum(mixer_costs.state_bytes(cfg, k, per_element) for k in cfg.layer_kinds if is_mixer(k)))


def kv_cache_bytes_per_token(cfg: ModelConfig, dtype: str = "bf16") -> int:
    """Bytes one token adds to the cache while it is inside every layer's window (all layers)."""
    return _bytes(sum(kv_cache_elements_per_token(cfg)), _check(DTYPE_BITS, dtype, "dtype"))


def kv_cache_bytes_per_token_long(cfg: ModelConfig, dtype: str = "bf16") -> int:
    """Bytes a token adds once the context is past every window: full-attention layers only."""
    elems = sum(e for e, w in zip(kv_cache_elements_per_token(cfg), _windows(cfg)) if w is None)
    return _bytes(elems, _check(DTYPE_BITS, dtype, "dtype"))


def kv_cache_bytes(cfg: ModelConfig, context: int, dtype: str = "bf16", batch: int = 1) -> int:
    """Cache bytes after `context` tokens; sliding layers hold at most `sliding_window` tokens, mixer
    layers their fixed state (from the first token on)."""
    bits = _check(DTYPE_BITS, dtype, "dtype")
    elems = sum(
        e * (context if w is None else min(context, w)) for e, w in zip(kv_cache_elements_per_token(cfg), _windows(cfg))
    )
    return batch * _bytes(elems, bits) + (mixer_state_bytes(cfg, dtype, batch) if context > 0 else 0)


def kv_cache_bounded(cfg: ModelConfig) -> bool:
    """True when every layer is sliding or a mixer, so the cache stops growing."""
    return all(w is not None or is_mixer(k) for w, k in zip(_windows(cfg), cfg.layer_kinds))


# ------------------------------------------------------------------ weights
def params(cfg: ModelConfig) -> dict:
    """Parameter counts from the one place that counts them (`suite.analytic.params`)."""
    return count_params(cfg)


def weights_bytes(cfg: ModelConfig, dtype: str = "bf16") -> int:
    """Bytes of all parameters stored in weight format `dtype`, as a checkpoint file holds them."""
    return weight_formats.weights_bytes(cfg, dtype)


def weights_bytes_read_per_step(cfg: ModelConfig, dtype: str = "bf16", batch: int = 1) -> int:
    """Weight bytes one decode step must read: everything but the unused rows of the input
    embedding and, on MoE layers, only the experts some token of the batch is routed to
    (expected distinct experts E * (1 - (1 - k/E)^B) under uniform routing)."""
    embedding = params(cfg)["embedding"]
    rows = batch * cfg.d_model * (2 if cfg.position == "learned" else 1)
    # a tied table is read in full as the LM head; an untied one only at the looked-up rows
    embedding_read = 1.0 if cfg.tie_embeddings or not embedding else min(1.0, rows / embedding)
    if cfg.tie_embeddings and cfg.position == "learned":
        embedding_read = (cfg.vocab_size * cfg.d_model + batch * cfg.d_model) / embedding
    experts_read = 1 - (1 - cfg.experts_top_k / cfg.n_experts) ** batch if cfg.is_moe else 1.0
    return weight_formats.weights_bytes(cfg, dtype, experts_read=experts_read, embedding_read=embedding_read)


# -------------------------------------------------------- training memory
# What autograd keeps for backward, per token, by component: an estimate from the components'
# shapes and from how `suite.model` computes them (the memory probe measures the real thing).
# `a` is the bytes of one activation value; fp32 values (RMSNorm statistics, softmax) are 4 bytes.
# Each sublayer's input is kept once by its first projection.
def _norm_saved(cfg: ModelConfig, dim: int, a: float) -> float:
    """RMSNorm runs in fp32 and keeps its fp32 input, normalised input and 1/rms; LayerNorm keeps
    its input, mean and 1/std."""
    return 4 * (2 * dim + 1) if cfg.norm == "rmsnorm" else a * dim + 8


def _attention_saved(cfg: ModelConfig, keys: int, a: float) -> float:
    """Bytes one attention sublayer keeps per token; `keys` per query (the T x S parts)."""
    h, d = cfg.n_heads, cfg.d_model
    saved = a * d  # input of the projections
    if cfg.latent_attention:  # (DSA's indexer runs without gradients: it keeps nothing)
        r, dr, dn, dv = cfg.kv_lora_rank, cfg.qk_rope_head_dim, cfg.qk_nope_head_dim, cfg.v_head_dim
        if cfg.q_lora_rank:  # q_a output -> RMSNorm -> q_b input
            saved += 4 * (2 * cfg.q_lora_rank + 1) + a * cfg.q_lora_rank
        saved += 4 * (2 * r + 1) + a * r  # latent -> RMSNorm -> kv_b input
        q, dqk, dv_ = h * (dn + dr), dn + dr, dv
        kv = h * (dn + dr) + h * (dn + dv)  # k (with the shared rope part); kv_b output
    else:
        hd = cfg.head_size
        q, dqk, dv_ = h * hd, hd, hd
        kv = 2 * cfg.kv_heads * hd
        if cfg.qk_norm != "none":  # RMSNorm over q and k
            saved += 4 * (2 * (q + cfg.kv_heads * hd) + (h + cfg.kv_heads))
    out = h * dv_
    keys_h = h * keys
    if fused_sdpa_backward(cfg):  # fused kernel: q, k, v, output, log-sum-exp
        saved += a * (q + kv + out) + 4 * h
    elif cfg.attention_backend == "eager" or cfg.attn_softcap is not None:
        # q, K/V repeated to every query head, fp32 softmax (+ its cast copy), soft-cap's tanh
        saved += a * (q + h * dqk + h * dv_) + 4 * keys_h + (0 if a == 4 else a * keys_h)
        saved += a * keys_h * (cfg.attn_softcap is not None) + a * 2 * keys_h * (cfg.dropout > 0)
    else:
        # torch's math path: q, K/V expanded to every head and the probabilities, upcast to fp32
        saved += 4 * (q + h * dqk + h * dv_ + keys_h * (1 + 2 * (cfg.dropout > 0)))
    return saved + a * out  # o_proj's input


def _mlp_saved(cfg: ModelConfig, index: int, a: float) -> float:
    # values per hidden unit: GELU keeps up and act; gated keeps gate, up, act and the product;
    # gpt-oss's clamped form adds both clamps and the factors of its two products
    per_hidden = 2 if cfg.mlp == "gelu" else (7 if cfg.swiglu_limit is not None else 4)
    d = cfg.d_model
    if not cfg.has_mlp:
        return 0.0
    if not cfg.is_moe_layer(index):
        return a * (d + per_hidden * cfg.hidden)
    k = cfg.experts_top_k
    routed = k * (2 * d + per_hidden * cfg.expert_size)  # gathered input, output, hidden values
    shared = per_hidden * cfg.shared_hidden if cfg.n_shared_experts else 0
    return a * (d + routed + shared) + 4 * cfg.n_experts  # router scores in fp32


def _layer_saved(cfg: ModelConfig, index: int, keys: int, a: float) -> float:
    """Bytes saved per token by one block in a training step."""
    norms = {"pre": 1, "post": 1, "sandwich": 2}[cfg.norm_placement] * (2 if cfg.has_mlp else 1)
    dropout = (2 if cfg.has_mlp else 1) * cfg.d_model if cfg.dropout else 0  # residual-dropout masks, 1 byte each
    return (
        norms * _norm_saved(cfg, cfg.d_model, a) + _attention_saved(cfg, keys, a) + _mlp_saved(cfg, index, a) + dropout
    )


def activation_bytes_train(
    cfg: ModelConfig, context: int, *, batch: int = 1, dtype: str = "bf16", checkpointing: bool = False
) -> int:
    """Activations held for the backward of one training step over `batch` x `context` tokens
    (an estimate from the components' shapes; the memory probe measures it). With checkpointing
    each block keeps only its input, and one block at a time is recomputed."""
    a = _check(DTYPE_BITS, dtype, "dtype") / 8
    layers = [_layer_saved(cfg, i, context, a) for i in range(cfg.n_layers)]
    d, v = cfg.d_model, cfg.vocab_size
    head = _norm_saved(cfg, d, a) + a * (d + v)  # final norm, head input, log-softmax
    head += a * v if cfg.final_logit_softcap is not None else 0
    head += d if cfg.dropout else 0  # embedding-dropout mask
    if checkpointing:
        per_token = cfg.n_layers * a * d + max(layers) + head
    else:
        per_token = sum(layers) + head
    return int(math.ceil(batch * context * per_token))


def optimizer_bytes(cfg: ModelConfig, *, state_dtype: str = "fp32", master_weights: bool = False) -> int:
    """AdamW: two moments per parameter (exp_avg, exp_avg_sq), plus an fp32 master copy in mixed precision."""
    n = params(cfg)["total"]
    return _bytes(2 * n, _check(DTYPE_BITS, state_dtype, "dtype")) + (4 * n if master_weights else 0)


def training_memory(
    cfg: ModelConfig, context: int, *, batch: int = 1, dtype: str = "fp32", checkpointing: bool = False
) -> dict[str, int]:
    """Weights, gradients, AdamW state and activations of one training step, all in `dtype`
    (mixed precision, dtype != fp32, adds fp32 master weights)."""
    mixed = dtype != "fp32"
    parts = {
        "weights": weights_bytes(cfg, dtype),
        "gradients": weights_bytes(cfg, dtype),
        "optimizer": optimizer_bytes(cfg, master_weights=mixed),
        "activations": activation_bytes_train(cfg, context, batch=batch, dtype=dtype, checkpointing=checkpointing),
    }
    parts["total"] = sum(parts.values())
    return parts


# ------------------------------------------------------------------ summary
def default_context(cfg: ModelConfig) -> int:
    """The context `summary` reports FLOPs at: 4096, or the model's own context if shorter."""
    return min(4096, cfg.context_length)


def summary(cfg: ModelConfig, context: int | None = None) -> dict:
    """The analytic figures `archbench show` adds: FLOPs per token (by component) at one context,
    KV-cache bytes per token and weight bytes, keyed by dtype."""
    L = context or default_context(cfg)
    prefill, decode = prefill_flops(cfg, L), decode_flops(cfg, L)
    train = train_flops(cfg, L)
    return {
        "flops": {
            "context": L,
            "counting": "useful",
            "prefill_per_token": total(prefill) / L,
            "decode_per_token": total(decode),
            "train_per_token": total(train) / L,
            "by_component": {"prefill_per_token": {k: v / L for k, v in prefill.items()}, "decode_per_token": decode},
        },
        "kv_cache_bytes_per_token": {dt: kv_cache_bytes_per_token(cfg, dt) for dt in KV_DTYPES},
        "weights_bytes": {dt: weights_bytes(cfg, dt) for dt in WEIGHT_FORMATS},
    }
