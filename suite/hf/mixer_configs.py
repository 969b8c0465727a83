"""`config.json` -> ModelConfig fields for the model types whose layers are not all attention:
Qwen3-Next (Gated DeltaNet + gated attention), Mamba-2 (Mamba-2 blocks only) and Granite-4.0-H
(Mamba-2 + NoPE attention, MoE with a shared MLP, muP-style multipliers).

Defaults are transformers' own for each type (Qwen3-Next's head_dim 256 and partial_rotary_factor
0.25, Granite's attention_multiplier 1.0), so a config that leaves a key out imports as the model
transformers builds from it.
"""

from __future__ import annotations

from typing import Any

from suite.hf.config_map import Reader, _bias, _decoder, _moe_dense_first, _rope_fields, _rope_parameters
from suite.hf.config_values import TEXT, check_items, count

QWEN3_NEXT_LAYERS = {"linear_attention": "gated_deltanet", "full_attention": "full"}
# Granite configs written before transformers 5 say mamba / attention; transformers reads both
GRANITE_LAYERS = {"mamba": "mamba2", "linear_attention": "mamba2", "attention": "full", "full_attention": "full"}
SILU = ("silu", "swish")  # the mixers' conv runs this activation; it is also the SwiGLU's


def _kinds(r: Reader, key: str, n_layers: int, names: dict[str, str]) -> tuple[str, ...] | None:
    values = r.get(key)
    if values is None:
        return None
    check_items(values, TEXT, file=r.file, field=key)
    if len(values) != n_layers:
        raise r.error(key, f"has {len(values)} entries but num_hidden_layers is {n_layers}.")
    bad = [v for v in values if v not in names]
    if bad:
        raise r.error(key, f"layer type {bad[0]!r} is not supported (supported: {', '.join(names)}).")
    return tuple(names[v] for v in values)


def _default_time_step_limit(r: Reader) -> None:
    """Our Mamba-2 layers clamp the time step to transformers' default (0, inf) only, i.e. not at all."""
    value = r.get("time_step_limit")
    # transformers 5 writes inf as {"__float__": "Infinity"}; strict JSON has no bare Infinity
    if value is not None and not (
        len(value) == 2
        and not isinstance(value[0], bool)
        and value[0] == 0
        and value[1] in ({"__float__": "Infinity"}, {"__float__": "inf"})
    ):
        raise r.error(
            "time_step_limit",
            f"value {value!r} is not supported by archbench (supported: [0.0, Infinity], no clamp); "
            "importing it would build a different model.",
        )


def _partial_rope(r: Reader, default: float = 0.25) -> dict:
    """RoPE parameters whose partial_rotary_factor has a type's own default (Qwen3-Next 0.25, GLM-4.5
    0.5: transformers' rule), read from rope_parameters or the top level."""
    params = dict(_rope_parameters(r, 10000.0))
    top = r.get("partial_rotary_factor")
    inner = params.get("partial_rotary_factor")
    if top is not None and inner is not None and top != inner:
        raise r.error("partial_rotary_factor", f"is {top} but rope_parameters says {inner}.")
    params["partial_rotary_factor"] = next((f for f in (inner, top) if f is not None), default)
    return params


def config_qwen3_next(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-6, context=32768, theta=10000.0, tie=False)
    if r.data.get("head_dim") is None:
        out["head_dim"] = 256  # Qwen3NextConfig's default, not hidden_size / heads
    out.update(_rope_fields(r, _partial_rope(r), max_position=out["context_length"]))
    r.expect("hidden_act", SILU, "silu")
    out.update(mlp="swiglu", **_bias(r, False), qk_norm="head", attn_output_gate=True)
    # Qwen3-Next has no sliding attention and transformers does not build the MTP head: none is read
    for key in ("use_sliding_window", "sliding_window", "max_window_layers", "mtp_num_hidden_layers"):
        r.get(key)
    r.get("mtp_use_dedicated_embeddings")
    n = out["n_layers"]
    interval = r.get("full_attention_interval", 4)  # ignored by transformers when layer_types is given
    types = _kinds(r, "layer_types", n, QWEN3_NEXT_LAYERS)
    out["layer_types"] = types or tuple("full" if (i + 1) % interval == 0 else "gated_deltanet" for i in range(n))
    linear = dict(
        linear_k_heads=r.get("linear_num_key_heads", 16),
        linear_v_heads=r.get("linear_num_value_heads", 32),
        linear_k_head_dim=r.get("linear_key_head_dim", 128),
        linear_v_head_dim=r.get("linear_value_head_dim", 128),
        mixer_conv_kernel=r.get("linear_conv_kernel_dim", 4),
    )
    if "gated_deltanet" in out["layer_types"]:
        out.update(linear)
    out.update(_qwen3_next_moe(r, n))
    return out


