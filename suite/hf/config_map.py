"""Hugging Face `config.json` -> ModelConfig fields, one function per `model_type`.

Each function reads the keys its model type defines, with transformers' defaults for absent ones,
through a `Reader` that remembers what was read: a key that is neither mapped, nor checked against
the one value archbench implements (`Reader.expect`), nor known not to change the forward pass
(`HARMLESS_KEYS`) is a ConfigError naming the file and the key. Both RoPE spellings are read:
transformers 5's `rope_parameters` and the older top-level `rope_theta` + `rope_scaling`.
"""
from __future__ import annotations

from typing import Any

from suite.config import ConfigError

# ---------------------------------------------------------------- config.json
# Keys that never change the forward pass of a causal LM: identity, tokens, generation defaults,
# training-only options (dropout, aux losses), serving hints.
HARMLESS_KEYS = frozenset("""
    architectures model_type transformers_version torch_dtype dtype _name_or_path name_or_path auto_map
    bos_token_id eos_token_id pad_token_id sep_token_id decoder_start_token_id use_cache cache_implementation
    initializer_range initializer_factor output_attentions output_hidden_states return_dict id2label label2id
    problem_type tokenizer_class prefix task_specific_params chunk_size_feed_forward is_encoder_decoder is_decoder
    tie_encoder_decoder torchscript pruned_heads finetuning_task use_bfloat16 tf_legacy_loss _attn_implementation
    attn_implementation keys_to_ignore_at_inference _commit_hash _sliding_window_pattern
    max_length min_length do_sample early_stopping num_beams num_beam_groups diversity_penalty temperature top_k
    top_p typical_p repetition_penalty length_penalty no_repeat_ngram_size encoder_no_repeat_ngram_size
    bad_words_ids num_return_sequences output_scores return_dict_in_generate forced_bos_token_id
    forced_eos_token_id remove_invalid_values exponential_decay_length_penalty suppress_tokens
    begin_suppress_tokens
    attention_dropout attn_pdrop embd_pdrop summary_type summary_use_proj summary_activation
    summary_proj_to_labels summary_first_dropout
    router_aux_loss_coef output_router_logits aux_loss_alpha seq_aux ep_size router_jitter_noise
    pretraining_tp initial_context_length quantization_config
""".split())

# hidden_act -> (mlp kind, gelu approximation) for gated MLPs
GATED_ACTIVATIONS = {"silu": ("swiglu", "tanh"), "swish": ("swiglu", "tanh"),
                     "gelu_pytorch_tanh": ("geglu", "tanh"), "gelu_new": ("geglu", "tanh"),
                     "gelu": ("geglu", "none")}
GELU_ACTIVATIONS = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu": "none"}
LAYER_TYPE_NAMES = {"full_attention": "full", "sliding_attention": "sliding"}
# top-level keys of an image-text config whose decoder is its `text_config` (not imported: the vision part)
MULTIMODAL_KEYS = ("vision_config", "boi_token_index", "eoi_token_index", "image_token_index", "mm_tokens_per_image")


class Reader:
    """config.json values with HF defaults; remembers which keys were read so none is ignored."""

    def __init__(self, data: dict[str, Any], file: str):
        self.data, self.file, self.used = data, file, set()

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, field=key)

    def get(self, key: str, default: Any = None) -> Any:
        self.used.add(key)
        value = self.data.get(key, default)
        return default if value is None and default is not None else value

    def raw(self, key: str, default: Any = None) -> Any:
        """Like get, but an explicit null stays null (where null means 'off', e.g. Mistral's window)."""
        self.used.add(key)
        return self.data[key] if key in self.data else default

    def need(self, key: str) -> Any:
        if self.data.get(key) is None:
            raise self.error(key, "is required for this model_type but missing.")
        return self.get(key)

    def expect(self, key: str, allowed: tuple, default: Any) -> Any:
        """A key whose other values change the math in a way archbench does not implement."""
        value = self.get(key, default)
        if value not in allowed:
            raise self.error(key, f"value {value!r} is not supported by archbench (supported: "
                                  f"{', '.join(map(repr, allowed))}); importing it would build a different model.")
        return value

    def finish(self) -> None:
        left = sorted(k for k in self.data if k not in self.used and k not in HARMLESS_KEYS)
        if left:
            raise self.error(left[0], "unknown config key: archbench does not know whether it changes the model, "
                                      "so it refuses to guess" + (f" (other unknown keys: {', '.join(left[1:])})"
                                                                  if len(left) > 1 else "") + ".")


