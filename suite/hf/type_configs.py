"""One function per HF `model_type`: its `config.json` keys -> ModelConfig fields, read through the
`Reader` of `suite.hf.config_map` (which refuses keys nobody mapped)."""

from __future__ import annotations

from typing import Any

from suite.hf.config_map import (
    GELU_ACTIVATIONS,
    Reader,
    _attention_kind,
    _bias,
    _decoder,
    _gated_mlp,
    _layer_types,
    _moe_dense_first,
    _qwen_sliding,
    _rope_fields,
    _rope_parameters,
)
from suite.hf.config_values import OBJECT, TEXT, check_items, check_rope, count


def config_gpt2(r: Reader) -> dict[str, Any]:
    if r.get("scale_attn_by_inverse_layer_idx", False):
        raise r.error("scale_attn_by_inverse_layer_idx", "per-layer attention scaling is not supported.")
    r.expect("add_cross_attention", (False,), False)
    r.get("reorder_and_upcast_attn")  # numerics only (fp16 overflow guard)
    positions = r.get("n_positions", 1024)
    r.get("n_ctx")  # legacy alias of n_positions
    act = r.expect("activation_function", tuple(GELU_ACTIVATIONS), "gelu_new")
    out = dict(
        vocab_size=r.get("vocab_size", 50257),
        context_length=positions,
        d_model=r.need("n_embd"),
        n_layers=r.need("n_layer"),
        n_heads=r.need("n_head"),
        mlp_hidden=r.get("n_inner"),
        norm="layernorm",
        norm_eps=float(r.get("layer_norm_epsilon", 1e-5)),
        position="learned",
        attention="mha",
        mlp="gelu",
        gelu_approximation=GELU_ACTIVATIONS[act],
        tie_embeddings=bool(r.get("tie_word_embeddings", True)),
        dropout=float(r.get("resid_pdrop", 0.1)),
    )
    if not r.get("scale_attn_weights", True):
        out["attn_scale"] = 1.0
    return out


def config_llama(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-6, context=2048, theta=10000.0, tie=False)
    out.update(_gated_mlp(r, "hidden_act", "silu"), **_bias(r, False), mlp_bias=bool(r.get("mlp_bias", False)))
    return out


def config_mistral(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-6, context=131072, theta=10000.0, tie=False)
    out.update(_gated_mlp(r, "hidden_act", "silu"), qkv_bias=False, out_bias=False)
    window = r.raw("sliding_window", 4096)  # v0.1: 4096; v0.2 and later: null (no window)
    if window:  # Mistral applies its window in every layer
        out.update(layer_types=("sliding",) * out["n_layers"], sliding_window=window)
    return out


def config_qwen2(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-6, context=32768, theta=10000.0, tie=False)
    r.expect("use_mrope", (False,), False)  # multimodal RoPE sections (Qwen2-VL): not implemented
    out.update(_gated_mlp(r, "hidden_act", "silu"), qkv_bias=True, out_bias=False)  # Qwen2: q/k/v biases only
    out.update(_qwen_sliding(r, out["n_layers"]))
    return out


def config_qwen3(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-6, context=32768, theta=10000.0, tie=False)
    out.update(_gated_mlp(r, "hidden_act", "silu"), **_bias(r, False), qk_norm="head")
    out.update(_qwen_sliding(r, out["n_layers"]))
    return out


def config_qwen3_moe(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-6, context=32768, theta=10000.0, tie=False)
    out.update(_gated_mlp(r, "hidden_act", "silu"), **_bias(r, False), qk_norm="head")
    out.update(_qwen_sliding(r, out["n_layers"], every_layer=True))
    n_experts = r.get("num_experts") if r.data.get("num_experts") is not None else r.get("num_local_experts", 128)
    if n_experts:
        step = r.get("decoder_sparse_step", 1)
        only_mlp = set(check_items(r.get("mlp_only_layers") or [], count(0), file=r.file, field="mlp_only_layers"))
        dense = {i for i in range(out["n_layers"]) if i in only_mlp or (i + 1) % step}
        out.update(
            n_experts=n_experts,
            experts_top_k=r.get("num_experts_per_tok", 8),
            expert_hidden=r.get("moe_intermediate_size", 768),
            router="softmax_topk",
            router_norm_topk=bool(r.get("norm_topk_prob", False)),
            moe_dense_first=_moe_dense_first(r, out["n_layers"], dense, "mlp_only_layers"),
        )
    return out


def config_olmo2(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-5, context=2048, theta=10000.0, tie=False)
    out.update(_gated_mlp(r, "hidden_act", "silu"), **_bias(r, False), qk_norm="full", norm_placement="post")
    return out


