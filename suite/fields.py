"""Physical ranges of the numeric config fields: what a real model can have.

One table, read by `suite.config.validate`: every number must be finite and inside its range, so a
NaN eps, a zero RoPE base, a negative rank or 10^8 layers is refused with the range in the message
instead of running (or hanging) on it. Upper bounds are far beyond any published model (DeepSeek-V3:
61 layers, 256 experts, 7168 wide) but keep every loop and allocation of the analysis bounded.
"""

from __future__ import annotations

import math

BIG = 2**31 - 1  # token counts and vocabulary: a signed 32-bit index
WIDE = 2**20  # widths, hidden sizes and ranks
MANY = 2**16  # heads, kernel sizes

# field -> (lowest allowed, lowest is allowed (inclusive), highest allowed)
RANGES: dict[str, tuple[float, bool, float]] = {
    "vocab_size": (1, True, BIG),
    "d_model": (1, True, WIDE),
    "n_layers": (1, True, 10_000),
    "n_heads": (1, True, MANY),
    "n_kv_heads": (1, True, MANY),
    "head_dim": (1, True, MANY),
    "mlp_hidden": (1, True, 2**24),
    "context_length": (1, True, BIG),
    "sliding_window": (1, True, BIG),
    "rope_original_context": (1, True, BIG),
    "q_lora_rank": (1, True, WIDE),
    "kv_lora_rank": (1, True, WIDE),
    "qk_nope_head_dim": (1, True, MANY),
    "qk_rope_head_dim": (1, True, MANY),
    "v_head_dim": (1, True, MANY),
    "index_heads": (1, True, MANY),
    "index_head_dim": (1, True, MANY),
    "index_topk": (1, True, BIG),
    "n_experts": (0, True, 1_000_000),
    "experts_top_k": (0, True, 1_000_000),
    "n_shared_experts": (0, True, 1_000_000),
    "expert_hidden": (1, True, 2**24),
    "shared_expert_hidden": (1, True, 2**24),
    "moe_dense_first": (0, True, 10_000),
    "router_groups": (1, True, 1_000_000),
    "router_topk_groups": (1, True, 1_000_000),
    "mixer_conv_kernel": (1, True, 1024),
    "mixer_chunk_size": (1, True, MANY),
    "linear_k_heads": (1, True, MANY),
    "linear_v_heads": (1, True, MANY),
    "linear_k_head_dim": (1, True, MANY),
    "linear_v_head_dim": (1, True, MANY),
    "ssm_heads": (1, True, MANY),
    "ssm_head_dim": (1, True, MANY),
    "ssm_state_size": (1, True, MANY),
    "ssm_groups": (1, True, MANY),
    "norm_eps": (0, False, 1.0),
    "rope_theta": (0, False, 1e12),
    "rope_theta_local": (0, False, 1e12),
    "rope_factor": (0, False, 1e6),
    "rope_low_freq_factor": (0, False, 1e6),
    "rope_high_freq_factor": (0, False, 1e6),
    "rope_beta_fast": (0, False, 1e6),
    "rope_beta_slow": (0, False, 1e6),
    "rope_mscale": (0, False, 1e6),
    "rope_mscale_all_dim": (0, True, 1e6),
    "rope_fraction": (0, False, 1.0),
    "attn_scale": (0, False, 1e6),
    "attn_softcap": (0, False, 1e9),
    "final_logit_softcap": (0, False, 1e9),
    "swiglu_limit": (0, False, 1e9),
    "router_scale": (0, False, 1e6),
    "embedding_multiplier": (0, False, 1e6),
    "residual_multiplier": (0, False, 1e6),
    "logits_scaling": (0, False, 1e6),
    "dropout": (0, True, 0.999999),
    "z_loss": (0, True, 1.0),
}

MAX_TEXT = 10_000  # description, source, family: a paragraph, not a file