def _qwen3_next_moe(r: Reader, n_layers: int) -> dict[str, Any]:
    """Experts in layer i unless i is in mlp_only_layers or (i + 1) % decoder_sparse_step; each MoE layer
    adds a shared expert behind a sigmoid gate."""
    n_experts = r.get("num_experts", 512)
    step = r.get("decoder_sparse_step", 1)
    only = set(check_items(r.get("mlp_only_layers") or [], count(0), file=r.file, field="mlp_only_layers"))
    top_k, hidden = r.get("num_experts_per_tok", 10), r.get("moe_intermediate_size", 512)
    shared, norm_topk = r.get("shared_expert_intermediate_size", 512), r.get("norm_topk_prob", True)
    dense = {i for i in range(n_layers) if i in only or (i + 1) % step}
    if not n_experts or len(dense) == n_layers:
        return {}
    out = dict(
        n_experts=n_experts,
        experts_top_k=top_k,
        expert_hidden=hidden,
        router="softmax_topk",
        router_norm_topk=bool(norm_topk),
        n_shared_experts=1,
        shared_expert_gate=True,
        moe_dense_first=_moe_dense_first(r, n_layers, dense, "mlp_only_layers"),
    )
    if shared != hidden:
        out["shared_expert_hidden"] = shared
    return out


def config_mamba2(r: Reader) -> dict[str, Any]:
    """Mamba2ForCausalLM: embedding, blocks of RMSNorm + Mamba-2 mixer (no MLP), final RMSNorm, head."""
    d, n = r.need("hidden_size"), r.need("num_hidden_layers")
    heads, head_dim, expand = r.get("num_heads", 128), r.get("head_dim", 64), r.get("expand", 2)
    if heads * head_dim != expand * d:
        raise r.error(
            "num_heads", f"num_heads x head_dim ({heads * head_dim}) must equal expand x hidden_size ({expand * d})."
        )
    r.expect("hidden_act", SILU, "silu")
    _default_time_step_limit(r)
    r.get("residual_in_fp32")  # the residual's precision in half-precision runs, not the function
    for key in ("time_step_rank", "time_step_min", "time_step_max", "time_step_floor", "rescale_prenorm_residual"):
        r.get(key)  # initialisation only
    return dict(
        vocab_size=r.need("vocab_size"),
        d_model=d,
        n_layers=n,
        n_heads=1,  # no attention layer: the head count is never used
        position="none",
        layer_types=("mamba2",) * n,
        mlp="none",
        norm="rmsnorm",
        norm_eps=float(r.get("layer_norm_epsilon", 1e-5)),
        ssm_heads=heads,
        ssm_head_dim=head_dim,
        ssm_state_size=r.get("state_size", 128),
        ssm_groups=r.get("n_groups", 8),
        ssm_conv_bias=bool(r.get("use_conv_bias", True)),
        ssm_bias=bool(r.get("use_bias", False)),
        mixer_conv_kernel=r.get("conv_kernel", 4),
        mixer_chunk_size=r.get("chunk_size", 256),
        tie_embeddings=bool(r.get("tie_word_embeddings", False)),
    )


