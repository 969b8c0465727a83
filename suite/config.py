"""`ModelConfig`: one frozen dataclass that describes a decoder-only transformer.

Fields are flat and grouped by component; each component is chosen by a string key
(`norm`, `position`, `attention`, `mlp`, `router`), never by `use_*` booleans. Validation
lives here, in one place, and every error names the variant, the file and the field.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, fields
from typing import Any

from suite import components
from suite.config_checks import field_default, validate_moe, validate_rope, validate_unread
from suite.fields import MAX_TEXT, name_problem, range_problem, validate_mixers, validate_sparse_attention
from suite.messages import shown

# Allowed component keys come from the one set of registries (suite/components.py).
NORMS = components.NORM.keys()
NORM_PLACEMENTS = components.NORM_PLACEMENT.keys()
QK_NORMS = components.QK_NORM.keys()
POSITIONS = components.POSITION.keys()
ROPE_SCALINGS = components.ROPE_SCALING.keys()
ATTENTIONS = components.ATTENTION.keys()
ATTENTION_BACKENDS = components.ATTENTION_BACKEND.keys()
LAYER_TYPES = components.LAYER_TYPE.keys()
MLPS = components.MLP.keys()
GELU_APPROXIMATIONS = components.GELU_APPROXIMATION.keys()
ROUTERS = components.ROUTER.keys()


class ConfigError(ValueError):
    """A variant that cannot describe a real model; the message names file, variant and field."""

    def __init__(self, message: str, *, variant: str | None = None, file: str | None = None, field: str | None = None):
        self.variant, self.file, self.field, self.reason = variant, file, field, message
        where = []
        if file:
            where.append(f"file {file}")
        if variant:
            where.append(f"variant '{variant}'")
        if field:
            where.append(f"field '{field}'")
        prefix = ("In " + ", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


@dataclass(frozen=True)
class ModelConfig:
    # --- identity (not part of the math) ---
    name: str = "unnamed"
    family: str = "custom"
    description: str = ""  # what this variant is / what a ladder rung changes
    source: str = ""  # where the published numbers come from

    # --- sizes ---
    vocab_size: int = 50257
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    n_kv_heads: int | None = None  # None: = n_heads (MHA); 1: MQA; otherwise GQA
    head_dim: int | None = None  # None: d_model // n_heads
    mlp_hidden: int | None = None  # None: 4 * d_model
    context_length: int = 1024  # trained / supported context; learned positions have this many rows

    # --- normalisation ---
    norm: str = "layernorm"  # layernorm | rmsnorm
    norm_placement: str = "pre"  # pre (GPT-2, Llama) | post (OLMo-2: norm after the sublayer) | sandwich (Gemma-3)
    norm_eps: float = 1e-5
    norm_bias: bool = True  # LayerNorm only: learnable bias
    qk_norm: str = "none"  # none | head (Qwen3, Gemma-3: RMSNorm per head) | full (OLMo-2: over all heads)

    # --- positions ---
    position: str = "learned"  # learned | rope | none
    rope_theta: float = 10000.0
    rope_theta_local: float | None = None  # sliding layers use this base (Gemma-3); None: rope_theta
    rope_scaling: str = "none"  # none | linear | llama3 | yarn (applied to full-attention layers)
    rope_factor: float = 1.0
    rope_original_context: int | None = None  # llama3 / yarn: the pre-extension context
    rope_low_freq_factor: float = 1.0  # llama3
    rope_high_freq_factor: float = 4.0  # llama3
    rope_beta_fast: float = 32.0  # yarn
    rope_beta_slow: float = 1.0  # yarn
    rope_truncate: bool = True  # yarn: round the correction range (gpt-oss: false)
    rope_mscale: float | None = None  # yarn (DeepSeek-V3): attention-scale multiplier
    rope_mscale_all_dim: float | None = None
    rope_interleaved: bool = False  # rotate (even, odd) pairs instead of halves (DeepSeek-V3)
    rope_fraction: float = 1.0  # part of head_dim rotated (partial rotary)

    # --- attention ---
    attention: str = "mha"  # mha | mqa | gqa | mla (multi-head latent attention) | dsa (sparse MLA)
    attention_backend: str = "sdpa"  # sdpa | eager (naive reference)
    layer_types: tuple[str, ...] | None = None  # per layer: full | sliding; None: all full
    sliding_window: int | None = None  # tokens a sliding layer sees (itself included)
    attention_sinks: bool = False  # gpt-oss: a learned per-head logit that absorbs probability mass
    attn_scale: float | None = None  # softmax scale; None: head_dim ** -0.5 (Gemma-3: query_pre_attn_scalar ** -0.5)
    attn_softcap: float | None = None  # tanh soft-cap of attention logits (Gemma-2 style)
    attn_output_gate: bool = False  # Qwen3-Next: q_proj also makes a per-channel sigmoid gate on the output
    qkv_bias: bool = True
    out_bias: bool = True
    # MLA (DeepSeek-V3); head_dim is then qk_nope_head_dim + qk_rope_head_dim
    q_lora_rank: int | None = None  # None: full-rank query projection
    kv_lora_rank: int | None = None
    qk_nope_head_dim: int | None = None
    qk_rope_head_dim: int | None = None
    v_head_dim: int | None = None
    # DeepSeek Sparse Attention (attention 'dsa', DeepSeek-V3.2): an indexer of its own small heads scores
    # every visible key (ReLU(q.k) weighted per head) and MLA then attends only to each query's top index_topk
    index_heads: int | None = None  # the indexer's query heads (index_n_heads); its one key head is shared
    index_head_dim: int | None = None  # their width; RoPE rotates the first qk_rope_head_dim of it
    index_topk: int | None = None  # keys each query attends to (2048 in DeepSeek-V3.2)

    # --- mixers other than attention (layer_types: gated_deltanet | mamba2 | short_conv) ---
    mixer_conv_kernel: int = 4  # the short causal conv of every mixer (LFM2: 3)
    mixer_chunk_size: int = 64  # chunk of the chunked (prefill / training) form; the math does not depend on it
    mixer_bias: bool = False  # short_conv: biases of its projections and conv (LFM2 conv_bias)
    linear_k_heads: int | None = None  # Gated DeltaNet (Qwen3-Next linear_num_key_heads)
    linear_v_heads: int | None = None
    linear_k_head_dim: int | None = None
    linear_v_head_dim: int | None = None
    ssm_heads: int | None = None  # Mamba-2: heads (mamba_n_heads)
    ssm_head_dim: int | None = None
    ssm_state_size: int | None = None  # d_state
    ssm_groups: int = 1  # B/C groups (n_groups)
    ssm_conv_bias: bool = True
    ssm_bias: bool = False  # in_proj / out_proj biases

    # --- MLP ---
    mlp: str = "gelu"  # gelu | swiglu | geglu
    gelu_approximation: str = "tanh"  # tanh (GPT-2 "gelu_new", Gemma) | none (exact erf)
    mlp_bias: bool = True
    swiglu_limit: float | None = None  # gpt-oss: clamp gate/up to this and use its alpha=1.702, (up + 1) form

    # --- mixture of experts (n_experts = 0: dense) ---
    n_experts: int = 0
    experts_top_k: int = 0
    n_shared_experts: int = 0
    shared_expert_hidden: int | None = None  # None: n_shared_experts x expert_hidden (Granite-4.0-H: its own size)
    shared_expert_gate: bool = False  # Qwen2-MoE / Qwen3-Next: the shared expert's output times sigmoid(x w)
    expert_hidden: int | None = None  # None: mlp_hidden
    moe_dense_first: int = 0  # first k layers use a dense MLP (DeepSeek-V3: 3)
    router: str = "softmax_topk"  # softmax_topk (Qwen3) | topk_softmax (gpt-oss) | sigmoid (DeepSeek-V3)
    router_bias: bool = False  # learned bias on router logits (gpt-oss)
    router_norm_topk: bool = False  # renormalise the selected weights to sum to 1
    router_scale: float = 1.0  # multiply routed weights (DeepSeek-V3 routed_scaling_factor)
    router_groups: int = 1  # group-limited routing (DeepSeek-V3 n_group)
    router_topk_groups: int = 1  # groups a token may use (DeepSeek-V3 topk_group)

    # --- embeddings and head ---
    weight_format: str | None = None  # the released checkpoint's format (gpt-oss: mxfp4); None: bf16
    tie_embeddings: bool = True
    scale_embeddings: bool = False  # multiply input embeddings by sqrt(d_model) (Gemma)
    embedding_multiplier: float = 1.0  # multiply input embeddings by this (Granite's muP-style multipliers)
    residual_multiplier: float = 1.0  # each sublayer's output times this before the residual add (Granite)
    logits_scaling: float = 1.0  # logits divided by this, before any soft-cap (Granite)
    final_logit_softcap: float | None = None
    dropout: float = 0.0
    # coefficient of the z-loss, coef * mean(logsumexp(logits)^2), added to the training loss (PaLM;
    # Wortsman et al. 2023: keeps output logits from drifting at high learning rates); 0: off
    z_loss: float = 0.0
    # AdamW weight decay in every training loop (`suite.quality.training.param_groups`): by nanoGPT's rule
    # parameters of >= 2 dims are decayed, 1-d ones (biases, norm gains, sinks, mixer gates) are not; these
    # two set it for norm weights and biases and for embedding tables (token, learned positions; tied: the head)
    decay_norms: bool = False
    decay_embeddings: bool = True

    # ---------------------------------------------------------------- derived
    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def latent_attention(self) -> bool:
        """MLA's latent keys and values: attention 'mla', and 'dsa', which is MLA over selected keys."""
        return self.attention in ("mla", "dsa")

    @property
    def head_size(self) -> int:
        if self.latent_attention:
            return (self.qk_nope_head_dim or 0) + (self.qk_rope_head_dim or 0)
        return self.head_dim if self.head_dim is not None else self.d_model // self.n_heads

    @property
    def value_head_size(self) -> int:
        return self.v_head_dim if self.latent_attention else self.head_size

    @property
    def hidden(self) -> int:
        return self.mlp_hidden if self.mlp_hidden is not None else 4 * self.d_model

    @property
    def expert_size(self) -> int:
        return self.expert_hidden if self.expert_hidden is not None else self.hidden

    @property
    def shared_hidden(self) -> int:
        """Hidden size of the always-on shared expert MLP (all shared experts as one)."""
        if self.shared_expert_hidden is not None:
            return self.shared_expert_hidden
        return self.n_shared_experts * self.expert_size

    @property
    def has_mlp(self) -> bool:
        return self.mlp != "none"

    @property
    def layer_kinds(self) -> tuple[str, ...]:
        return self.layer_types if self.layer_types is not None else ("full",) * self.n_layers

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    def is_moe_layer(self, index: int) -> bool:
        return self.is_moe and index >= self.moe_dense_first

    @property
    def rotary_dim(self) -> int:
        if self.latent_attention:
            return self.qk_rope_head_dim or 0
        return int(self.head_size * self.rope_fraction) // 2 * 2

    @property
    def softmax_scale(self) -> float:
        if self.attn_scale is not None:
            return self.attn_scale
        scale = self.head_size**-0.5
        if self.rope_scaling == "yarn" and self.rope_mscale_all_dim:
            m = 0.1 * self.rope_mscale_all_dim * math.log(self.rope_factor) + 1.0
            scale *= m * m
        return scale

    def __post_init__(self) -> None:
        if isinstance(self.layer_types, list):  # a list from code: stored as the tuple the field is (hashable)
            object.__setattr__(self, "layer_types", tuple(self.layer_types))
        # an invalid config cannot exist: every construction, `replace` included, is validated
        validate(self)

    def replace(self, **changes: Any) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self, *, skip_defaults: bool = False) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            if skip_defaults and value == field_default(f):
                continue
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, file: str | None = None) -> "ModelConfig":
        variant = data.get("name")
        known = {f.name: f for f in fields(cls)}
        kwargs = {}
        for key, value in data.items():
            if not isinstance(key, str):  # YAML reads `yes:`, `1:` and `~:` as a bool, an int and null
                raise ConfigError(
                    f"a field name is a string, got {key!r} ({type(key).__name__}).",
                    variant=variant,
                    file=file,
                    field=str(key),
                )
            if key not in known:
                close = _closest(key, known)
                hint = f" Did you mean '{close}'?" if close else ""
                raise ConfigError(
                    f"unknown field.{hint} Known fields: {', '.join(sorted(known))}.",
                    variant=variant,
                    file=file,
                    field=key,
                )
            kwargs[key] = _coerce(value, _field_types()[key], variant=variant, file=file, field=key)
        try:
            return cls(**kwargs)
        except ConfigError as exc:
            if file is None or exc.file:
                raise
            raise ConfigError(exc.reason, variant=exc.variant, file=file, field=exc.field) from None