# ---------------------------------------------------------------- RoPE
ROPE_KEYS = {  # rope_type -> keys it may carry (besides rope_type / type)
    "default": {"rope_theta", "partial_rotary_factor"},
    "linear": {"rope_theta", "partial_rotary_factor", "factor"},
    "llama3": {"rope_theta", "partial_rotary_factor", "factor", "low_freq_factor", "high_freq_factor",
               "original_max_position_embeddings"},
    "yarn": {"rope_theta", "partial_rotary_factor", "factor", "original_max_position_embeddings", "beta_fast",
             "beta_slow", "truncate", "mscale", "mscale_all_dim", "attention_factor"},
}
ROPE_SCALING_NAMES = {"default": "none", "linear": "linear", "llama3": "llama3", "yarn": "yarn"}


def _rope_parameters(r: Reader, default_theta: float, default: dict | None = None) -> dict:
    """Transformers 5 `rope_parameters`, or the older top-level `rope_theta` + `rope_scaling`."""
    if r.data.get("rope_parameters") is not None:
        r.get("rope_scaling"), r.get("rope_theta")  # legacy copies; transformers 5 reads rope_parameters
        return r.get("rope_parameters")
    params = dict(r.get("rope_scaling") or (default or {}))
    params.setdefault("rope_theta", r.get("rope_theta", default_theta))
    if r.data.get("partial_rotary_factor") is not None:
        params["partial_rotary_factor"] = r.get("partial_rotary_factor")
    return params


def _rope_fields(r: Reader, params: dict, *, max_position: int, allow_mscale: bool = False,
                 key: str = "rope_parameters") -> dict[str, Any]:
    params = dict(params)
    kind = params.pop("rope_type", None)
    alias = params.pop("type", None)
    if kind and alias and kind != alias:
        raise r.error(key, f"rope_type {kind!r} and type {alias!r} disagree.")
    kind = kind or alias or "default"
    if kind not in ROPE_KEYS:
        raise r.error(key, f"RoPE type {kind!r} is not supported (supported: {', '.join(ROPE_KEYS)}).")
    unknown = sorted(set(params) - ROPE_KEYS[kind])
    if unknown:
        raise r.error(f"{key}.{unknown[0]}", f"is not a known parameter of RoPE type {kind!r}.")
    out: dict[str, Any] = {"position": "rope", "rope_scaling": ROPE_SCALING_NAMES[kind]}
    if params.get("rope_theta") is None:
        raise r.error(f"{key}.rope_theta", "is missing.")
    out["rope_theta"] = float(params["rope_theta"])
    if params.get("partial_rotary_factor") is not None:
        out["rope_fraction"] = float(params["partial_rotary_factor"])
    if kind == "default":
        return out
    original = params.get("original_max_position_embeddings")
    factor = params.get("factor")
    if factor is None and kind == "yarn" and original:
        factor = max_position / original   # transformers' rule for a yarn config without a factor
    if factor is None:
        raise r.error(f"{key}.factor", f"RoPE type {kind!r} needs a factor.")
    out["rope_factor"] = float(factor)
    if kind in ("llama3", "yarn"):
        if not original:
            raise r.error(f"{key}.original_max_position_embeddings", f"RoPE type {kind!r} needs it.")
        out["rope_original_context"] = int(original)
    if kind == "llama3":
        out["rope_low_freq_factor"] = float(params.get("low_freq_factor", 1.0))
        out["rope_high_freq_factor"] = float(params.get("high_freq_factor", 4.0))
    if kind == "yarn":
        if params.get("attention_factor") is not None:
            raise r.error(f"{key}.attention_factor", "an explicit YaRN attention_factor is not supported.")
        out["rope_beta_fast"] = float(params.get("beta_fast") or 32.0)
        out["rope_beta_slow"] = float(params.get("beta_slow") or 1.0)
        out["rope_truncate"] = bool(params.get("truncate", True))
        for name in ("mscale", "mscale_all_dim"):
            if params.get(name):
                if not allow_mscale:
                    # transformers applies mscale_all_dim to the softmax scale only in DeepSeek models
                    raise r.error(f"{key}.{name}", "is only supported for model_type deepseek_v3.")
                out[f"rope_{name}"] = float(params[name])
    return out


