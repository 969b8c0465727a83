"""The supported HF model types, and `config.json` -> ModelConfig through them.

One table, `MODEL_TYPES`, maps each supported `model_type` to two things: how its config.json reads
as ModelConfig fields (`config_map`), and where each of our parameters comes from in its checkpoint
(`names`). Nothing is guessed, so an import is either the same function as the original or an error:
- every config key is mapped, checked against the one value we implement, or known not to change
  the forward pass (`HARMLESS_KEYS`: token ids, dropout, training-only options...); any other key is
  a ConfigError naming the file and the key;
- every parameter of our model must come from the checkpoint, every tensor of the checkpoint must be
  used (or be a known non-parameter: causal-mask buffers, RoPE tables, DeepSeek's and Qwen3-Next's
  multi-token-prediction heads), and shapes must agree (`load`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from suite.config import ConfigError, ModelConfig
from suite.hf.config_map import MULTIMODAL_KEYS, Reader
from suite.hf.config_values import check_key
from suite.hf.family_configs import (
    config_deepseek_v2,
    config_exaone4,
    config_gemma2,
    config_glm4_moe,
    config_granite,
    config_mixtral,
    config_olmoe,
    config_phi3,
    config_qwen2_moe,
    config_smollm3,
)
from suite.hf.mixer_configs import config_granitemoehybrid, config_mamba2, config_qwen3_next
from suite.hf.names import (
    Rule,
    deepseek_rules,
    gemma3_rules,
    gpt2_rules,
    gpt_oss_rules,
    granite_rules,
    llama_rules,
    mamba2_rules,
    mixtral_rules,
    phi3_rules,
    qwen2_moe_rules,
    qwen3_moe_rules,
    qwen3_next_rules,
)
from suite.hf.released_format import released_format
from suite.hf.type_configs import (
    config_deepseek_v3,
    config_deepseek_v32,
    config_gemma3_text,
    config_gpt2,
    config_gpt_oss,
    config_llama,
    config_mistral,
    config_olmo2,
    config_qwen2,
    config_qwen3,
    config_qwen3_moe,
)
from suite.safeio import load_json


@dataclass(frozen=True)
class HFType:
    family: str
    config: Callable[[Reader], dict[str, Any]]
    rules: Callable[[], list[Rule]]
    prefix: str = "model."  # the base model's prefix in a *ForCausalLM checkpoint
    ignore: tuple[str, ...] = ()  # regexes of checkpoint tensors that are not parameters
    key_aliases: tuple[tuple[str, str], ...] = ()  # stored-name prefix -> canonical prefix
    text_config: bool = False  # a multimodal config: the decoder is its `text_config`


MODEL_TYPES: dict[str, HFType] = {
    "gpt2": HFType(
        "gpt2", config_gpt2, gpt2_rules, prefix="transformer.", ignore=(r"transformer\.h\.\d+\.attn\.(masked_)?bias$",)
    ),
    "llama": HFType("llama", config_llama, llama_rules),
    "mistral": HFType("mistral", config_mistral, llama_rules),
    "qwen2": HFType("qwen2", config_qwen2, llama_rules),
    "qwen3": HFType("qwen3", config_qwen3, llama_rules),
    "qwen3_moe": HFType("qwen3", config_qwen3_moe, qwen3_moe_rules),
    "olmo2": HFType("olmo2", config_olmo2, lambda: llama_rules(post=True)),
    "gemma3_text": HFType("gemma3", config_gemma3_text, gemma3_rules),
    "gpt_oss": HFType("gpt-oss", config_gpt_oss, gpt_oss_rules),
    "deepseek_v3": HFType("deepseek", config_deepseek_v3, deepseek_rules),
    # DeepSeek Sparse Attention: the indexer's tensors keep transformers' names (self_attn.indexer.*)
    "deepseek_v32": HFType("deepseek", config_deepseek_v32, deepseek_rules),
    "mixtral": HFType("mixtral", config_mixtral, mixtral_rules),
    "qwen2_moe": HFType("qwen2-moe", config_qwen2_moe, qwen2_moe_rules),
    "olmoe": HFType("olmoe", config_olmoe, qwen3_moe_rules),
    "phi3": HFType("phi", config_phi3, phi3_rules),
    "smollm3": HFType("smollm3", config_smollm3, llama_rules),
    "gemma2": HFType("gemma2", config_gemma2, gemma3_rules),
    "deepseek_v2": HFType("deepseek", config_deepseek_v2, deepseek_rules),
    "glm4_moe": HFType("glm-4.5", config_glm4_moe, deepseek_rules),
    "granite": HFType("granite", config_granite, llama_rules),
    "exaone4": HFType("exaone", config_exaone4, lambda: llama_rules(post=True)),
    # mixer models: Gated DeltaNet / Mamba-2 layers beside (or instead of) attention
    "qwen3_next": HFType("qwen3-next", config_qwen3_next, qwen3_next_rules, ignore=(r"mtp\..*",)),  # MTP head
    "mamba2": HFType("mamba2", config_mamba2, mamba2_rules, prefix="backbone."),
    "granitemoehybrid": HFType("granite-4.0-h", config_granitemoehybrid, granite_rules),
    # Gemma 3 4B/12B/27B ship as image-text models: we import the text decoder, not the vision tower
    "gemma3": HFType(
        "gemma3",
        config_gemma3_text,
        gemma3_rules,
        text_config=True,
        key_aliases=(
            ("model.language_model.", "model."),
            ("language_model.model.", "model."),
            ("language_model.lm_head.", "lm_head."),
        ),
        ignore=(r"(model\.)?(vision_tower|multi_modal_projector)\..*",),
    ),
}

ALWAYS_IGNORED = (r"(.*\.)?rotary_emb\.inv_freq$",)


# ---------------------------------------------------------------- config_from_hf
def _config_file(path: str | Path) -> Path:
    path = Path(path)
    file = path / "config.json" if path.is_dir() else path
    if not os.path.lexists(file):  # an existing but broken one (a folder, a link loop) is load_json's to explain
        if file is path:
            raise ConfigError(f"{path} does not exist; give a checkpoint folder or its config.json.", file=str(path))
        raise ConfigError(
            f"no config.json in {path}; a checkpoint folder needs the Hugging Face config.json.", file=str(path)
        )
    return file


def read_hf_config(path: str | Path) -> tuple[dict[str, Any], Path]:
    file = _config_file(path)
    data = load_json(file, "Hugging Face config")
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a JSON object of config keys at the top level, got {type(data).__name__}.", file=str(file)
        )
    check_key("model_type", data.get("model_type"), file=str(file))
    return data, file


def _type_of(data: dict[str, Any], file: Path) -> tuple[str, HFType]:
    model_type = data.get("model_type")
    if model_type not in MODEL_TYPES:
        raise ConfigError(
            f"model_type {model_type!r} is not supported; supported: {', '.join(MODEL_TYPES)}.",
            file=str(file),
            field="model_type",
        )
    return model_type, MODEL_TYPES[model_type]


def config_from_hf(path: str | Path, *, name: str | None = None) -> ModelConfig:
    """A ModelConfig from an HF checkpoint folder or its config.json; errors name the file and key."""
    data, file = read_hf_config(path)
    model_type, spec = _type_of(data, file)
    fp8_block(data, file)  # read only when loading weights, but a wrong one is wrong for `show` too
    if spec.text_config:
        outer = Reader(data, str(file))
        for key in MULTIMODAL_KEYS:
            outer.get(key)
        text = dict(outer.get("text_config") or {})
        if "tie_word_embeddings" in data:  # the composite model's own setting decides the head
            text["tie_word_embeddings"] = outer.get("tie_word_embeddings")
        outer.finish()
        reader = Reader(text, f"{file} (text_config)")
    else:
        reader = Reader(data, str(file))
    fields = spec.config(reader)
    reader.finish()
    default_name = file.parent.name if file.name == "config.json" else file.stem
    fields = {k: v for k, v in fields.items() if v is not None}
    fields.update(
        weight_format=released_format(data, file),
        name=name or default_name or "imported",
        family=spec.family,
        source=str(file),
        description=f"imported from {file} (model_type {model_type})",
    )
    return ModelConfig.from_dict(fields, file=str(file))


def fp8_block(data: dict, file: Path) -> tuple[int, int]:
    """DeepSeek-V3's FP8 block size (rows, columns) from quantization_config.weight_block_size."""
    quant = check_key("quantization_config", data.get("quantization_config"), file=str(file)) or {}
    block = quant.get("weight_block_size")
    if block is None:
        return (128, 128)
    if not (isinstance(block, list) and len(block) == 2 and all(type(b) is int and 1 <= b <= 2**20 for b in block)):
        raise ConfigError(
            f"expected two positive integers [rows, columns], got {block!r}.",
            file=str(file),
            field="quantization_config.weight_block_size",
        )
    return block[0], block[1]
