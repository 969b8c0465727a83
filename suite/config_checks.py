"""Cross-field rules of `ModelConfig` beyond shapes: RoPE extension parameters, MoE routing, and
fields that no chosen component reads. Each takes the config and `fail(field, message)`, so
`suite.config.validate` stays the one entry point and every message names the field."""

from __future__ import annotations

from dataclasses import MISSING, fields


def field_default(f):
    """A dataclass field's default (its factory's value for a mutable default)."""
    return f.default_factory() if f.default is MISSING else f.default


def validate_rope(cfg, fail) -> None:
    """RoPE extension parameters as transformers' rope validation defines them (there, only a warning)."""
    scaling, original = cfg.rope_scaling, cfg.rope_original_context
    if scaling in ("llama3", "yarn") and not original:
        fail("rope_original_context", f"rope_scaling '{scaling}' needs the pre-extension context.")
    if original is not None and original > cfg.context_length:
        fail("rope_original_context", f"the pre-extension context exceeds context_length ({cfg.context_length}).")
    if scaling != "none" and cfg.rope_factor < 1:
        fail("rope_factor", f"an extension factor must be >= 1, got {cfg.rope_factor:g}.")
    if scaling == "llama3" and cfg.rope_low_freq_factor >= cfg.rope_high_freq_factor:
        # equal factors divide by zero in the smoothing band
        fail("rope_low_freq_factor", f"must be below rope_high_freq_factor ({cfg.rope_high_freq_factor:g}).")
    if scaling == "yarn" and cfg.rope_beta_fast < cfg.rope_beta_slow:
        fail("rope_beta_fast", f"must be >= rope_beta_slow ({cfg.rope_beta_slow:g}): the ramp would run backwards.")


def validate_unread(cfg, fail) -> None:
    """A field set away from its default that no chosen component reads would be silently ignored."""
    sliding, rope, scaling = "sliding" in cfg.layer_kinds, cfg.position == "rope", cfg.rope_scaling
    readers = {  # what reads the fields: (this variant has it, the fields)
        "attention 'mla' or 'dsa'": (cfg.latent_attention, ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim",
                                                            "qk_rope_head_dim", "v_head_dim")),
        "position 'rope'": (rope, ("rope_theta", "rope_fraction", "rope_interleaved")),
        "sliding layers": (sliding, ("sliding_window",)),
        "sliding layers with position 'rope'": (sliding and rope, ("rope_theta_local",)),
        "a rope_scaling other than 'none'": (scaling != "none", ("rope_factor",)),
        "rope_scaling 'llama3' or 'yarn'": (scaling in ("llama3", "yarn"), ("rope_original_context",)),
        "rope_scaling 'llama3'": (scaling == "llama3", ("rope_low_freq_factor", "rope_high_freq_factor")),
        "rope_scaling 'yarn'": (scaling == "yarn", ("rope_beta_fast", "rope_beta_slow", "rope_truncate",
                                                    "rope_mscale", "rope_mscale_all_dim")),
        "experts (n_experts > 0)": (cfg.is_moe, ("experts_top_k", "n_shared_experts", "moe_dense_first",
                                                 "expert_hidden", "router", "router_bias", "router_norm_topk",
                                                 "router_scale", "router_groups", "router_topk_groups")),
        "an MLP (mlp other than 'none')": (cfg.has_mlp, ("mlp_hidden", "mlp_bias", "swiglu_limit")),
        "shared experts (n_shared_experts > 0)": (cfg.n_shared_experts > 0, ("shared_expert_hidden",)),
    }  # fmt: skip
    for reader, (present, names) in readers.items():
        for f in (f for f in fields(cfg) if f.name in names and not present):
            if getattr(cfg, f.name) != (default := field_default(f)):
                fail(f.name, f"is unused: only variants with {reader} read it; its default is {default}.")


def validate_moe(cfg, fail) -> None:
    """Routing settings a mixture of experts can run with."""
    if not cfg.is_moe:
        return
    if not cfg.has_mlp:
        fail("mlp", "'none' has no MLP, so it cannot have experts (n_experts > 0).")
    if not 1 <= cfg.experts_top_k <= cfg.n_experts:
        fail("experts_top_k", f"must be between 1 and n_experts ({cfg.n_experts}), got {cfg.experts_top_k}.")
    if cfg.n_experts % cfg.router_groups:
        fail("router_groups", f"must divide n_experts ({cfg.n_experts}), got {cfg.router_groups}.")
    if not 1 <= cfg.router_topk_groups <= cfg.router_groups:
        fail("router_topk_groups", f"must be between 1 and router_groups ({cfg.router_groups}).")
    if cfg.router_groups > 1 and cfg.experts_top_k > cfg.router_topk_groups * (cfg.n_experts // cfg.router_groups):
        fail("experts_top_k", "exceeds the experts available in the selected router groups.")
    if cfg.router_groups > 1 and cfg.router != "sigmoid":
        fail("router_groups", f"group-limited routing is the 'sigmoid' router's; '{cfg.router}' would ignore it.")
    if cfg.router_groups > 1 and cfg.n_experts // cfg.router_groups < 2:
        fail("router_groups", "a group scores its top-2 experts: each group needs at least 2 experts.")
    if cfg.moe_dense_first >= cfg.n_layers:
        fail("moe_dense_first", f"must be below n_layers ({cfg.n_layers}): no layer would have experts.")