# ---------------------------------------------------------------- per-type configs
def _attention_kind(n_heads: int, n_kv: int) -> str:
    return "mha" if n_kv == n_heads else ("mqa" if n_kv == 1 else "gqa")


def _gated_mlp(r: Reader, key: str, default: str) -> dict[str, Any]:
    act = r.expect(key, tuple(GATED_ACTIVATIONS), default)
    mlp, approx = GATED_ACTIVATIONS[act]
    return {"mlp": mlp, "gelu_approximation": approx}


def _layer_types(r: Reader, n_layers: int) -> tuple[str, ...] | None:
    names = r.get("layer_types")
    if names is None:
        return None
    if len(names) != n_layers:
        raise r.error("layer_types", f"has {len(names)} entries but num_hidden_layers is {n_layers}.")
    bad = [n for n in names if n not in LAYER_TYPE_NAMES]
    if bad:
        raise r.error("layer_types", f"layer type {bad[0]!r} is not supported (supported: "
                                     f"{', '.join(LAYER_TYPE_NAMES)}).")
    return tuple(LAYER_TYPE_NAMES[n] for n in names)


def _decoder(r: Reader, *, eps: float, context: int, theta: float, tie: bool, vocab: int | None = None,
             rope_default: dict | None = None, allow_mscale: bool = False) -> dict[str, Any]:
    """The fields every Llama-descended config shares (sizes, RMSNorm, RoPE)."""
    d, heads = r.need("hidden_size"), r.need("num_attention_heads")
    kv = r.get("num_key_value_heads", heads)
    n_layers = r.need("num_hidden_layers")
    head_dim = r.get("head_dim") or d // heads
    max_position = r.get("max_position_embeddings", context)
    out = dict(vocab_size=r.need("vocab_size") if vocab is None else r.get("vocab_size", vocab),
               d_model=d, n_layers=n_layers, n_heads=heads, n_kv_heads=kv, head_dim=head_dim,
               mlp_hidden=r.need("intermediate_size"), context_length=max_position,
               norm="rmsnorm", norm_eps=float(r.get("rms_norm_eps", eps)), attention=_attention_kind(heads, kv),
               tie_embeddings=bool(r.get("tie_word_embeddings", tie)), mlp_bias=False,
               dropout=float(r.get("attention_dropout", 0.0)))
    out.update(_rope_fields(r, _rope_parameters(r, theta, rope_default), max_position=max_position,
                            allow_mscale=allow_mscale))
    return out


def _bias(r: Reader, default: bool) -> dict[str, Any]:
    bias = bool(r.get("attention_bias", default))
    return {"qkv_bias": bias, "out_bias": bias}


def _qwen_sliding(r: Reader, n_layers: int, every_layer: bool = False) -> dict[str, Any]:
    """Qwen2/Qwen3: a window only with use_sliding_window; layers >= max_window_layers slide."""
    use = bool(r.get("use_sliding_window", False))
    window = r.get("sliding_window")
    first = r.get("max_window_layers", 28)
    types = _layer_types(r, n_layers)
    if not use or not window:
        return {}  # transformers drops the window: every layer attends fully
    if every_layer:
        types = ("sliding",) * n_layers
    elif types is None:
        types = tuple("sliding" if i >= first else "full" for i in range(n_layers))
    return {"layer_types": types, "sliding_window": window} if "sliding" in types else {}


def _moe_dense_first(r: Reader, n_layers: int, dense: set[int], key: str) -> int:
    k = len(dense)
    if dense != set(range(k)):
        raise r.error(key, f"dense layers {sorted(dense)} are not the first k layers; archbench supports "
                           "dense layers only at the start (moe_dense_first).")
    return k


