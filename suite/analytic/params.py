"""Parameter counts from the config alone (pure arithmetic, any size, nothing allocated).

Conventions (stated because published figures differ):
- `total`: every trained parameter, tied embeddings counted once (= sum(p.numel()) of the model).
- `embedding`: the input token table (+ learned position table). With tied embeddings this same
  matrix is also the output head.
- `active`: parameters one token uses: total minus the routed experts it is not sent to
  (transformers' convention, embeddings and head included; Qwen3-30B-A3B's "3.3B").
- `active_excl_embedding`: active minus the input embedding, the gpt-oss and DeepSeek-V3 papers'
  convention (3.61B, 5.13B, 36.6B; the untied output head stays in).
Buffers (RoPE tables, DeepSeek-V3's router correction bias) are not parameters.
"""

from __future__ import annotations

from suite.config import ModelConfig


def _linear(n_in: int, n_out: int, bias: bool) -> int:
    return n_in * n_out + (n_out if bias else 0)


def _norm(cfg: ModelConfig, dim: int) -> int:
    return dim * (2 if cfg.norm == "layernorm" and cfg.norm_bias else 1)


def indexer_params(cfg: ModelConfig) -> int:
    """DeepSeek Sparse Attention's indexer: wq_b (from the query latent), wk, k_norm (LayerNorm), weights_proj."""
    if cfg.attention != "dsa":
        return 0
    hi, di = cfg.index_heads, cfg.index_head_dim
    return _linear(cfg.q_lora_rank, hi * di, False) + _linear(cfg.d_model, di + hi, False) + 2 * di


def attention_params(cfg: ModelConfig) -> int:
    d, h = cfg.d_model, cfg.n_heads
    if cfg.latent_attention:
        dn, dr, dv, r = cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim, cfg.kv_lora_rank
        if cfg.q_lora_rank:
            q = (
                _linear(d, cfg.q_lora_rank, cfg.qkv_bias)
                + cfg.q_lora_rank
                + _linear(cfg.q_lora_rank, h * (dn + dr), False)
            )
        else:
            q = _linear(d, h * (dn + dr), False)
        kv = _linear(d, r + dr, cfg.qkv_bias) + r + _linear(r, h * (dn + dv), False)
        return q + kv + _linear(h * dv, d, cfg.out_bias) + indexer_params(cfg)
    hd, kv = cfg.head_size, cfg.kv_heads
    q_out = h * hd * (2 if cfg.attn_output_gate else 1)  # Qwen3-Next: the query projection also makes the gate
    n = _linear(d, q_out, cfg.qkv_bias) + 2 * _linear(d, kv * hd, cfg.qkv_bias) + _linear(h * hd, d, cfg.out_bias)
    if cfg.qk_norm == "head":
        n += 2 * hd
    elif cfg.qk_norm == "full":
        n += (h + kv) * hd
    if cfg.attention_sinks:
        n += h
    return n


def mixer_params(cfg: ModelConfig, kind: str) -> int:
    """One non-attention mixer layer (`suite.model.mixing`), every parameter of it."""
    d, w = cfg.d_model, cfg.mixer_conv_kernel
    if kind == "gated_deltanet":
        key, value = cfg.linear_k_heads * cfg.linear_k_head_dim, cfg.linear_v_heads * cfg.linear_v_head_dim
        projections = _linear(d, 2 * key + 2 * value, False) + _linear(d, 2 * cfg.linear_v_heads, False)
        conv = (2 * key + value) * w
        return projections + conv + 2 * cfg.linear_v_heads + cfg.linear_v_head_dim + _linear(value, d, False)
    if kind == "mamba2":
        inner = cfg.ssm_heads * cfg.ssm_head_dim
        conv_dim = inner + 2 * cfg.ssm_groups * cfg.ssm_state_size
        in_proj = _linear(d, inner + conv_dim + cfg.ssm_heads, cfg.ssm_bias)
        conv = conv_dim * w + (conv_dim if cfg.ssm_conv_bias else 0)
        return in_proj + conv + 3 * cfg.ssm_heads + inner + _linear(inner, d, cfg.ssm_bias)
    if kind == "short_conv":
        return _linear(d, 3 * d, cfg.mixer_bias) + d * w + (d if cfg.mixer_bias else 0) + _linear(d, d, cfg.mixer_bias)
    if kind == "gla":
        # q, k, v, output gate g, the rank-16 decay gate (bias on its second half), g_norm, o_proj; no conv
        key, value, rank = cfg.linear_k_heads * cfg.linear_k_head_dim, cfg.linear_v_heads * cfg.linear_v_head_dim, 16
        projections = _linear(d, 2 * key + 2 * value, False) + _linear(d, rank, False) + _linear(rank, key, True)
        return projections + cfg.linear_v_head_dim + _linear(value, d, False)
    raise ValueError(f"not a mixer layer type: {kind!r}")


