"""The published-architecture catalogue: every count equals the figure transformers gives for the
official config, and every variant says what the official config.json says."""

from pathlib import Path

import pytest

from suite.analytic.params import count_params
from suite.config import IDENTITY_FIELDS, ModelConfig
from suite.hf.model_types import config_from_hf
from suite.model import build_model
from suite.registry import Registry

# variant -> (total, input embedding, active, active excluding the input embedding), from transformers'
# own models instantiated on the meta device for the official configs (shared/reference/published_configs.json);
# the papers' figures in the comments.
PUBLISHED = {
    "gpt2-small": (124_439_808, 39_383_808, None, None),  # 124M
    "gpt2-medium": (354_823_168, 52_511_744, None, None),  # 355M
    "gpt2-large": (774_030_080, 65_639_680, None, None),  # 774M
    "gpt2-xl": (1_557_611_200, 82_049_600, None, None),  # 1.5B
    "gpt-oss-20b": (20_914_757_184, 579_133_440, 4_187_440_704, 3_608_307_264),  # 20.91B / 3.61B
    "gpt-oss-120b": (116_829_156_672, 579_133_440, 5_711_982_912, 5_132_849_472),  # 116.83B / 5.13B
    "qwen3-0.6b": (596_049_920, 155_582_464, None, None),  # 0.6B, 0.44B non-embedding
    "qwen3-8b": (8_190_735_360, 622_329_856, None, None),  # 8.2B
    "qwen3-30b-a3b": (30_532_122_624, 311_164_928, 3_353_032_704, 3_041_867_776),  # 30.5B / 3.3B
    "llama-3.2-1b": (1_235_814_400, 262_668_288, None, None),  # 1.23B
    "llama-3.1-8b": (8_030_261_248, 525_336_576, None, None),  # 8.03B
    "mistral-7b-v0.1": (7_241_732_096, 131_072_000, None, None),  # 7.24B
    "gemma-3-1b": (999_885_952, 301_989_888, None, None),  # 302M + 698M
    "gemma-3-27b": (27_009_346_304, 1_409_630_208, None, None),  # 25.6B non-embedding (text)
    "olmo-2-7b": (7_298_617_344, 411_041_792, None, None),  # 7.3B
    "deepseek-v3": (671_026_404_352, 926_679_040, 37_552_282_624, 36_625_603_584),  # 671B / 37B (36.6B)
    "qwen3-next-80b-a3b": (79_674_391_296, 311_164_928, 3_874_929_408, 3_563_764_480),  # 80B / 3B activated
    "granite-4.0-h-small": (32_207_337_984, 411_041_792, 8_803_121_664, 8_392_079_872),  # 32B / 9B active
    "granite-4.0-h-tiny": (6_939_037_248, 154_140_672, 1_465_470_528, 1_311_329_856),  # 7B / 1B active
}


@pytest.fixture(scope="module")
def registry():
    return Registry()


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_counts_match_published(registry, name):
    total, embedding, active, active_excl = PUBLISHED[name]
    cfg = registry.get(name)
    counts = count_params(cfg)
    assert counts["total"] == total
    assert counts["embedding"] == embedding
    assert counts["active"] == (active if active is not None else total)
    if active_excl is not None:
        assert counts["active_excl_embedding"] == active_excl
    # and the decoder we build agrees (full size, on the meta device)
    assert sum(p.numel() for p in build_model(cfg, device="meta").parameters()) == total


def test_every_catalogue_variant_is_covered_and_sourced(registry):
    published = [
        n
        for n in registry.names()
        if not n.startswith("ladder/")
        and registry.entries[n].file.startswith(str(Path(registry.entries["gpt2-small"].file).parent))
    ]
    assert set(PUBLISHED) <= set(published)
    for name in PUBLISHED:
        cfg = registry.get(name)
        assert cfg.source.startswith("http"), name
        assert cfg.family != "custom" and cfg.description, name


# ---------------------------------------------------- catalogue == official config.json
HF_CONFIGS = Path(__file__).parent / "data" / "hf_configs"
OFFICIAL = {
    "gpt2-small": "gpt2",
    "llama-3.1-8b": "llama-3.1-8b",
    "qwen3-0.6b": "qwen3-0.6b",
    "qwen3-30b-a3b": "qwen3-30b-a3b",
    "mistral-7b-v0.1": "mistral-7b-v0.1",
    "gemma-3-1b": "gemma-3-1b",
    "gemma-3-27b": "gemma-3-27b",
    "olmo-2-7b": "olmo-2-7b",
    "gpt-oss-20b": "gpt-oss-20b",
    "deepseek-v3": "deepseek-v3",
}


