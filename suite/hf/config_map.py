"""Hugging Face `config.json` reading: the `Reader` that refuses unmapped keys, RoPE and shared helpers.

The per-type functions (`suite.hf.type_configs`) read the keys their model type defines, with
transformers' defaults for absent ones, through a `Reader` that remembers what was read: a key that
is neither mapped, nor checked against the one value archbench implements (`Reader.expect`), nor
known not to change the forward pass (`HARMLESS_KEYS`) is a ConfigError naming the file and the
key. Both RoPE spellings are read: transformers 5's `rope_parameters` and the older top-level
`rope_theta` + `rope_scaling`.
"""

from __future__ import annotations

from typing import Any

from suite.config import ConfigError
from suite.hf.config_values import TEXT, check_items, check_key, check_rope

# ---------------------------------------------------------------- config.json
# Keys that never change the forward pass of a causal LM: identity, tokens, generation defaults,
# training-only options (dropout, aux losses), serving hints.
HARMLESS_KEYS = frozenset(
    """
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
""".split()
)

# hidden_act -> (mlp kind, gelu approximation) for gated MLPs
GATED_ACTIVATIONS = {
    "silu": ("swiglu", "tanh"),
    "swish": ("swiglu", "tanh"),
    "gelu_pytorch_tanh": ("geglu", "tanh"),
    "gelu_new": ("geglu", "tanh"),
    "gelu": ("geglu", "none"),
}
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
        value = check_key(key, self.data.get(key), file=self.file)
        return default if value is None else value

    def raw(self, key: str, default: Any = None) -> Any:
        """Like get, but an explicit null stays null (where null means 'off', e.g. Mistral's window)."""
        self.used.add(key)
        return check_key(key, self.data[key], file=self.file) if key in self.data else default

    def need(self, key: str) -> Any:
        if self.data.get(key) is None:
            raise self.error(key, "is required for this model_type but missing.")
        return self.get(key)

    def expect(self, key: str, allowed: tuple, default: Any) -> Any:
        """A key whose other values change the math in a way archbench does not implement."""
        value = self.get(key, default)
        if value not in allowed:
            raise self.error(
                key,
                f"value {value!r} is not supported by archbench (supported: "
                f"{', '.join(map(repr, allowed))}); importing it would build a different model.",
            )
        return value

    def finish(self) -> None:
        left = sorted(k for k in self.data if k not in self.used and k not in HARMLESS_KEYS)
        if left:
            raise self.error(
                left[0],
                "unknown config key: archbench does not know whether it changes the model, "
                "so it refuses to guess"
                + (f" (other unknown keys: {', '.join(left[1:])})" if len(left) > 1 else "")
                + ".",
            )


# ---------------------------------------------------------------- RoPE
ROPE_KEYS = {  # rope_type -> keys it may carry (besides rope_type / type)
    "default": {"rope_theta", "partial_rotary_factor"},
    "linear": {"rope_theta", "partial_rotary_factor", "factor"},
    "llama3": {
        "rope_theta",
        "partial_rotary_factor",
        "factor",
        "low_freq_factor",
        "high_freq_factor",
        "original_max_position_embeddings",
    },
    "yarn": {
        "rope_theta",
        "partial_rotary_factor",
        "factor",
        "original_max_position_embeddings",
        "beta_fast",
        "beta_slow",
        "truncate",
        "mscale",
        "mscale_all_dim",
        "attention_factor",
    },
}
ROPE_SCALING_NAMES = {"default": "none", "linear": "linear", "llama3": "llama3", "yarn": "yarn"}


def _rope_parameters(r: Reader, default_theta: float, default: dict | None = None) -> dict:
    """Transformers 5 `rope_parameters`, or the older top-level `rope_theta` + `rope_scaling`."""
    if r.data.get("rope_parameters") is not None:
        r.get("rope_scaling"), r.get("rope_theta")  # legacy copies; transformers 5 reads rope_parameters
        return check_rope(r.get("rope_parameters"), file=r.file, field="rope_parameters")
    scaling = r.get("rope_scaling")
    params = dict(check_rope(scaling, file=r.file, field="rope_scaling") or (default or {}))
    params.setdefault("rope_theta", r.get("rope_theta", default_theta))
    if r.data.get("partial_rotary_factor") is not None:
        params["partial_rotary_factor"] = r.get("partial_rotary_factor")
    return params


def _rope_fields(
    r: Reader, params: dict, *, max_position: int, allow_mscale: bool = False, key: str = "rope_parameters"
) -> dict[str, Any]:
    params = dict(check_rope(params, file=r.file, field=key) or {})
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
        factor = max_position / original  # transformers' rule for a yarn config without a factor
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
    check_items(names, TEXT, file=r.file, field="layer_types")
    if len(names) != n_layers:
        raise r.error("layer_types", f"has {len(names)} entries but num_hidden_layers is {n_layers}.")
    bad = [n for n in names if n not in LAYER_TYPE_NAMES]
    if bad:
        raise r.error(
            "layer_types", f"layer type {bad[0]!r} is not supported (supported: {', '.join(LAYER_TYPE_NAMES)})."
        )
    return tuple(LAYER_TYPE_NAMES[n] for n in names)


def _decoder(
    r: Reader,
    *,
    eps: float,
    context: int,
    theta: float,
    tie: bool,
    vocab: int | None = None,
    rope_default: dict | None = None,
    allow_mscale: bool = False,
) -> dict[str, Any]:
    """The fields every Llama-descended config shares (sizes, RMSNorm, RoPE)."""
    d, heads = r.need("hidden_size"), r.need("num_attention_heads")
    kv = r.get("num_key_value_heads", heads)
    n_layers = r.need("num_hidden_layers")
    head_dim = r.get("head_dim") or d // heads
    max_position = r.get("max_position_embeddings", context)
    out = dict(
        vocab_size=r.need("vocab_size") if vocab is None else r.get("vocab_size", vocab),
        d_model=d,
        n_layers=n_layers,
        n_heads=heads,
        n_kv_heads=kv,
        head_dim=head_dim,
        mlp_hidden=r.need("intermediate_size"),
        context_length=max_position,
        norm="rmsnorm",
        norm_eps=float(r.get("rms_norm_eps", eps)),
        attention=_attention_kind(heads, kv),
        tie_embeddings=bool(r.get("tie_word_embeddings", tie)),
        mlp_bias=False,
        dropout=float(r.get("attention_dropout", 0.0)),
    )
    out.update(
        _rope_fields(r, _rope_parameters(r, theta, rope_default), max_position=max_position, allow_mscale=allow_mscale)
    )
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
        raise r.error(
            key,
            f"dense layers {sorted(dense)} are not the first k layers; archbench supports "
            "dense layers only at the start (moe_dense_first).",
        )
    return k