def config_granitemoehybrid(r: Reader) -> dict[str, Any]:
    d, heads, n = r.need("hidden_size"), r.need("num_attention_heads"), r.need("num_hidden_layers")
    kv = r.get("num_key_value_heads", heads)
    r.expect("hidden_act", SILU, "silu")
    r.expect("normalization_function", ("rmsnorm",), "rmsnorm")
    if "layers_block_type" in r.data and "layer_types" in r.data:
        raise r.error("layers_block_type", "is another name of layer_types; give one of them.")
    key = "layers_block_type" if "layers_block_type" in r.data else "layer_types"
    types = _kinds(r, key, n, GRANITE_LAYERS) or ("mamba2",) * n  # transformers' default: all Mamba-2
    context = r.get("max_position_embeddings", 2048)
    out = dict(
        vocab_size=r.get("vocab_size", 32000),
        d_model=d,
        n_layers=n,
        n_heads=heads,
        n_kv_heads=kv,
        attention="mha" if kv == heads else ("mqa" if kv == 1 else "gqa"),
        context_length=context,
        layer_types=types,
        norm="rmsnorm",
        norm_eps=float(r.get("rms_norm_eps", 1e-6)),
        mlp="swiglu",
        mlp_bias=False,
        tie_embeddings=bool(r.get("tie_word_embeddings", False)),
        dropout=float(r.get("attention_dropout", 0.0)),
        attn_scale=float(r.get("attention_multiplier", 1.0)),  # transformers' default is 1.0, not head_dim^-0.5
        embedding_multiplier=float(r.get("embedding_multiplier", 1.0)),
        residual_multiplier=float(r.get("residual_multiplier", 1.0)),
        logits_scaling=float(r.get("logits_scaling", 1.0)),
        **_bias(r, False),
    )
    out.update(_granite_position(r, context), **_granite_mlp(r), **_granite_mamba(r, d, "mamba2" in types))
    return out


def _granite_position(r: Reader, context: int) -> dict[str, Any]:
    """RoPE only when position_embedding_type is "rope"; otherwise NoPE (transformers builds no rotary)."""
    kind = r.expect("position_embedding_type", (None, "nope", "rope"), None)
    params = _rope_parameters(r, 10000.0)
    if kind != "rope":
        return {"position": "none"}
    fields = _rope_fields(r, params, max_position=context)
    if fields.get("rope_fraction", 1.0) != 1.0:
        raise r.error("partial_rotary_factor", "Granite rotates the whole head; a partial rotary is not supported.")
    return fields


def _granite_mlp(r: Reader) -> dict[str, Any]:
    """Routed experts (top-k softmax) plus the ungated shared MLP; with no experts the shared MLP is the
    block's dense MLP."""
    n_experts, top_k = r.get("num_local_experts", 8), r.get("num_experts_per_tok", 2)
    expert_hidden, shared = r.get("intermediate_size", 11008), r.get("shared_intermediate_size", 1024)
    if not n_experts:
        return {"mlp_hidden": shared}
    return dict(
        n_experts=n_experts,
        experts_top_k=top_k,
        expert_hidden=expert_hidden,
        router="topk_softmax",
        n_shared_experts=1,
        shared_expert_hidden=shared,
    )


def _granite_mamba(r: Reader, d: int, used: bool) -> dict[str, Any]:
    heads, expand = r.get("mamba_n_heads", 128), r.get("mamba_expand", 2)
    head_dim = r.get("mamba_d_head", "auto")
    if head_dim == "auto":
        if (expand * d) % heads:
            raise r.error("mamba_n_heads", f"must divide mamba_expand x hidden_size ({expand * d}).")
        head_dim = expand * d // heads
    if isinstance(head_dim, str) or head_dim < 1 or head_dim * heads != expand * d:
        raise r.error(
            "mamba_d_head",
            f"must be 'auto' or a count with mamba_n_heads x mamba_d_head = {expand * d}, got {head_dim!r}.",
        )
    _default_time_step_limit(r)
    fields = dict(
        ssm_heads=heads,
        ssm_head_dim=head_dim,
        ssm_state_size=r.get("mamba_d_state", 256),
        ssm_groups=r.get("mamba_n_groups", 1),
        ssm_conv_bias=bool(r.get("mamba_conv_bias", True)),
        ssm_bias=bool(r.get("mamba_proj_bias", False)),
        mixer_conv_kernel=r.get("mamba_d_conv", 4),
        mixer_chunk_size=r.get("mamba_chunk_size", 256),
    )
    return fields if used else {}
