"""`config.json` -> ModelConfig fields for the model types that reuse components archbench already has
in a new combination: Mixtral, Qwen2-MoE and OLMoE (softmax-routed experts), Phi-3 (fused weights,
only a name-mapping matter), SmolLM3 (NoPE every 4th layer: layer kind `full_nope`), Gemma-2 (soft-
capping, alternating windows), DeepSeek-V2 (MLA with a softmax router), GLM-4.5 (`glm4_moe`: GQA
with partial RoPE and DeepSeek-V3's router), Granite (muP-style multipliers) and EXAONE-4 (NoPE on
its global layers).

Defaults are transformers' own for each type, so a config that leaves a key out imports as the
model transformers builds from it; keys whose other values change the math are checked with
`Reader.expect` and refused.
"""

from __future__ import annotations

from typing import Any

from suite.hf.config_map import (
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
from suite.hf.config_values import check_items, count
from suite.hf.mixer_configs import _partial_rope
from suite.hf.type_configs import deepseek_attention


def _every_layer_window(r: Reader, out: dict[str, Any]) -> None:
    """Mistral's rule, shared by Mixtral and Phi-3: a non-null sliding_window applies to every layer."""
    window = r.raw("sliding_window", None)
    if window:
        out.update(layer_types=("sliding",) * out["n_layers"], sliding_window=window)


def _softmax_experts(n_experts: int, top_k: int, hidden: int, norm: bool) -> dict[str, Any]:
    return dict(
        n_experts=n_experts,
        experts_top_k=top_k,
        expert_hidden=hidden,
        router="softmax_topk",
        router_norm_topk=norm,
    )


def config_mixtral(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-5, context=131072, theta=1_000_000.0, tie=False)
    out.update(_gated_mlp(r, "hidden_act", "silu"), qkv_bias=False, out_bias=False)
    _every_layer_window(r, out)
    # Mixtral renormalises the top-k softmax weights (no norm_topk_prob key: always on)
    top_k = r.get("num_experts_per_tok", 2)
    out.update(_softmax_experts(r.get("num_local_experts", 8), top_k, out.pop("mlp_hidden"), True))
    return out


def config_qwen2_moe(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-6, context=32768, theta=10000.0, tie=False)
    out.update(_gated_mlp(r, "hidden_act", "silu"), qkv_bias=bool(r.get("qkv_bias", True)), out_bias=False)
    out.update(_qwen_sliding(r, out["n_layers"]))
    n_experts = r.get("num_experts", 60)
    if not n_experts:
        return out
    n = out["n_layers"]
    step = r.get("decoder_sparse_step", 1)
    only = set(check_items(r.get("mlp_only_layers") or [], count(0), file=r.file, field="mlp_only_layers"))
    dense = {i for i in range(n) if i in only or (i + 1) % step}
    hidden = r.get("moe_intermediate_size", 1408)
    shared = r.get("shared_expert_intermediate_size", 5632)
    out.update(
        _softmax_experts(n_experts, r.get("num_experts_per_tok", 4), hidden, bool(r.get("norm_topk_prob", False))),
        n_shared_experts=1,
        shared_expert_gate=True,  # the shared expert's output times sigmoid(x w)
        moe_dense_first=_moe_dense_first(r, n, dense, "mlp_only_layers"),
    )
    if shared != hidden:
        out["shared_expert_hidden"] = shared
    if not out["moe_dense_first"]:
        out.pop("mlp_hidden")  # no dense layer reads intermediate_size
    return out


def config_olmoe(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-5, context=4096, theta=10000.0, tie=False)
    r.expect("clip_qkv", (None,), None)  # clamping q/k/v is not implemented
    out.update(_gated_mlp(r, "hidden_act", "silu"), **_bias(r, False), qk_norm="full")
    top_k, norm = r.get("num_experts_per_tok", 8), bool(r.get("norm_topk_prob", False))
    out.update(_softmax_experts(r.get("num_experts", 64), top_k, out.pop("mlp_hidden"), norm))
    return out


def config_phi3(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-5, context=4096, theta=10000.0, tie=False)
    out.update(_rope_fields(r, _partial_rope(r, 1.0), max_position=out["context_length"]))  # Phi-4-mini: 0.75
    out.update(_gated_mlp(r, "hidden_act", "silu"), qkv_bias=False, out_bias=False)
    out["dropout"] = float(r.get("resid_pdrop", 0.0))
    # read only by the longrope schedule, which the RoPE mapping refuses; plain RoPE ignores it
    r.get("original_max_position_embeddings")
    _every_layer_window(r, out)
    return out


def config_smollm3(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-6, context=32768, theta=2_000_000.0, tie=True)
    out.update(_gated_mlp(r, "hidden_act", "silu"), **_bias(r, False), mlp_bias=bool(r.get("mlp_bias", False)))
    n = out["n_layers"]
    interval = r.get("no_rope_layer_interval", 4)
    flags = r.get("no_rope_layers")
    if flags is None:
        flags = [int((i + 1) % interval != 0) for i in range(n)]  # transformers' rule: 1 = RoPE, 0 = NoPE
    check_items(flags, count(0, 1), file=r.file, field="no_rope_layers")
    if len(flags) != n:
        raise r.error("no_rope_layers", f"has {len(flags)} entries but num_hidden_layers is {n}.")
    window, use_window = r.get("sliding_window"), r.get("use_sliding_window", False)
    window = window if use_window else None  # transformers slides only with use_sliding_window
    types = _layer_types(r, n) or ("full",) * n
    kinds = []
    for i, (kind, rope) in enumerate(zip(types, flags)):
        sliding = kind == "sliding" and bool(window)
        if sliding and not rope:
            raise r.error("no_rope_layers", f"layer {i} slides without RoPE; archbench has no sliding NoPE layer.")
        kinds.append("sliding" if sliding else ("full" if rope else "full_nope"))
    if set(kinds) != {"full"}:
        out["layer_types"] = tuple(kinds)
    if "sliding" in kinds:
        out["sliding_window"] = window
    return out


def config_gemma2(r: Reader) -> dict[str, Any]:
    r.expect("use_bidirectional_attention", (None, False), None)
    r.get("hidden_act")  # older configs repeat the activation here; transformers reads hidden_activation
    n_layers, heads = r.need("num_hidden_layers"), r.need("num_attention_heads")
    max_position = r.get("max_position_embeddings", 8192)
    kv = r.get("num_key_value_heads", heads)
    out = dict(
        vocab_size=r.get("vocab_size", 256000),
        d_model=r.need("hidden_size"),
        n_layers=n_layers,
        n_heads=heads,
        n_kv_heads=kv,
        attention=_attention_kind(heads, kv),
        head_dim=r.get("head_dim", 256),
        mlp_hidden=r.need("intermediate_size"),
        context_length=max_position,
        norm="rmsnorm",
        norm_placement="sandwich",
        norm_eps=float(r.get("rms_norm_eps", 1e-6)),
        tie_embeddings=bool(r.get("tie_word_embeddings", True)),
        scale_embeddings=True,
        mlp_bias=False,
        attn_scale=float(r.get("query_pre_attn_scalar", 256)) ** -0.5,
        attn_softcap=r.get("attn_logit_softcapping", 50.0),
        final_logit_softcap=r.get("final_logit_softcapping", 30.0),
        dropout=float(r.get("attention_dropout", 0.0)),
        **_bias(r, False),
        **_gated_mlp(r, "hidden_activation", "gelu_pytorch_tanh"),
    )
    # transformers' default alternates, starting with a sliding layer
    types = _layer_types(r, n_layers) or tuple("sliding" if i % 2 == 0 else "full" for i in range(n_layers))
    out.update(layer_types=types, sliding_window=r.get("sliding_window", 4096))
    out.update(_rope_fields(r, _rope_parameters(r, 10000.0), max_position=max_position))
    return out


def config_deepseek_v2(r: Reader) -> dict[str, Any]:
    out = deepseek_attention(r)
    r.expect("scoring_func", ("softmax",), "softmax")
    r.expect("mlp_bias", (False,), False)
    # transformers' DeepSeek-V2 never renormalises the top-k weights, whatever norm_topk_prob says
    r.expect("norm_topk_prob", (False,), False)
    groups = r.get("n_group") or 1
    r.get("topk_group")  # read only by group-limited routing over several groups, refused below
    method = r.expect("topk_method", ("greedy", "group_limited_greedy"), "greedy")
    if method == "group_limited_greedy" and groups > 1:
        raise r.error("topk_method", "group-limited softmax routing (n_group > 1) is not supported by archbench.")
    n_experts = r.get("n_routed_experts", 64)
    if n_experts:
        out.update(
            _softmax_experts(n_experts, r.need("num_experts_per_tok"), r.get("moe_intermediate_size", 1407), False),
            n_shared_experts=r.get("n_shared_experts", 0) or 0,
            moe_dense_first=r.get("first_k_dense_replace", 0),
            router_scale=float(r.get("routed_scaling_factor", 1.0)),
        )
    return out


def config_glm4_moe(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-5, context=131072, theta=10000.0, tie=False)
    out.update(_rope_fields(r, _partial_rope(r, 0.5), max_position=out["context_length"]))
    out.update(_gated_mlp(r, "hidden_act", "silu"), qkv_bias=bool(r.get("attention_bias", False)), out_bias=False)
    if r.get("use_qk_norm", False):
        out["qk_norm"] = "head"
    r.get("num_nextn_predict_layers")  # multi-token-prediction layers: not part of the main model
    n_experts = r.get("n_routed_experts", 128)
    if n_experts:
        out.update(
            n_experts=n_experts,
            experts_top_k=r.get("num_experts_per_tok", 8),
            n_shared_experts=r.get("n_shared_experts", 1) or 0,
            expert_hidden=r.get("moe_intermediate_size", 1408),
            moe_dense_first=r.get("first_k_dense_replace", 1),
            router="sigmoid",  # DeepSeek-V3's: bias-corrected sigmoid scores, group-limited top-k
            router_groups=r.get("n_group", 1),
            router_topk_groups=r.get("topk_group", 1),
            router_norm_topk=bool(r.get("norm_topk_prob", True)),
            router_scale=float(r.get("routed_scaling_factor", 1.0)),
        )
    return out


def config_granite(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-6, context=2048, theta=10000.0, tie=False)
    out.update(_gated_mlp(r, "hidden_act", "silu"), **_bias(r, False), mlp_bias=bool(r.get("mlp_bias", False)))
    out.update(
        attn_scale=float(r.get("attention_multiplier", 1.0)),  # transformers' default is 1.0, not head_dim^-0.5
        embedding_multiplier=float(r.get("embedding_multiplier", 1.0)),
        residual_multiplier=float(r.get("residual_multiplier", 1.0)),
        logits_scaling=float(r.get("logits_scaling", 1.0)),
    )
    return out


def config_exaone4(r: Reader) -> dict[str, Any]:
    """Post-norm blocks with per-head q/k norms; with a window, the global layers attend without RoPE."""
    out = _decoder(r, eps=1e-5, context=2048, theta=10000.0, tie=False)
    out.update(_gated_mlp(r, "hidden_act", "silu"), **_bias(r, False), qk_norm="head", norm_placement="post")
    n = out["n_layers"]
    window = r.raw("sliding_window", 4096)  # null: no window, and RoPE in every layer
    pattern = _exaone_pattern(r, window)
    types = _layer_types(r, n)
    if types is None:
        types = tuple("sliding" if pattern and (i + 1) % pattern else "full" for i in range(n))
    if window:
        out["layer_types"] = tuple("full_nope" if kind == "full" else kind for kind in types)
        if "sliding" in types:
            out["sliding_window"] = window
    elif "sliding" in types:
        raise r.error("layer_types", "has sliding layers but sliding_window is null.")
    return out


def _exaone_pattern(r: Reader, window: int | None) -> int:
    """sliding_window_pattern: a period (every n-th layer global) or a string such as "LLLG"."""
    r.used.add("sliding_window_pattern")
    value = r.data.get("sliding_window_pattern", 4)
    if not window or value is None:
        return 0
    if isinstance(value, str) and value and set(value) <= {"L", "G"} and value.endswith("G") and value.count("G") == 1:
        return len(value)
    if type(value) is int and value >= 1:
        return value
    raise r.error("sliding_window_pattern", f"expected a period or a string such as 'LLLG', got {value!r}.")
