"""The component registries: every string key a config may name (norm, position, attention, MLP,
router, RoPE scaling, layer type), with a one-line description. One place says which keys exist;
`suite.config` validates against it, `suite.model` maps the same keys to classes, `suite.analytic`
costs them, and `tests/test_components.py` fails naming the key and the place a new one is missing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator


class Registry:
    """Keys of one component kind. Refuses duplicates; a miss lists what is available."""

    def __init__(self, kind: str, config_field: str):
        self.kind, self.config_field = kind, config_field
        self._entries: dict[str, str] = {}

    def register(self, key: str, description: str) -> str:
        if key in self._entries:
            raise ValueError(f"{self.kind} '{key}' is already registered ({self._entries[key]})")
        self._entries[key] = description
        return key

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def keys(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def describe(self, key: str) -> str:
        return self._entries[key]

    def unknown(self, key: object) -> str:
        """The error text for a key this registry does not have."""
        close = difflib.get_close_matches(str(key), list(self._entries), n=2)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        return f"'{key}' is not one of: {', '.join(self._entries)}.{hint}"


def _registry(kind: str, config_field: str, entries: dict[str, str]) -> Registry:
    registry = Registry(kind, config_field)
    for key, description in entries.items():
        registry.register(key, description)
    return registry


NORM = _registry(
    "norm",
    "norm",
    {
        "layernorm": "LayerNorm (GPT-2, OLMo-1)",
        "rmsnorm": "RMSNorm (Llama and after)",
    },
)
NORM_PLACEMENT = _registry(
    "norm placement",
    "norm_placement",
    {
        "pre": "normalise the sublayer's input (GPT-2, Llama)",
        "post": "normalise the sublayer's output before the residual add (OLMo-2)",
        "sandwich": "both (Gemma-2/3)",
    },
)
QK_NORM = _registry(
    "qk norm",
    "qk_norm",
    {
        "none": "no query/key normalisation",
        "head": "RMSNorm per head over head_dim (Qwen3, Gemma-3)",
        "full": "RMSNorm over all heads (OLMo-2)",
    },
)
POSITION = _registry(
    "position",
    "position",
    {
        "learned": "a learned position table (GPT-2)",
        "rope": "rotary position embedding",
        "none": "no position signal (NoPE)",
    },
)
ROPE_SCALING = _registry(
    "rope scaling",
    "rope_scaling",
    {
        "none": "plain RoPE",
        "linear": "position interpolation",
        "llama3": "Llama 3.1's frequency-banded scaling",
        "yarn": "YaRN (gpt-oss, DeepSeek-V3)",
    },
)
ATTENTION = _registry(
    "attention",
    "attention",
    {
        "mha": "multi-head attention (n_kv_heads = n_heads)",
        "mqa": "multi-query attention (one KV head)",
        "gqa": "grouped-query attention",
        "mla": "multi-head latent attention (DeepSeek-V2/V3)",
        "dsa": "DeepSeek Sparse Attention: MLA over each query's top-k keys chosen by a lightweight indexer "
        "(DeepSeek-V3.2)",
    },
)
ATTENTION_BACKEND = _registry(
    "attention backend",
    "attention_backend",
    {
        "sdpa": "torch scaled_dot_product_attention",
        "eager": "the naive reference: explicit scores, mask and softmax",
    },
)
LAYER_TYPE = _registry(
    "layer type",
    "layer_types",
    {
        "full": "attention over the whole causal context",
        "sliding": "attention over the last sliding_window tokens",
        "full_nope": "full attention without rotary position (SmolLM3's every 4th layer, EXAONE-4's global layers)",
        "gated_deltanet": "Gated DeltaNet linear attention with a short conv and output gate (Qwen3-Next)",
        "mamba2": "Mamba-2 selective state space, SSD (Nemotron-H, Falcon-H1, Granite-4.0-H)",
        "short_conv": "gated short convolution (LFM2)",
        "gla": "gated linear attention: per-key-dim data-dependent decay, swish output gate (fla GLA)",
    },
)
MLP = _registry(
    "mlp",
    "mlp",
    {
        "gelu": "up, GELU, down (GPT-2)",
        "swiglu": "SiLU-gated (Llama, Qwen, gpt-oss with swiglu_limit)",
        "geglu": "GELU-gated (Gemma)",
        "none": "no MLP sublayer: a block is a norm and its mixer only (Mamba-2 models)",
    },
)
GELU_APPROXIMATION = _registry(
    "gelu approximation",
    "gelu_approximation",
    {
        "none": "exact erf GELU",
        "tanh": "tanh approximation (GPT-2, Gemma)",
    },
)
ROUTER = _registry(
    "router",
    "router",
    {
        "softmax_topk": "softmax over all experts, then the top-k",
        "topk_softmax": "the top-k logits, then a softmax over those k",
        "sigmoid": "sigmoid scores, bias-corrected, group-limited top-k (DeepSeek-V3)",
    },
)

# Weight formats a checkpoint can ship in (`weight_format`, `budget --dtype`); their sizes are in
# suite/analytic/weight_formats.py. Not in ALL: the field may be unset (None: bf16).
WEIGHT_FORMAT = _registry(
    "weight format",
    "weight_format",
    {
        "fp32": "every tensor fp32",
        "bf16": "every tensor bf16",
        "fp16": "every tensor fp16",
        "fp8": "FP8 linear layers, per-tensor scale",
        "fp8_block": "FP8 linear layers in 128x128 blocks (DeepSeek-V3)",
        "int8": "int8 linear layers, per-row scale",
        "int4": "int4 linear layers, groups of 128 (as AWQ / GPTQ)",
        "awq-int4-g128": "AWQ int4, groups of 128",
        "gptq-int4-g128": "GPTQ int4, groups of 128",
        "mxfp4": "routed experts MXFP4, the rest bf16 (gpt-oss)",
        "gguf-q8_0": "GGUF Q8_0",
        "gguf-q4_k_m": "GGUF Q4_K_M",
    },
)

# every registry, in the order `archbench show --fields` documents them
ALL: tuple[Registry, ...] = (
    NORM,
    NORM_PLACEMENT,
    QK_NORM,
    POSITION,
    ROPE_SCALING,
    ATTENTION,
    ATTENTION_BACKEND,
    LAYER_TYPE,
    MLP,
    GELU_APPROXIMATION,
    ROUTER,
)
