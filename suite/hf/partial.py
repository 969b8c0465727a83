"""What archbench can read from the `config.json` of a model type it does not support, and nothing more.

`archbench show` of such a config reports the sizes it finds under their usual key names (hidden
size, layers, heads, KV heads, vocabulary, MLP width, context, experts) and lists every other key as
unmapped, instead of only refusing. It never invents a number: a size whose key is absent is absent,
and the parameter count is given only when the whole config reads as a Llama-layout decoder (every
key is one the Llama mapping reads, none left over, and every key the count needs is present rather
than defaulted), with that basis stated. `import` still refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from suite.config import ConfigError, ModelConfig
from suite.hf.config_map import HARMLESS_KEYS, MULTIMODAL_KEYS, Reader
from suite.hf.model_types import MODEL_TYPES, read_hf_config
from suite.hf.type_configs import config_llama

# field -> the config.json keys that mean it across model families, in order of preference
SIZE_KEYS: dict[str, tuple[str, ...]] = {
    "d_model": ("hidden_size", "n_embd", "d_model", "model_dim"),
    "n_layers": ("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    "n_heads": ("num_attention_heads", "n_head", "num_heads", "n_heads"),
    "n_kv_heads": ("num_key_value_heads", "multi_query_group_num", "num_kv_heads", "n_kv_heads"),
    "head_dim": ("head_dim", "kv_channels"),
    "vocab_size": ("vocab_size", "padded_vocab_size"),
    "mlp_hidden": ("intermediate_size", "n_inner", "ffn_hidden_size", "ffn_dim"),
    "context_length": ("max_position_embeddings", "n_positions", "seq_length", "max_sequence_length"),
    "n_experts": ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts"),
    "experts_top_k": ("num_experts_per_tok", "moe_top_k", "num_experts_per_token"),
}


def _size(value: Any) -> bool:
    return type(value) is int and 0 < value < 2**53


def _decoder_keys(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The decoder's keys: a multimodal config keeps them in text_config (its own keys then count too)."""
    text = data.get("text_config")
    if isinstance(text, dict):
        outer = {k: v for k, v in data.items() if k != "text_config" and k not in MULTIMODAL_KEYS}
        return {**outer, **text}, "text_config"
    return data, ""


# what a Llama-layout count depends on: none of it may come from a default of a type that is not Llama
COUNT_KEYS = (
    "hidden_size num_hidden_layers num_attention_heads num_key_value_heads vocab_size intermediate_size "
    "tie_word_embeddings hidden_act"
).split()


def _llama_count(data: dict[str, Any], file: str) -> tuple[dict[str, Any], set[str]] | None:
    """(parameter counts, keys read) when the count's keys are all present and every key reads through the
    Llama mapping with none left over, else None."""
    from suite.analytic.params import count_params

    if any(data.get(key) is None for key in COUNT_KEYS):
        return None
    reader = Reader(data, file)
    try:
        fields = config_llama(reader)
        reader.finish()
        cfg = ModelConfig.from_dict({k: v for k, v in fields.items() if v is not None} | {"name": "partial"})
    except (ConfigError, ValueError):
        return None
    params = count_params(cfg)
    return {k: params[k] for k in ("total", "active", "embedding")}, reader.used


def partial_report(path: str | Path, *, name: str | None = None) -> dict[str, Any] | None:
    """The partial reading of an HF config of an unsupported model_type; None for a supported type (or none
    at all: `config_from_hf` explains that)."""
    raw, file = read_hf_config(path)
    model_type = raw.get("model_type")
    if model_type in MODEL_TYPES or not model_type:  # a config without a type is broken, not unsupported
        return None
    data, nested = _decoder_keys(raw)
    read, missing, used = {}, [], set()
    for field, keys in SIZE_KEYS.items():
        key = next((k for k in keys if _size(data.get(k))), None)
        if key is None:
            missing.append(field)
            continue
        used.add(key)
        read[field] = {"value": data[key], "key": f"{nested}.{key}" if nested and key in raw["text_config"] else key}
    counted = _llama_count(data, str(file))
    params = None
    if counted is None:
        note = (
            "left out: it depends on how this model_type lays out its weights, which only a supported "
            "type's mapping knows (or on keys this config does not give)"
        )
    else:
        params, read_by_count = counted
        used |= read_by_count
        note = (
            "counted as a Llama-layout decoder: every key of this config is one the Llama mapping reads, "
            f"and it gives each key the count needs ({', '.join(COUNT_KEYS)})"
        )
    unmapped = sorted(k for k in data if k not in used and k not in HARMLESS_KEYS)
    return {
        "name": name or (file.parent.name if file.name == "config.json" else file.stem),
        "model_type": model_type,
        "source": str(file),
        "partial": True,
        "supported": False,
        "reason": (
            f"model_type {model_type!r} is not supported (supported: {', '.join(MODEL_TYPES)}); "
            "only the sizes below were read, and `archbench import` refuses this config."
        ),
        "read": read,
        "missing": missing,
        "unmapped_keys": unmapped,
        "params": params,
        "params_note": note,
    }
