"""The JSON type and range of every `config.json` key archbench reads.

The `Reader` checks each value here as it is read, so `"hidden_size": "4096"`, a negative head
count, `"rope_scaling": "yarn"` or `"text_config": []` is an error naming the file and the key,
not a Python exception deep in the mapping (or, worse, `bool("false")` read as true). Bounds are
those of the ModelConfig field a key becomes (`suite.fields.RANGES`), and they come first, so a
loop over `num_hidden_layers` never runs 10**12 times. Keys that never change the forward pass
(`HARMLESS_KEYS`) are not read, so they are not checked either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from suite.fields import BIG, MANY, WIDE
from suite.safeio import InputError, expect_type


@dataclass(frozen=True)
class Kind:
    type: type | tuple[type, ...]
    low: float | None = None
    low_inclusive: bool = True
    high: float | None = None

    def check(self, value: Any, *, file: str, field: str) -> Any:
        """`value` if it is of this kind (None always is: absent or default), else an InputError."""
        if value is None:
            return None
        expect_type(value, self.type, file=file, field=field)
        if self.low is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            return value
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"expected a finite number, got {value}.", file=file, field=field)
        too_low = value < self.low or (value == self.low and not self.low_inclusive)
        if too_low or (self.high is not None and value > self.high):
            low = f"{'>=' if self.low_inclusive else '>'} {_num(self.low)}"
            high = f" and <= {_num(self.high)}" if self.high is not None else ""
            raise InputError(f"expected a number {low}{high}, got {_num(value)}.", file=file, field=field)
        return value


def _num(x: float) -> str:
    """1048576 stays 1048576 (not 1.04858e+06); 1e-06 stays short."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


def count(low: int = 1, high: int = BIG) -> Kind:
    return Kind(int, low, True, high)


def positive(high: float | None = None) -> Kind:
    return Kind((int, float), 0, False, high)


NUMBER = Kind((int, float))
BOOL = Kind(bool)
TEXT = Kind(str)
OBJECT = Kind(dict)
LIST = Kind(list)
LAYERS = 100_000

