"""Tiny random transformers models of every supported model_type, saved with `save_pretrained`.

No downloads: each config is built locally. Sizes are a few thousand parameters, but every
component that matters is switched on (sliding windows shorter than the test sequence, YaRN /
llama3 / linear RoPE, MoE with dense-first layers, group-limited routing, MLA with a q LoRA...).
Every parameter is perturbed (transformers initialises norms to 1 or 0, biases and sinks to 0,
which would hide a norm offset or a missing bias) and so is DeepSeek's correction-bias buffer.
"""

from __future__ import annotations

from pathlib import Path

import torch

_LLAMA = dict(
    vocab_size=97,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
)

TINY: dict[str, dict] = {
    "gpt2": dict(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=4, bos_token_id=0, eos_token_id=0),
    "llama": dict(
        _LLAMA,
        head_dim=8,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16,
        },
    ),
    "mistral": dict(_LLAMA, head_dim=8, sliding_window=5),
    "qwen2": dict(_LLAMA, num_hidden_layers=3, use_sliding_window=True, sliding_window=5, max_window_layers=1),
    "qwen3": dict(_LLAMA, head_dim=16, tie_word_embeddings=True),
    "qwen3_moe": dict(
        _LLAMA,
        num_hidden_layers=3,
        head_dim=8,
        moe_intermediate_size=16,
        num_experts=8,
        num_experts_per_tok=2,
        norm_topk_prob=True,
        mlp_only_layers=[0],
    ),
    "gemma3_text": dict(
        _LLAMA,
        num_hidden_layers=3,
        head_dim=8,
        query_pre_attn_scalar=12,
        sliding_window=5,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        rope_parameters={
            "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
        },
    ),
    "olmo2": dict(_LLAMA, eos_token_id=0, pad_token_id=0),
    "gpt_oss": dict(
        _LLAMA,
        intermediate_size=16,
        head_dim=8,
        num_local_experts=4,
        num_experts_per_tok=2,
        sliding_window=5,
        rope_parameters={
            "rope_type": "yarn",
            "rope_theta": 150000.0,
            "factor": 32.0,
            "beta_fast": 32.0,
            "beta_slow": 1.0,
            "truncate": False,
            "original_max_position_embeddings": 16,
        },
    ),
    "deepseek_v3": dict(
        _LLAMA,
        num_key_value_heads=4,
        moe_intermediate_size=16,
        n_routed_experts=8,
        n_shared_experts=1,
        num_experts_per_tok=2,
        n_group=4,
        topk_group=2,
        first_k_dense_replace=1,
        q_lora_rank=16,
        kv_lora_rank=16,
        qk_rope_head_dim=4,
        qk_nope_head_dim=8,
        v_head_dim=8,
        rope_parameters={
            "rope_type": "yarn",
            "rope_theta": 10000.0,
            "factor": 40.0,
            "beta_fast": 32.0,
            "beta_slow": 1.0,
            "mscale": 1.0,
            "mscale_all_dim": 1.0,
            "original_max_position_embeddings": 16,
        },
    ),
    # mixer models: layers that are not all attention
    "qwen3_next": dict(
        _LLAMA,
        num_hidden_layers=4,
        head_dim=16,  # partial_rotary_factor 0.25 (the default) rotates 4 of 16
        layer_types=["linear_attention", "full_attention", "linear_attention", "full_attention"],
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        linear_key_head_dim=8,
        linear_value_head_dim=8,
        moe_intermediate_size=16,
        shared_expert_intermediate_size=24,
        num_experts=4,
        num_experts_per_tok=2,
        mlp_only_layers=[0],
    ),
    "mamba2": dict(
        vocab_size=97,
        hidden_size=32,
        num_hidden_layers=2,
        num_heads=8,
        head_dim=8,
        state_size=8,
        n_groups=2,
        chunk_size=8,  # the 16-token test sequence spans chunks
    ),
    "granitemoehybrid": dict(
        _LLAMA,
        num_hidden_layers=3,
        layer_types=["mamba", "attention", "mamba"],
        intermediate_size=16,
        shared_intermediate_size=24,
        num_local_experts=4,
        num_experts_per_tok=2,
        mamba_n_heads=8,
        mamba_d_state=8,
        mamba_n_groups=2,
        mamba_chunk_size=8,
        embedding_multiplier=12.0,
        residual_multiplier=0.22,
        logits_scaling=2.0,
        attention_multiplier=0.015625,
    ),
    # model types built from components above in new combinations (suite/hf/family_configs.py)
    "mixtral": dict(_LLAMA, head_dim=8, num_local_experts=4, num_experts_per_tok=2, sliding_window=5),
    "qwen2_moe": dict(
        _LLAMA,
        num_hidden_layers=3,
        moe_intermediate_size=16,
        shared_expert_intermediate_size=24,
        num_experts=4,
        num_experts_per_tok=2,
        mlp_only_layers=[0],
        use_sliding_window=True,
        sliding_window=5,
        max_window_layers=1,
    ),
    "olmoe": dict(_LLAMA, intermediate_size=16, num_experts=4, num_experts_per_tok=2, norm_topk_prob=True),
    "phi3": dict(_LLAMA, pad_token_id=0, bos_token_id=0, eos_token_id=0, sliding_window=5),
    "smollm3": dict(
        _LLAMA, num_hidden_layers=4, no_rope_layer_interval=2, pad_token_id=0, bos_token_id=0, eos_token_id=0
    ),
    "gemma2": dict(
        _LLAMA,
        num_hidden_layers=3,
        head_dim=8,
        query_pre_attn_scalar=12,
        sliding_window=5,
        attn_logit_softcapping=0.05,  # small caps bite on these small logits
        final_logit_softcapping=1.5,
    ),
    "deepseek_v2": dict(
        _LLAMA,
        num_key_value_heads=4,
        moe_intermediate_size=16,
        n_routed_experts=8,
        n_shared_experts=2,
        num_experts_per_tok=2,
        first_k_dense_replace=1,
        routed_scaling_factor=1.5,
        q_lora_rank=None,  # V2-Lite: a full-rank query projection
        kv_lora_rank=16,
        qk_rope_head_dim=4,
        qk_nope_head_dim=8,
        v_head_dim=8,
        head_dim=4,
    ),
    "glm4_moe": dict(
        _LLAMA,
        num_hidden_layers=3,
        head_dim=8,
        attention_bias=True,
        use_qk_norm=True,
        moe_intermediate_size=16,
        n_routed_experts=8,
        n_shared_experts=1,
        num_experts_per_tok=2,
        n_group=4,
        topk_group=2,
        first_k_dense_replace=1,
        routed_scaling_factor=2.5,
    ),
    "granite": dict(
        _LLAMA, embedding_multiplier=12.0, residual_multiplier=0.22, logits_scaling=2.0, attention_multiplier=0.015625
    ),
    "exaone4": dict(
        _LLAMA,
        num_hidden_layers=3,
        sliding_window=5,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
    ),
}
# DeepSeek-V3.2: V3's tiny model plus the sparse-attention indexer (16 heads: exact-zero score ties
# are as good as impossible); seq_len 16 > index_topk 6, so selection drops keys
TINY["deepseek_v32"] = dict(TINY["deepseek_v3"], index_n_heads=16, index_head_dim=8, index_topk=6)