def config_gpt2(r: Reader) -> dict[str, Any]:
    if r.get("scale_attn_by_inverse_layer_idx", False):
        raise r.error("scale_attn_by_inverse_layer_idx", "per-layer attention scaling is not supported.")
    r.expect("add_cross_attention", (False,), False)
    r.get("reorder_and_upcast_attn")   # numerics only (fp16 overflow guard)
    positions = r.get("n_positions", 1024)
    r.get("n_ctx")                     # legacy alias of n_positions
    act = r.expect("activation_function", tuple(GELU_ACTIVATIONS), "gelu_new")
    out = dict(vocab_size=r.get("vocab_size", 50257), context_length=positions, d_model=r.need("n_embd"),
               n_layers=r.need("n_layer"), n_heads=r.need("n_head"), mlp_hidden=r.get("n_inner"),
               norm="layernorm", norm_eps=float(r.get("layer_norm_epsilon", 1e-5)), position="learned",
               attention="mha", mlp="gelu", gelu_approximation=GELU_ACTIVATIONS[act],
               tie_embeddings=bool(r.get("tie_word_embeddings", True)), dropout=float(r.get("resid_pdrop", 0.1)))
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
    window = r.raw("sliding_window", 4096)   # v0.1: 4096; v0.2 and later: null (no window)
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
        only_mlp = set(r.get("mlp_only_layers") or [])
        dense = {i for i in range(out["n_layers"]) if i in only_mlp or (i + 1) % step}
        out.update(n_experts=n_experts, experts_top_k=r.get("num_experts_per_tok", 8),
                   expert_hidden=r.get("moe_intermediate_size", 768), router="softmax_topk",
                   router_norm_topk=bool(r.get("norm_topk_prob", False)),
                   moe_dense_first=_moe_dense_first(r, out["n_layers"], dense, "mlp_only_layers"))
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
    out = dict(vocab_size=r.get("vocab_size", 262208), d_model=d, n_layers=n_layers,
               n_heads=r.need("num_attention_heads"), head_dim=r.get("head_dim", 256),
               mlp_hidden=r.need("intermediate_size"), context_length=max_position, norm="rmsnorm",
               norm_placement="sandwich", norm_eps=float(r.get("rms_norm_eps", 1e-6)), qk_norm="head",
               tie_embeddings=bool(r.get("tie_word_embeddings", True)), scale_embeddings=True, mlp_bias=False,
               attn_scale=float(r.get("query_pre_attn_scalar", 256)) ** -0.5,
               attn_softcap=r.get("attn_logit_softcapping"), final_logit_softcap=r.get("final_logit_softcapping"),
               dropout=float(r.get("attention_dropout", 0.0)), **_bias(r, False),
               **_gated_mlp(r, "hidden_activation", "gelu_pytorch_tanh"))
    out["n_kv_heads"] = r.get("num_key_value_heads", out["n_heads"])
    out["attention"] = _attention_kind(out["n_heads"], out["n_kv_heads"])
    pattern = r.get("sliding_window_pattern", 6)
    types = _layer_types(r, n_layers) or tuple("full" if (i + 1) % pattern == 0 else "sliding"
                                               for i in range(n_layers))
    out.update(layer_types=types, sliding_window=r.get("sliding_window", 4096))
    # global layers: rope_theta (+ scaling); local layers: their own base, never scaled
    params = r.data.get("rope_parameters")
    if params is not None and "full_attention" in params:
        r.get("rope_parameters")
        unknown = set(params) - {"full_attention", "sliding_attention"}
        if unknown:
            raise r.error("rope_parameters", f"unknown layer type {sorted(unknown)[0]!r}.")
        full, local = params["full_attention"], params.get("sliding_attention") or {}
        out.update(_rope_fields(r, full, max_position=max_position, key="rope_parameters.full_attention"))
        local_fields = _rope_fields(r, local or {"rope_theta": 10000.0}, max_position=max_position,
                                    key="rope_parameters.sliding_attention")
        if local_fields["rope_scaling"] != "none" or local_fields.get("rope_fraction", 1.0) != out.get("rope_fraction", 1.0):
            raise r.error("rope_parameters.sliding_attention", "local layers must use plain RoPE (rope_type default).")
        out["rope_theta_local"] = local_fields["rope_theta"]
    else:
        out.update(_rope_fields(r, _rope_parameters(r, 1_000_000.0), max_position=max_position))
        out["rope_theta_local"] = float(r.get("rope_local_base_freq", 10000.0))
    return out