KEYS: dict[str, Kind] = {
    "model_type": TEXT,
    # sizes
    "vocab_size": count(),
    "hidden_size": count(high=WIDE),
    "n_embd": count(high=WIDE),
    "num_hidden_layers": count(high=LAYERS),
    "n_layer": count(high=LAYERS),
    "num_attention_heads": count(high=MANY),
    "n_head": count(high=MANY),
    "num_key_value_heads": count(high=MANY),
    "head_dim": count(high=MANY),
    "qk_head_dim": count(high=MANY),
    "intermediate_size": count(high=2**24),
    "n_inner": count(high=2**24),
    "moe_intermediate_size": count(high=2**24),
    "max_position_embeddings": count(),
    "n_positions": count(),
    "n_ctx": count(),
    "sliding_window": count(0),  # 0 and null both mean "no window" to Mistral and Qwen
    "max_window_layers": count(0, LAYERS),
    "sliding_window_pattern": count(1, LAYERS),
    "decoder_sparse_step": count(1, LAYERS),
    "num_experts": count(0, 1_000_000),
    "num_local_experts": count(0, 1_000_000),
    "n_routed_experts": count(0, 1_000_000),
    "num_experts_per_tok": count(0, 1_000_000),
    "experts_per_token": count(0, 1_000_000),
    "n_shared_experts": count(0, 1_000_000),
    "first_k_dense_replace": count(0, LAYERS),
    "num_nextn_predict_layers": count(0, LAYERS),
    "moe_layer_freq": count(1, LAYERS),
    "n_group": count(1, 1_000_000),
    "topk_group": count(1, 1_000_000),
    "q_lora_rank": count(high=WIDE),
    "kv_lora_rank": count(high=WIDE),
    "qk_rope_head_dim": count(high=MANY),
    "qk_nope_head_dim": count(high=MANY),
    "v_head_dim": count(high=MANY),
    **dict.fromkeys("index_n_heads index_head_dim".split(), count(high=MANY)),  # DeepSeek-V3.2's indexer
    "index_topk": count(high=BIG),
    # numbers
    "rms_norm_eps": positive(1.0),
    "layer_norm_epsilon": positive(1.0),
    "rope_theta": positive(1e12),
    "rope_local_base_freq": positive(1e12),
    "partial_rotary_factor": positive(1.0),
    "attention_dropout": Kind((int, float), 0, True, 1.0),
    "resid_pdrop": Kind((int, float), 0, True, 1.0),
    "swiglu_limit": positive(1e9),
    "swiglu_alpha": NUMBER,
    "routed_scaling_factor": positive(1e6),
    "query_pre_attn_scalar": positive(1e12),
    "attn_logit_softcapping": positive(1e9),
    "final_logit_softcapping": positive(1e9),
    # switches and names
    **dict.fromkeys(
        (
            "tie_word_embeddings attention_bias mlp_bias use_sliding_window norm_topk_prob scale_attn_weights "
            "rope_interleave use_mrope use_bidirectional_attention add_cross_attention "
            "scale_attn_by_inverse_layer_idx reorder_and_upcast_attn"
        ).split(),
        BOOL,
    ),
    **dict.fromkeys("hidden_act hidden_activation activation_function scoring_func topk_method".split(), TEXT),
    **dict.fromkeys("rope_parameters rope_scaling text_config quantization_config vision_config".split(), OBJECT),
    "layer_types": LIST,
    "mlp_only_layers": LIST,
    "mlp_layer_types": LIST,
    # mixer models: Qwen3-Next's Gated DeltaNet, Mamba-2, Granite-4.0-H
    **dict.fromkeys(
        (
            "linear_num_key_heads linear_num_value_heads linear_key_head_dim linear_value_head_dim "
            "num_heads state_size n_groups mamba_n_heads mamba_n_groups mamba_d_state"
        ).split(),
        count(high=MANY),
    ),
    **dict.fromkeys("linear_conv_kernel_dim conv_kernel mamba_d_conv".split(), count(high=1024)),
    **dict.fromkeys("chunk_size mamba_chunk_size".split(), count(high=MANY)),
    **dict.fromkeys("expand mamba_expand".split(), count(high=MANY)),
    "mamba_d_head": Kind((int, str)),  # a count or "auto"
    "full_attention_interval": count(1, LAYERS),
    "mtp_num_hidden_layers": count(0, LAYERS),
    **dict.fromkeys("shared_expert_intermediate_size shared_intermediate_size".split(), count(high=2**24)),
    **dict.fromkeys(
        "embedding_multiplier residual_multiplier logits_scaling attention_multiplier".split(), positive(1e6)
    ),
    **dict.fromkeys(
        "use_bias use_conv_bias residual_in_fp32 mamba_conv_bias mamba_proj_bias mtp_use_dedicated_embeddings".split(),
        BOOL,
    ),
    **dict.fromkeys("position_embedding_type normalization_function".split(), TEXT),
    "time_step_limit": LIST,
    "layers_block_type": LIST,
    # OLMoE, SmolLM3, GLM-4.5, Qwen2-MoE, Phi-3
    "clip_qkv": positive(1e9),
    "no_rope_layers": LIST,
    "no_rope_layer_interval": count(1, LAYERS),
    **dict.fromkeys("use_qk_norm qkv_bias".split(), BOOL),
    "original_max_position_embeddings": count(),
}

# the parameters of a `rope_parameters` / `rope_scaling` object
ROPE_KEYS: dict[str, Kind] = {
    "rope_type": TEXT,
    "type": TEXT,
    "rope_theta": positive(1e12),
    "partial_rotary_factor": positive(1.0),
    "factor": positive(1e6),
    "low_freq_factor": positive(1e6),
    "high_freq_factor": positive(1e6),
    "original_max_position_embeddings": count(),
    "beta_fast": positive(1e6),
    "beta_slow": positive(1e6),
    "truncate": BOOL,
    "mscale": Kind((int, float), 0, True, 1e6),
    "mscale_all_dim": Kind((int, float), 0, True, 1e6),
    "attention_factor": NUMBER,
}


def check_key(key: str, value: Any, *, file: str, field: str | None = None) -> Any:
    kind = KEYS.get(key)
    return value if kind is None else kind.check(value, file=file, field=field or key)


def check_rope(params: Any, *, file: str, field: str) -> dict:
    """A RoPE parameter object with every known parameter of the right type (unknown ones are
    reported by the RoPE mapping, which knows which type allows which)."""
    OBJECT.check(params, file=file, field=field)
    for name, value in (params or {}).items():
        if name in ROPE_KEYS:
            ROPE_KEYS[name].check(value, file=file, field=f"{field}.{name}")
    return params


def check_items(values: list, kind: Kind, *, file: str, field: str) -> list:
    for i, value in enumerate(values):
        kind.check(value, file=file, field=f"{field}[{i}]")
        if value is None:
            raise InputError("expected a value, got null.", file=file, field=f"{field}[{i}]")
    return values
