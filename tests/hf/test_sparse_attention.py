"""DeepSeek Sparse Attention (attention 'dsa', DeepSeek-V3.2): parity with transformers' `deepseek_v32`
through our importer (tiny random models made locally; contexts longer than index_topk, so the
indexer really drops keys), FLOPs split into indexer and attention exact against FlopCounterMode,
cache bytes with the indexer keys, parameter counts against transformers on the meta device, the
catalogue's deepseek-v3.2, and the refusals."""

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

from hf_tiny import (  # noqa: E402
    TINY,
    parity_diffs,  # noqa: E402
    quiet,
)
from hf_tiny import both_logits as _logits  # noqa: E402

from suite.analytic import costs  # noqa: E402
from suite.analytic.params import count_params  # noqa: E402
from suite.config import ConfigError, ModelConfig  # noqa: E402
from suite.hf.load import load_checkpoint  # noqa: E402
from suite.hf.model_types import config_from_hf  # noqa: E402
from suite.model import build_model  # noqa: E402
from suite.probes import analytic as analytic_probe  # noqa: E402
from suite.registry import Registry, proxy  # noqa: E402

TOL = 1e-4
HF_CONFIGS = Path(__file__).parent.parent / "data" / "hf_configs"

# DeepSeek-V3's tiny model (YaRN, MoE with a dense first layer, group-limited routing) plus the indexer.
# 16 index heads: an index score is exactly 0 only when every head's ReLU is 0, so ties (which
# torch.topk, in transformers, breaks arbitrarily) are as good as impossible.
V32 = dict(TINY["deepseek_v3"], index_n_heads=16, index_head_dim=8, index_topk=6)

# (overrides of V32, sequence length, prefill length)
CASES = {
    "topk-6-of-20": ({}, 20, 9),  # prefill past k: the masked block; decoding: the gathered k keys
    "prefill-within-topk": ({"index_topk": 12}, 24, 10),  # decoding crosses k
    "index-dim-equals-rope": ({"index_head_dim": 4, "index_n_heads": 32}, 16, 5),  # the whole key rotated
    "no-selection": ({"index_topk": 64}, 16, 6),  # k >= context: plain MLA
}


def make_v32(seed: int = 0, **overrides):
    """A random transformers DeepSeek-V3.2 model, every parameter (and the correction bias) perturbed."""
    from transformers import AutoConfig, AutoModelForCausalLM

    quiet()
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model("deepseek_v32", **{**V32, **overrides}))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        for name, buffer in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                buffer.copy_(torch.randn_like(buffer) * 0.1)
    return model.eval()


@pytest.mark.parametrize("case", sorted(CASES))
def test_deepseek_v32_checkpoint_matches_transformers(case, tmp_path):
    overrides, seq_len, prefill = CASES[case]
    theirs = make_v32(**overrides)
    theirs.save_pretrained(tmp_path)
    cfg, ours = load_checkpoint(tmp_path)
    assert cfg.attention == "dsa" and cfg.index_topk == theirs.config.index_topk
    idx = torch.randint(0, cfg.vocab_size, (2, seq_len), generator=torch.Generator().manual_seed(0))
    out = _logits(ours, theirs, idx, prefill)
    assert out["theirs"].abs().max() > 0.3  # the logits are not trivially small
    diffs = parity_diffs(out)
    assert max(diffs.values()) <= TOL, diffs
    assert count_params(cfg)["total"] == sum(p.numel() for p in theirs.parameters())