def is_mixer(kind: str) -> bool:
    return kind in ("gated_deltanet", "mamba2", "short_conv", "gla")


def mlp_matrices(cfg: ModelConfig) -> int:
    """Weight matrices of one MLP: up, down (+ gate for the gated kinds); none without an MLP."""
    return {"none": 0, "gelu": 2}.get(cfg.mlp, 3)


def mlp_matrix_params(cfg: ModelConfig, hidden: int) -> int:
    """Weights of one MLP's matrices, biases left out (what FLOPs and 4-bit formats count)."""
    return mlp_matrices(cfg) * cfg.d_model * hidden


def dense_mlp_params(cfg: ModelConfig, hidden: int) -> int:
    """One MLP's parameters: its matrices plus biases."""
    n = mlp_matrix_params(cfg, hidden)
    if cfg.mlp_bias and cfg.has_mlp:
        n += (mlp_matrices(cfg) - 1) * hidden + cfg.d_model
    return n


def expert_params(cfg: ModelConfig) -> int:
    """One routed expert, biases included (same shape as a dense MLP of expert_size)."""
    return dense_mlp_params(cfg, cfg.expert_size)


def expert_matrix_params(cfg: ModelConfig) -> int:
    """One routed expert's weight matrices only (FLOPs; the part MXFP4 quantises)."""
    return mlp_matrix_params(cfg, cfg.expert_size)


def routed_expert_matrix_params(cfg: ModelConfig) -> int:
    """All routed-expert weight matrices of the model (the part MXFP4 quantises)."""
    n_moe = sum(cfg.is_moe_layer(i) for i in range(cfg.n_layers))
    return n_moe * cfg.n_experts * expert_matrix_params(cfg)


def moe_params(cfg: ModelConfig) -> dict[str, int]:
    router = _linear(cfg.d_model, cfg.n_experts, cfg.router_bias)
    shared = dense_mlp_params(cfg, cfg.shared_hidden) if cfg.n_shared_experts else 0
    if cfg.n_shared_experts and cfg.shared_expert_gate:
        shared += cfg.d_model  # Qwen2-MoE / Qwen3-Next: a sigmoid gate, Linear(d, 1, bias=False)
    return {"router": router, "experts": cfg.n_experts * expert_params(cfg), "shared_experts": shared}


def count_params(cfg: ModelConfig) -> dict:
    d = cfg.d_model
    embedding = cfg.vocab_size * d + (cfg.context_length * d if cfg.position == "learned" else 0)
    head = 0 if cfg.tie_embeddings else cfg.vocab_size * d
    sublayers = 2 if cfg.has_mlp else 1
    norms_per_block = sublayers * _norm(cfg, d) * (2 if cfg.norm_placement == "sandwich" else 1)
    by = {
        "embedding": embedding,
        "attention": 0,
        "mlp": 0,
        "router": 0,
        "experts": 0,
        "shared_experts": 0,
        "norms": _norm(cfg, d),
        "lm_head": head,
    }
    n_moe = 0
    for i, kind in enumerate(cfg.layer_kinds):
        if is_mixer(kind):
            by["mixer"] = by.get("mixer", 0) + mixer_params(cfg, kind)
        else:
            by["attention"] += attention_params(cfg)
        by["norms"] += norms_per_block
        if cfg.is_moe_layer(i):
            n_moe += 1
            for key, value in moe_params(cfg).items():
                by[key] += value
        else:
            by["mlp"] += dense_mlp_params(cfg, cfg.hidden)
    total = sum(by.values())
    inactive = n_moe * (cfg.n_experts - cfg.experts_top_k) * expert_params(cfg)
    active = total - inactive
    return {
        "total": total,
        "embedding": embedding,
        "active": active,
        "active_excl_embedding": active
        - cfg.vocab_size * d
        - (cfg.context_length * d if cfg.position == "learned" else 0),
        "non_embedding": total - embedding,
        "active_non_embedding": active - embedding - head,
        "by_component": by,
    }