def config_gpt_oss(r: Reader) -> dict[str, Any]:
    yarn = {"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0, "beta_slow": 1.0, "truncate": False,
            "original_max_position_embeddings": 4096}
    out = _decoder(r, eps=1e-5, context=131072, theta=150000.0, tie=False, rope_default=yarn)
    r.expect("hidden_act", ("silu",), "silu")
    r.expect("swiglu_alpha", (1.702,), 1.702)
    n_layers = out["n_layers"]
    top_k = r.get("num_experts_per_tok", 4)
    if r.get("experts_per_token", top_k) != top_k:
        raise r.error("experts_per_token", f"disagrees with num_experts_per_tok ({top_k}).")
    types = _layer_types(r, n_layers) or tuple("sliding" if i % 2 == 0 else "full" for i in range(n_layers))
    out.update(mlp="swiglu", swiglu_limit=float(r.get("swiglu_limit", 7.0)), mlp_bias=True, **_bias(r, True),
               expert_hidden=out["mlp_hidden"], n_experts=r.get("num_local_experts", 128), experts_top_k=top_k,
               router="topk_softmax", router_bias=True, attention_sinks=True,
               layer_types=types, sliding_window=r.get("sliding_window", 128))
    return out


def config_deepseek_v3(r: Reader) -> dict[str, Any]:
    out = _decoder(r, eps=1e-6, context=4096, theta=10000.0, tie=False, allow_mscale=True)
    if out["norm_eps"] != 1e-6:
        # transformers and DeepSeek's reference code give the MLA latent norms eps 1e-6 whatever rms_norm_eps is
        raise r.error("rms_norm_eps", "archbench uses one eps for all norms; DeepSeek-V3's latent norms use "
                                      "1e-6, so other values are not supported.")
    heads = out["n_heads"]
    if out.pop("n_kv_heads") != heads:
        raise r.error("num_key_value_heads", "MLA expands keys and values for every head; it must equal "
                                             "num_attention_heads.")
    out.pop("head_dim")
    rope_dim = r.need("qk_rope_head_dim")
    nope_dim = r.need("qk_nope_head_dim")
    for key, value in (("head_dim", rope_dim), ("qk_head_dim", rope_dim + nope_dim)):
        if r.get(key, value) != value:
            raise r.error(key, f"is {r.data[key]} but the MLA dimensions give {value}.")
    r.expect("scoring_func", ("sigmoid",), "sigmoid")
    r.expect("topk_method", ("noaux_tc",), "noaux_tc")
    r.expect("moe_layer_freq", (1,), 1)
    r.get("num_nextn_predict_layers")  # multi-token-prediction module: not part of the main model
    out.update(_gated_mlp(r, "hidden_act", "silu"), **_bias(r, False), attention="mla",
               q_lora_rank=r.get("q_lora_rank"), kv_lora_rank=r.need("kv_lora_rank"),
               qk_nope_head_dim=nope_dim, qk_rope_head_dim=rope_dim, v_head_dim=r.need("v_head_dim"),
               rope_interleaved=bool(r.get("rope_interleave", True)))
    n_experts = r.get("n_routed_experts")
    if n_experts:
        out.update(n_experts=n_experts, experts_top_k=r.need("num_experts_per_tok"),
                   n_shared_experts=r.get("n_shared_experts", 0) or 0, expert_hidden=r.need("moe_intermediate_size"),
                   moe_dense_first=r.get("first_k_dense_replace", 0), router="sigmoid",
                   router_groups=r.get("n_group", 1), router_topk_groups=r.get("topk_group", 1),
                   router_norm_topk=bool(r.get("norm_topk_prob", True)),
                   router_scale=float(r.get("routed_scaling_factor", 1.0)))
    return out