def range_problem(name: str, value: object) -> str | None:
    """Why `value` cannot be field `name`, or None when it can (None values are checked elsewhere)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value}."
    if name not in RANGES:
        return None
    lo, inclusive, hi = RANGES[name]
    if value < lo or (value == lo and not inclusive) or value > hi:
        low = f"{'>=' if inclusive else '>'} {lo:g}"
        shown = f"{value:g}" if abs(value) < 1e300 else f"{str(value)[:12]}... ({len(str(value))} digits)"
        return f"must be {low} and <= {hi:g}, got {shown}."
    return None


MAX_NAME = 200
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+@:/ ")


def name_problem(name: object) -> str | None:
    """Why `name` cannot name a variant, or None. Names become file names, terminal words, table
    cells and HTML ids, so they are plain: letters, digits, '- _ . + @ :', single spaces, and '/'
    between namespace parts (`ladder/06-sliding-window`), never '..' or an empty part."""
    if not isinstance(name, str):
        got = "null" if name is None else f"{name!r} ({type(name).__name__})"
        hint = " (YAML reads yes/no/on/off as booleans: quote it)" if isinstance(name, bool) else ""
        return f"must be a string, got {got}{hint}."
    if not name.strip():
        return "is empty."
    if len(name) > MAX_NAME:
        return f"is longer than {MAX_NAME} characters."
    bad = sorted({ch for ch in name if ch not in _NAME_CHARS})
    if bad:
        shown = ", ".join(repr(ch) for ch in bad[:5])
        return f"{name!r} contains {shown}; use letters, digits, '-', '_', '.', '+', '@', ':' and '/' between parts."
    if name != name.strip() or "  " in name:
        return f"{name!r} starts or ends with a space, or has two in a row."
    parts = name.split("/")
    if any(part.strip() in ("", ".", "..") for part in parts):
        return f"{name!r} has an empty, '.' or '..' part between '/' (it must not be a path)."
    if name.startswith("."):
        return f"{name!r} starts with '.'."
    return None


MIXER_FIELDS = {
    "gated_deltanet": ("linear_k_heads", "linear_v_heads", "linear_k_head_dim", "linear_v_head_dim"),
    "mamba2": ("ssm_heads", "ssm_head_dim", "ssm_state_size"),
    "short_conv": (),
    "gla": ("linear_k_heads", "linear_v_heads", "linear_k_head_dim", "linear_v_head_dim"),
}


def validate_mixers(cfg, fail) -> None:
    """A mixer layer type needs its sizes; sizes that no layer uses would be silently ignored: refuse them."""
    kinds = set(cfg.layer_kinds)
    for name in ("mixer_conv_kernel", "mixer_chunk_size", "ssm_groups"):
        if getattr(cfg, name) < 1:
            fail(name, f"must be a positive integer, got {getattr(cfg, name)}.")
    readers: dict[str, list[str]] = {}  # a size may serve several kinds (linear_*: gated_deltanet and gla)
    for kind, names in MIXER_FIELDS.items():
        for name in names:
            readers.setdefault(name, []).append(kind)
    for name, users in readers.items():
        value = getattr(cfg, name)
        for kind in users:
            if kind in kinds and value is None:
                fail(name, f"layer_types has '{kind}' layers, which need {name}.")
        if value is not None and value < 1:
            fail(name, f"must be a positive integer, got {value}.")
        if value is not None and not kinds.intersection(users):
            fail(name, f"is set but no layer in layer_types is {' or '.join(repr(k) for k in users)}.")
    if "gated_deltanet" in kinds and cfg.linear_v_heads % cfg.linear_k_heads:
        fail(
            "linear_v_heads", f"must be a multiple of linear_k_heads ({cfg.linear_k_heads}), got {cfg.linear_v_heads}."
        )
    if "gla" in kinds and cfg.linear_v_heads != cfg.linear_k_heads:
        fail(
            "linear_v_heads",
            f"must equal linear_k_heads ({cfg.linear_k_heads}) in 'gla' layers, got {cfg.linear_v_heads}.",
        )
    if "mamba2" in kinds and cfg.ssm_heads % cfg.ssm_groups:
        fail("ssm_groups", f"must divide ssm_heads ({cfg.ssm_heads}), got {cfg.ssm_groups}.")
    if cfg.attn_output_gate and cfg.latent_attention:
        fail("attn_output_gate", f"is not supported with attention '{cfg.attention}'.")
    if cfg.shared_expert_gate and not cfg.n_shared_experts:
        fail("shared_expert_gate", "is set but n_shared_experts is 0.")


SPARSE_ATTENTION_FIELDS = ("index_heads", "index_head_dim", "index_topk")


def validate_sparse_attention(cfg, fail) -> None:
    """The indexer's sizes: needed by attention 'dsa' and refused elsewhere (nothing else would read them)."""
    for name in SPARSE_ATTENTION_FIELDS:
        value = getattr(cfg, name)
        if cfg.attention == "dsa" and value is None:
            fail(name, "attention 'dsa' needs it (the indexer's size).")
        if cfg.attention != "dsa" and value is not None:
            fail(name, f"is set but attention is '{cfg.attention}'; only attention 'dsa' has an indexer.")
    if cfg.attention != "dsa":
        return
    if not cfg.q_lora_rank:
        fail("q_lora_rank", "attention 'dsa' needs it: the indexer's queries come from the query latent.")
    if cfg.qk_rope_head_dim and cfg.index_head_dim < cfg.qk_rope_head_dim:
        fail(
            "index_head_dim",
            f"RoPE rotates its first qk_rope_head_dim ({cfg.qk_rope_head_dim}) features: must be at least that, "
            f"got {cfg.index_head_dim}.",
        )