def config_gemma3_text(r: Reader) -> dict[str, Any]:
    r.expect("use_bidirectional_attention", (False,), False)
    n_layers = r.need("num_hidden_layers")
    d = r.need("hidden_size")
    max_position = r.get("max_position_embeddings", 131072)
    out = dict(
        vocab_size=r.get("vocab_size", 262208),
        d_model=d,
        n_layers=n_layers,
        n_heads=r.need("num_attention_heads"),
        head_dim=r.get("head_dim", 256),
        mlp_hidden=r.need("intermediate_size"),
        context_length=max_position,
        norm="rmsnorm",
        norm_placement="sandwich",
        norm_eps=float(r.get("rms_norm_eps", 1e-6)),
        qk_norm="head",
        tie_embeddings=bool(r.get("tie_word_embeddings", True)),
        scale_embeddings=True,
        mlp_bias=False,
        attn_scale=float(r.get("query_pre_attn_scalar", 256)) ** -0.5,
        attn_softcap=r.get("attn_logit_softcapping"),
        final_logit_softcap=r.get("final_logit_softcapping"),
        dropout=float(r.get("attention_dropout", 0.0)),
        **_bias(r, False),
        **_gated_mlp(r, "hidden_activation", "gelu_pytorch_tanh"),
    )
    out["n_kv_heads"] = r.get("num_key_value_heads", out["n_heads"])
    out["attention"] = _attention_kind(out["n_heads"], out["n_kv_heads"])
    pattern = r.get("sliding_window_pattern", 6)
    types = _layer_types(r, n_layers) or tuple("full" if (i + 1) % pattern == 0 else "sliding" for i in range(n_layers))
    out.update(layer_types=types, sliding_window=r.get("sliding_window", 4096))
    # global layers: rope_theta (+ scaling); local layers: their own base, never scaled
    params = r.get("rope_parameters")  # type-checked: a string would pass `"full_attention" in params`
    if params is not None and "full_attention" in params:
        unknown = set(params) - {"full_attention", "sliding_attention"}
        if unknown:
            raise r.error("rope_parameters", f"unknown layer type {sorted(unknown)[0]!r}.")
        full = check_rope(params["full_attention"], file=r.file, field="rope_parameters.full_attention")
        local = OBJECT.check(params.get("sliding_attention"), file=r.file, field="rope_parameters.sliding_attention")
        local = local or {}
        out.update(_rope_fields(r, full, max_position=max_position, key="rope_parameters.full_attention"))
        local_fields = _rope_fields(
            r, local or {"rope_theta": 10000.0}, max_position=max_position, key="rope_parameters.sliding_attention"
        )
        if local_fields["rope_scaling"] != "none" or local_fields.get("rope_fraction", 1.0) != out.get(
            "rope_fraction", 1.0
        ):
            raise r.error("rope_parameters.sliding_attention", "local layers must use plain RoPE (rope_type default).")
        out["rope_theta_local"] = local_fields["rope_theta"]
    else:
        out.update(_rope_fields(r, _rope_parameters(r, 1_000_000.0), max_position=max_position))
        out["rope_theta_local"] = float(r.get("rope_local_base_freq", 10000.0))
    return out


def config_gpt_oss(r: Reader) -> dict[str, Any]:
    yarn = {
        "rope_type": "yarn",
        "factor": 32.0,
        "beta_fast": 32.0,
        "beta_slow": 1.0,
        "truncate": False,
        "original_max_position_embeddings": 4096,
    }
    out = _decoder(r, eps=1e-5, context=131072, theta=150000.0, tie=False, rope_default=yarn)
    r.expect("hidden_act", ("silu",), "silu")
    r.expect("swiglu_alpha", (1.702,), 1.702)
    n_layers = out["n_layers"]
    top_k = r.get("num_experts_per_tok", 4)
    if r.get("experts_per_token", top_k) != top_k:
        raise r.error("experts_per_token", f"disagrees with num_experts_per_tok ({top_k}).")
    types = _layer_types(r, n_layers) or tuple("sliding" if i % 2 == 0 else "full" for i in range(n_layers))
    out.update(
        mlp="swiglu",
        swiglu_limit=float(r.get("swiglu_limit", 7.0)),
        mlp_bias=True,
        **_bias(r, True),
        expert_hidden=out["mlp_hidden"],
        n_experts=r.get("num_local_experts", 128),
        experts_top_k=top_k,
        router="topk_softmax",
        router_bias=True,
        attention_sinks=True,
        layer_types=types,
        sliding_window=r.get("sliding_window", 128),
    )
    return out