def _closest(key: str, known) -> str | None:
    import difflib

    hits = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return hits[0] if hits else None


_TYPES_CACHE: dict[str, Any] = {}


def _field_types() -> dict[str, Any]:
    if not _TYPES_CACHE:
        _TYPES_CACHE.update(typing.get_type_hints(ModelConfig))
    return _TYPES_CACHE


def _type_name(tp: Any) -> str:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args) + (" or null" if type(None) in typing.get_args(tp) else "")
    if typing.get_origin(tp) is tuple:
        return "a list of strings"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, *, variant, file, field) -> Any:
    """Check a YAML value against the field's annotation; YAML ints are accepted for floats."""
    origin, where = typing.get_origin(tp), dict(variant=variant, file=file, field=field)
    if isinstance(value, int) and value.bit_length() > 1000:  # beyond any float; str() fails past 4,300 digits
        raise ConfigError(f"a {value.bit_length():,}-bit integer is too large.", **where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, variant=variant, file=file, field=field)
            except ConfigError:
                continue
    elif origin is tuple:
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    hint = ""
    if isinstance(value, str) and "number" in _type_name(tp) and re.fullmatch(r"[-+]?[\d.]+[eE][-+]?\d+", value):
        hint = " YAML 1.1 reads a number without a '.' or with an unsigned exponent as text: write 1.0e-6, not 1e-6."
    raise ConfigError(f"expected {_type_name(tp)}, got {shown(value)} ({type(value).__name__}).{hint}", **where)