def test_selection_really_drops_keys(tmp_path):
    """Past index_topk the indexer's choice changes the output: the same weights attending to every key
    (a k larger than the context) give other logits, and so does a wrong selection."""
    make_v32().save_pretrained(tmp_path)
    cfg, ours = load_checkpoint(tmp_path)
    dense = build_model(cfg.replace(index_topk=64)).eval()
    dense.load_state_dict(ours.state_dict())
    idx = torch.randint(0, cfg.vocab_size, (1, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        sparse_logits, dense_logits = ours(idx), dense(idx)
        assert (sparse_logits[:, : cfg.index_topk] - dense_logits[:, : cfg.index_topk]).abs().max() < 1e-5
        assert (sparse_logits[:, cfg.index_topk :] - dense_logits[:, cfg.index_topk :]).abs().max() > 1e-2
        for p in ours.blocks[1].attn.indexer.weights_proj.parameters():
            p.neg_()  # the indexer now keeps the lowest-scored keys
        assert (ours(idx)[:, cfg.index_topk :] - sparse_logits[:, cfg.index_topk :]).abs().max() > 1e-2


# ------------------------------------------------------------- our model alone
TINY_DSA = dict(
    name="tiny-dsa", vocab_size=97, d_model=32, n_layers=2, n_heads=4, norm="rmsnorm", position="rope",
    attention="dsa", q_lora_rank=16, kv_lora_rank=16, qk_nope_head_dim=8, qk_rope_head_dim=4, v_head_dim=8,
    index_heads=4, index_head_dim=8, index_topk=6, mlp="swiglu", mlp_hidden=48, context_length=128,
    qkv_bias=False, out_bias=False, mlp_bias=False, tie_embeddings=False, rope_interleaved=True,
)  # fmt: skip
FLOP_CASES = {
    "dense-mlp": {},
    "moe-eager": dict(
        n_experts=4, experts_top_k=2, expert_hidden=16, moe_dense_first=1, router="sigmoid", attention_backend="eager"
    ),
    "value-dim-differs": dict(v_head_dim=12),
    "sliding": dict(layer_types=("sliding", "full"), sliding_window=5),
}


def tiny(**changes) -> ModelConfig:
    return ModelConfig(**{**TINY_DSA, **changes})


def test_one_index_head_ties_go_to_the_earliest_key():
    """With one index head, half the keys score exactly 0 (ReLU): the selection must not depend on how the
    tokens are split into passes, so cached decoding equals the full forward."""
    cfg = tiny(index_heads=1)
    model = build_model(cfg, seed=3).eval()
    idx = torch.randint(0, cfg.vocab_size, (3, 40), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        full = model(idx)
        cache = model.new_cache()
        steps = [model(idx[:, :7], cache=cache), model(idx[:, 7:12], cache=cache)]
        steps += [model(idx[:, t : t + 1], cache=cache) for t in range(12, 40)]
    assert (torch.cat(steps, dim=1) - full).abs().max() < 1e-5


@pytest.mark.parametrize("case", sorted(FLOP_CASES))
def test_flops_split_into_indexer_and_attention_equal_the_counter(case):
    cfg = tiny(**FLOP_CASES[case])
    passes = (
        dict(context=20),
        dict(context=4),
        dict(context=1, past=30),
        dict(context=1, past=3),
        dict(context=3, past=10),
    )
    for kwargs in passes:
        result = analytic_probe.check_forward(cfg, batch=2, **kwargs)
        assert not result["problems"], result["problems"]
        assert result["components"]["indexer"]["analytic"] > 0
        assert {k: c["counter"] for k, c in result["components"].items()} == {
            k: c["analytic"] for k, c in result["components"].items()
        }, kwargs
    for checkpointing in (False, True):
        result = analytic_probe.check_train(cfg, context=20, checkpointing=checkpointing)
        assert not result["problems"] and result["counter"] == result["analytic"], checkpointing


def test_indexer_flops_by_hand():
    cfg = tiny()
    hi, di, d, q = cfg.index_heads, cfg.index_head_dim, cfg.d_model, cfg.q_lora_rank
    L = 20  # past k = 6: the indexer scores every causal pair
    expected = 2 * L * (q * hi * di + d * (di + hi)) + 2 * (L * (L + 1) // 2) * hi * (di + 1)
    assert costs.prefill_flops(cfg, L)["indexer"] == cfg.n_layers * expected
    assert costs.prefill_flops(cfg, 6)["indexer"] == cfg.n_layers * 2 * 6 * d * di  # only its keys: nothing to drop
    assert costs.train_flops(cfg, L)["indexer"] == costs.prefill_flops(cfg, L)["indexer"]  # no backward
    assert "indexer" not in costs.prefill_flops(cfg.replace(attention="mla", **dict.fromkeys(INDEX_FIELDS)), L)


def test_attention_grows_linearly_past_topk_while_mla_grows_quadratically():
    """Useful FLOPs at the published size: a decoded token's MLA cost stops growing at k = 2048 keys
    (prefill: linear in L), while dense MLA keeps growing; the indexer still grows with L."""
    dsa = Registry().get("deepseek-v3.2")
    mla = Registry().get("deepseek-v3")
    k = dsa.index_topk
    a, b = costs.decode_flops(dsa, 4 * k), costs.decode_flops(dsa, 16 * k)
    assert a["attention_scores"] == b["attention_scores"] and a["attention_proj"] == b["attention_proj"]
    assert b["indexer"] > 3 * a["indexer"]
    assert costs.decode_flops(mla, 16 * k)["attention_scores"] > 3 * costs.decode_flops(mla, 4 * k)["attention_scores"]
    p1, p2 = (costs.prefill_flops(dsa, n)["attention_scores"] for n in (8 * k, 16 * k))
    m1, m2 = (costs.prefill_flops(mla, n)["attention_scores"] for n in (8 * k, 16 * k))
    assert 2.0 < p2 / p1 < 2.1 and 3.9 < m2 / m1 < 4.1
    short = 1024  # within k every key is selected: MLA's attention exactly, plus the indexer's keys
    same = {key: v for key, v in costs.prefill_flops(dsa, short).items() if key != "indexer"}
    assert same == costs.prefill_flops(mla, short)


def test_cache_bytes_count_the_indexer_keys():
    cfg = tiny()
    model = build_model(cfg).eval()
    cache = model.new_cache()
    fed = 0
    with torch.no_grad():
        for chunk in (3, 9, 1, 1, 5, 1):
            model(torch.randint(0, cfg.vocab_size, (2, chunk)), cache=cache)
            fed += chunk
            assert cache.nbytes() == costs.kv_cache_bytes(cfg, fed, "fp32", batch=2)
    per_token = cfg.kv_lora_rank + cfg.qk_rope_head_dim + cfg.index_head_dim
    assert costs.kv_cache_elements_per_token(cfg) == [per_token] * cfg.n_layers
    v32 = Registry().get("deepseek-v3.2")
    assert costs.kv_cache_bytes_per_token(v32) == 61 * (512 + 64 + 128) * 2  # bf16: 85,888 bytes


def test_indexer_is_frozen_and_named_as_in_transformers():
    model = build_model(tiny())
    names = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert names == {
        f"blocks.{i}.attn.indexer.{w}"
        for i in range(2)
        for w in ("wq_b.weight", "wk.weight", "k_norm.weight", "k_norm.bias", "weights_proj.weight")
    }


# ------------------------------------------------------------- catalogue
def test_deepseek_v32_counts_equal_transformers_on_meta():
    from transformers import DeepseekV32Config, DeepseekV32ForCausalLM

    cfg = Registry().get("deepseek-v3.2")
    hf = DeepseekV32Config(
        vocab_size=129280, hidden_size=7168, intermediate_size=18432, moe_intermediate_size=2048,
        num_hidden_layers=61, num_attention_heads=128, num_key_value_heads=128, n_shared_experts=1,
        n_routed_experts=256, num_experts_per_tok=8, n_group=8, topk_group=4, first_k_dense_replace=3,
        q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128,
        index_n_heads=64, index_head_dim=128, index_topk=2048, tie_word_embeddings=False,
    )  # fmt: skip
    with torch.device("meta"):
        theirs = DeepseekV32ForCausalLM(hf)
    total = sum(p.numel() for p in theirs.parameters())
    indexers = sum(p.numel() for n, p in theirs.named_parameters() if ".indexer." in n)
    assert count_params(cfg)["total"] == total == 671_877_929_216
    assert indexers == 61 * 13_959_424  # wq_b 1536x8192, wk 7168x128, weights_proj 7168x64, k_norm 2x128
    assert sum(p.numel() for p in build_model(cfg, device="meta").parameters()) == total


def test_catalogue_is_deepseek_v3_plus_the_indexer(tmp_path):
    """deepseek-v3.2 = the official DeepSeek-V3 config.json read as model_type deepseek_v32 with
    transformers' DeepseekV32Config indexer defaults (64 heads of 128, top-2048)."""
    data = json.loads((HF_CONFIGS / "deepseek-v3.json").read_text())
    data.update(model_type="deepseek_v32", architectures=["DeepseekV32ForCausalLM"])
    (tmp_path / "config.json").write_text(json.dumps(data))
    imported = config_from_hf(tmp_path / "config.json")
    ours = Registry().get("deepseek-v3.2")
    assert (imported.index_heads, imported.index_head_dim, imported.index_topk) == (64, 128, 2048)
    identity = ("name", "family", "description", "source", "dropout")
    assert {k: v for k, v in ours.to_dict().items() if k not in identity} == {
        k: v for k, v in imported.to_dict().items() if k not in identity
    }
    assert ours.source.startswith("https://huggingface.co/deepseek-ai/DeepSeek-V3.2-Exp")


def test_proxy_drops_keys_at_proxy_context():
    p = proxy(Registry().get("deepseek-v3.2"), "tiny")
    assert p.attention == "dsa" and p.index_topk == p.context_length // 4 < p.context_length
    assert p.index_head_dim >= p.qk_rope_head_dim and p.index_heads <= p.n_heads


# ------------------------------------------------------------- refusals
INDEX_FIELDS = ("index_heads", "index_head_dim", "index_topk")


@pytest.mark.parametrize(
    "changes, field, message",
    [
        (dict(attention="mla", index_heads=None, index_head_dim=None), "index_topk", "only attention 'dsa'"),
        (dict(index_topk=None), "index_topk", "attention 'dsa' needs it"),
        (dict(q_lora_rank=None), "q_lora_rank", "the indexer's queries come from the query latent"),
        (dict(index_head_dim=2), "index_head_dim", "must be at least that, got 2"),
        (dict(index_topk=0), "index_topk", "must be >= 1"),
        (dict(kv_lora_rank=None), "kv_lora_rank", "attention 'dsa' needs a positive value"),
    ],
)
def test_config_refusals(changes, field, message):
    with pytest.raises(ConfigError, match=message) as err:
        tiny(**changes)
    assert err.value.field == field


@pytest.mark.parametrize(
    "changes, key, message",
    [
        ({"layer_types": ["full_attention"] * 2}, "layer_types", "every DeepSeek-V3.2 layer is 'indexed_attention'"),
        ({"mlp_layer_types": ["sparse", "dense"]}, "mlp_layer_types", "not the first k layers"),
        ({"rope_interleave": False}, "rope_interleave", "not supported"),
    ],
)
def test_config_map_refusals(tmp_path, changes, key, message):
    from transformers import AutoConfig

    data = AutoConfig.for_model("deepseek_v32", **V32).to_dict()
    data.update(changes)
    (tmp_path / "config.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message) as err:
        config_from_hf(tmp_path / "config.json")
    assert err.value.field == key


def test_config_map_reads_mlp_layer_types(tmp_path):
    from transformers import AutoConfig

    data = AutoConfig.for_model("deepseek_v32", **{**V32, "num_hidden_layers": 3}).to_dict()
    data.update(mlp_layer_types=["dense", "dense", "sparse"], first_k_dense_replace=1)  # the list wins
    (tmp_path / "config.json").write_text(json.dumps(data))
    assert config_from_hf(tmp_path / "config.json").moe_dense_first == 2