def quiet() -> None:
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def make_model(model_type: str, seed: int = 0, correction_bias: float = 0.0, **overrides):
    """A random transformers model of `model_type` (every parameter perturbed)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    quiet()
    torch.manual_seed(seed)
    config = AutoConfig.for_model(model_type, **{**TINY[model_type], **overrides})
    model = AutoModelForCausalLM.from_config(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        for name, buffer in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                buffer.copy_(torch.randn_like(buffer) * 0.1 + correction_bias)
    return model.eval()


def make_checkpoint(model_type: str, folder: Path, **kwargs) -> Path:
    save = {k: kwargs.pop(k) for k in ("max_shard_size",) if k in kwargs}
    make_model(model_type, **kwargs).save_pretrained(folder, **save)
    return folder


def parity_diffs(out: dict[str, torch.Tensor]) -> dict[str, float]:
    """The three numbers a checkpoint parity test holds to its tolerance (max |logit difference|)."""
    return {
        "full forward": (out["ours"] - out["theirs"]).abs().max().item(),
        "cached decoding, each side's cache": (out["ours_cached"] - out["theirs_cached"]).abs().max().item(),
        "our cached decoding vs full forward": (out["ours_cached"] - out["theirs"]).abs().max().item(),
    }


@torch.no_grad()
def both_logits(ours, theirs, idx: torch.Tensor, prefill: int) -> dict[str, torch.Tensor]:
    """Full-forward logits of both models, and the logits of cached decoding of both (prefill, then one
    token at a time): ours through our cache, transformers' through its own."""
    cache = ours.new_cache()
    mine = [ours(idx[:, :prefill], cache=cache)]
    out = theirs(input_ids=idx[:, :prefill], use_cache=True)
    ref, past = [out.logits], out.cache
    for t in range(prefill, idx.shape[1]):
        mine.append(ours(idx[:, t : t + 1], cache=cache))
        out = theirs(input_ids=idx[:, t : t + 1], cache=past, use_cache=True)
        ref.append(out.logits)
        past = out.cache
    return {
        "ours": ours(idx),
        "theirs": theirs(input_ids=idx, use_cache=False).logits,
        "ours_cached": torch.cat(mine, dim=1),
        "theirs_cached": torch.cat(ref, dim=1),
    }