def validate(cfg: ModelConfig, *, file: str | None = None) -> ModelConfig:
    """Reject configs that cannot describe a real model; return the config unchanged otherwise."""

    def fail(field_name: str, message: str):
        raise ConfigError(message, variant=cfg.name, file=file, field=field_name)

    hints = _field_types()
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        # programmatic construction skips from_dict's type check: do it here too (never a TypeError later)
        _coerce(value, hints[f.name], variant=cfg.name, file=file, field=f.name)
        problem = range_problem(f.name, value)
        if problem:
            fail(f.name, problem)
    for registry in components.ALL:
        if registry.config_field != "layer_types" and getattr(cfg, registry.config_field) not in registry:
            fail(registry.config_field, registry.unknown(getattr(cfg, registry.config_field)))
    problem = name_problem(cfg.name)
    if problem:
        fail("name", f"the variant name {problem}")
    for name in IDENTITY_FIELDS:
        if len(getattr(cfg, name)) > MAX_TEXT:
            fail(name, f"is longer than {MAX_TEXT:,} characters.")

    kv = cfg.kv_heads
    if cfg.n_heads % kv:
        fail("n_kv_heads", f"n_heads ({cfg.n_heads}) must be divisible by n_kv_heads ({kv}).")
    if cfg.attention == "mha" and kv != cfg.n_heads:
        fail("attention", f"'mha' needs n_kv_heads == n_heads ({cfg.n_heads}), got {kv}; use 'gqa' or 'mqa'.")
    if cfg.attention == "mqa" and kv != 1:
        fail("attention", f"'mqa' needs n_kv_heads == 1, got {kv}.")
    if cfg.attention == "gqa" and not (1 <= kv <= cfg.n_heads):
        fail("n_kv_heads", f"'gqa' needs 1 <= n_kv_heads <= n_heads, got {kv}.")
    if cfg.head_dim is None and not cfg.latent_attention and cfg.d_model % cfg.n_heads:
        fail("head_dim", f"d_model ({cfg.d_model}) is not divisible by n_heads ({cfg.n_heads}); set head_dim.")
    if cfg.latent_attention:
        for name in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
            if not getattr(cfg, name):
                fail(name, f"attention '{cfg.attention}' needs a positive value.")
        if cfg.position != "rope":
            fail("position", f"attention '{cfg.attention}' needs position 'rope' (it rotates the decoupled key).")
        if cfg.qk_norm != "none":
            fail("qk_norm", f"attention '{cfg.attention}' does not support qk_norm.")
        if cfg.qk_rope_head_dim % 2:
            fail("qk_rope_head_dim", f"RoPE rotates pairs: must be even, got {cfg.qk_rope_head_dim}.")
        if cfg.attention_sinks:
            fail(
                "attention_sinks",
                f"attention '{cfg.attention}' has no sinks in archbench (they would be silently ignored).",
            )
    if cfg.position == "rope" and cfg.rotary_dim < 2:
        fail("rope_fraction", "rotates fewer than 2 dimensions of the head.")
    validate_rope(cfg, fail)

    if cfg.layer_types is not None:
        if len(cfg.layer_types) != cfg.n_layers:
            fail("layer_types", f"has {len(cfg.layer_types)} entries but n_layers is {cfg.n_layers}.")
        for kind in cfg.layer_types:
            if kind not in components.LAYER_TYPE:
                fail("layer_types", components.LAYER_TYPE.unknown(kind))
    validate_mixers(cfg, fail)
    validate_sparse_attention(cfg, fail)
    if "sliding" in cfg.layer_kinds and not cfg.sliding_window:
        fail("sliding_window", "layer_types has sliding layers but no sliding_window is set.")

    if cfg.swiglu_limit is not None and cfg.mlp != "swiglu":
        fail("swiglu_limit", f"only applies to mlp 'swiglu', not '{cfg.mlp}'.")
    validate_unread(cfg, fail)
    validate_moe(cfg, fail)
    if cfg.weight_format is not None and cfg.weight_format not in components.WEIGHT_FORMAT:
        fail("weight_format", components.WEIGHT_FORMAT.unknown(cfg.weight_format))
    return cfg


def gla_sub_chunk(chunk_size: int) -> int:
    """GLA's exact diagonal sub-blocks inside a chunk of `mixer_chunk_size`: the largest power of two
    <= sqrt(chunk) that divides it. Here, below both the kernel (`suite.model.mixers.gla`) and its FLOP
    count (`suite.analytic.mixer_costs`), so the two cannot drift apart.

    Blocks below the diagonal are factorised against a reference point between them; diagonal blocks
    are computed pairwise. The pairwise terms cost sub x the input and the factorised ones chunk / sub x,
    so sqrt balances them (one training step of the GLA proxy at 64 tokens: 272 ms with 64/16, 207 with
    64/8, 143 with 16/4)."""
    sub = 1
    while (2 * sub) ** 2 <= chunk_size and chunk_size % (2 * sub) == 0:
        sub *= 2
    return sub


def field_names() -> list[str]:
    return [f.name for f in fields(ModelConfig)]


IDENTITY_FIELDS = ("name", "family", "description", "source")