def deepseek_attention(r: Reader) -> dict[str, Any]:
    """The decoder fields of DeepSeek-V2/V3 (MLA attention, SwiGLU, one eps); their routers differ."""
    out = _decoder(r, eps=1e-6, context=4096, theta=10000.0, tie=False, allow_mscale=True)
    if out["norm_eps"] != 1e-6:
        # transformers and DeepSeek's reference code give the MLA latent norms eps 1e-6 whatever rms_norm_eps is
        raise r.error(
            "rms_norm_eps",
            "archbench uses one eps for all norms; DeepSeek's MLA latent norms use "
            "1e-6, so other values are not supported.",
        )
    heads = out["n_heads"]
    if out.pop("n_kv_heads") != heads:
        raise r.error(
            "num_key_value_heads", "MLA expands keys and values for every head; it must equal num_attention_heads."
        )
    out.pop("head_dim")
    rope_dim = r.need("qk_rope_head_dim")
    nope_dim = r.need("qk_nope_head_dim")
    for key, value in (("head_dim", rope_dim), ("qk_head_dim", rope_dim + nope_dim)):
        if r.get(key, value) != value:
            raise r.error(key, f"is {r.data[key]} but the MLA dimensions give {value}.")
    r.expect("moe_layer_freq", (1,), 1)
    out.update(
        _gated_mlp(r, "hidden_act", "silu"),
        **_bias(r, False),
        attention="mla",
        q_lora_rank=r.get("q_lora_rank"),
        kv_lora_rank=r.need("kv_lora_rank"),
        qk_nope_head_dim=nope_dim,
        qk_rope_head_dim=rope_dim,
        v_head_dim=r.need("v_head_dim"),
        rope_interleaved=bool(r.get("rope_interleave", True)),
    )
    return out


def config_deepseek_v3(r: Reader) -> dict[str, Any]:
    out = deepseek_attention(r)
    r.expect("scoring_func", ("sigmoid",), "sigmoid")
    r.expect("topk_method", ("noaux_tc",), "noaux_tc")
    r.get("num_nextn_predict_layers")  # multi-token-prediction module: not part of the main model
    n_experts = r.get("n_routed_experts")
    if n_experts:
        out.update(
            n_experts=n_experts,
            experts_top_k=r.need("num_experts_per_tok"),
            n_shared_experts=r.get("n_shared_experts", 0) or 0,
            expert_hidden=r.need("moe_intermediate_size"),
            moe_dense_first=r.get("first_k_dense_replace", 0),
            router="sigmoid",
            router_groups=r.get("n_group", 1),
            router_topk_groups=r.get("topk_group", 1),
            router_norm_topk=bool(r.get("norm_topk_prob", True)),
            router_scale=float(r.get("routed_scaling_factor", 1.0)),
        )
    return out


def config_deepseek_v32(r: Reader) -> dict[str, Any]:
    """DeepSeek-V3.2: DeepSeek-V3 whose every layer is DeepSeek Sparse Attention ('indexed_attention'),
    MLA always rotating (even, odd) pairs; `mlp_layer_types` (default: first_k_dense_replace dense
    layers, then MoE) says which layers are dense."""
    out = config_deepseek_v3(r)
    n = out["n_layers"]
    r.expect("rope_interleave", (True,), True)  # transformers' V3.2 attention rotates pairs whatever it says
    r.expect("mlp_bias", (False,), False)
    types = check_items(r.get("layer_types") or [], TEXT, file=r.file, field="layer_types")
    if types and types != ["indexed_attention"] * n:
        raise r.error("layer_types", f"every DeepSeek-V3.2 layer is 'indexed_attention' (one per layer, {n}).")
    kinds = check_items(r.get("mlp_layer_types") or [], TEXT, file=r.file, field="mlp_layer_types")
    if kinds and (len(kinds) != n or set(kinds) - {"dense", "sparse"}):
        raise r.error("mlp_layer_types", f"needs {n} entries, each 'dense' or 'sparse'.")
    if out.get("n_experts"):
        dense = {i for i, kind in enumerate(kinds) if kind == "dense"} if kinds else None
        first = r.get("first_k_dense_replace", 3)
        out["moe_dense_first"] = min(first, n) if dense is None else _moe_dense_first(r, n, dense, "mlp_layer_types")
    out.update(
        attention="dsa",
        index_heads=r.get("index_n_heads", 64),
        index_head_dim=r.get("index_head_dim", 128),
        index_topk=r.get("index_topk", 2048),
    )
    return out