def math_of(cfg: ModelConfig) -> dict:
    """The fields that define the function, with equivalent spellings made equal (head_dim null vs 64...)."""
    out = {k: v for k, v in cfg.to_dict().items() if k not in IDENTITY_FIELDS and k != "dropout"}
    out.update(
        head_dim=cfg.head_size,
        n_kv_heads=cfg.kv_heads,
        mlp_hidden=cfg.hidden,
        layer_types=list(cfg.layer_kinds),
        expert_hidden=cfg.expert_size if cfg.is_moe else None,
    )
    if "sliding" not in cfg.layer_kinds:
        out.update(sliding_window=None, rope_theta_local=None)
    return out


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_catalogue_says_what_the_official_config_says(registry, name):
    imported = config_from_hf(HF_CONFIGS / f"{OFFICIAL[name]}.json")
    ours, theirs = math_of(registry.get(name)), math_of(imported)
    assert {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]} == {}


def test_published_components(registry):
    oss = registry.get("gpt-oss-20b")
    assert oss.layer_kinds[:4] == ("sliding", "full", "sliding", "full") and oss.sliding_window == 128
    assert oss.attention_sinks and oss.swiglu_limit == 7.0 and oss.rope_scaling == "yarn"
    assert (oss.n_heads, oss.kv_heads, oss.n_experts, oss.experts_top_k) == (64, 8, 32, 4)
    gemma = registry.get("gemma-3-27b")
    assert gemma.layer_kinds[:6] == ("sliding",) * 5 + ("full",) and gemma.norm_placement == "sandwich"
    assert gemma.rope_scaling == "linear" and gemma.rope_factor == 8 and gemma.rope_theta_local == 10000
    assert gemma.attn_scale == pytest.approx(168**-0.5) and gemma.mlp == "geglu" and gemma.scale_embeddings
    ds = registry.get("deepseek-v3")
    assert ds.attention == "mla" and ds.n_shared_experts == 1 and ds.moe_dense_first == 3
    assert (ds.router, ds.router_groups, ds.router_topk_groups, ds.router_scale) == ("sigmoid", 8, 4, 2.5)
    assert registry.get("olmo-2-7b").norm_placement == "post" and registry.get("olmo-2-7b").qk_norm == "full"
    assert registry.get("llama-3.2-1b").tie_embeddings and not registry.get("llama-3.1-8b").tie_embeddings
    assert set(registry.get("mistral-7b-v0.1").layer_kinds) == {"sliding"}


# The Mamba-2 hybrids are not in shared/reference: their counts come from transformers' own model,
# built here on the meta device from the official config.json's shape keys.
GRANITE_4_H = {
    "granite-4.0-h-small": dict(hidden_size=4096, num_attention_heads=32, num_key_value_heads=8, intermediate_size=768,
                                shared_intermediate_size=1536, num_local_experts=72, num_experts_per_tok=10,
                                mamba_n_heads=128),
    "granite-4.0-h-tiny": dict(hidden_size=1536, num_attention_heads=12, num_key_value_heads=4, intermediate_size=512,
                               shared_intermediate_size=1024, num_local_experts=64, num_experts_per_tok=6,
                               mamba_n_heads=48),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(GRANITE_4_H))
def test_mamba2_hybrid_counts_equal_transformers_on_meta(registry, name):
    import torch
    from transformers import GraniteMoeHybridConfig, GraniteMoeHybridForCausalLM

    cfg = registry.get(name)
    blocks = ["attention" if kind == "full" else "mamba" for kind in cfg.layer_kinds]
    hf = GraniteMoeHybridConfig(
        num_hidden_layers=40, layer_types=blocks, vocab_size=100352, tie_word_embeddings=True,
        mamba_d_state=128, mamba_n_groups=1, mamba_d_head=64, mamba_expand=2, mamba_d_conv=4,
        mamba_conv_bias=True, mamba_proj_bias=False, position_embedding_type="nope", **GRANITE_4_H[name],
    )  # fmt: skip
    with torch.device("meta"):
        theirs = GraniteMoeHybridForCausalLM(hf)
    total = sum(p.numel() for p in theirs.parameters())
    experts = theirs.model.layers[0].block_sparse_moe.experts
    unused_per_layer = (hf.num_local_experts - hf.num_experts_per_tok) * experts.gate_up_proj[0].numel() * 3 // 2
    counts = count_params(cfg)
    assert counts["total"] == total == PUBLISHED[name][0]
    assert counts["active"] == total - hf.num_hidden_layers * unused_per_layer
