"""Checkpoint import of the model types mapped in suite/hf/family_configs.py (mixtral, qwen2_moe, olmoe,
phi3, smollm3, gemma2, deepseek_v2, glm4_moe, granite, exaone4): tiny random transformers models built
and saved locally, imported, held to transformers logit by logit (full forward, and cached decoding
against transformers' own cache), and to its exact parameter count; `show CONFIG.json` from the config
alone; the readings that would silently build another model shown to matter; refusals."""

import json

import pytest
import torch

pytest.importorskip("transformers")

from hf_tiny import (  # noqa: E402
    TINY,
    both_logits,
    make_model,
    parity_diffs,  # noqa: E402
)
from safetensors.torch import load_file, save_file  # noqa: E402

from suite.analytic import costs  # noqa: E402
from suite.analytic.params import count_params  # noqa: E402
from suite.cli import main  # noqa: E402
from suite.config import ConfigError, ModelConfig  # noqa: E402
from suite.hf.load import load_checkpoint  # noqa: E402
from suite.hf.model_types import config_from_hf  # noqa: E402
from suite.model import build_model  # noqa: E402

TOL = 1e-4
TYPES = ("mixtral", "qwen2_moe", "olmoe", "phi3", "smollm3", "gemma2", "deepseek_v2", "glm4_moe", "granite", "exaone4")

# (model_type, overrides of hf_tiny.TINY); sequences of 16 tokens, 6 prefilled: the 5-token windows roll
CASES = {
    **{t: (t, {}) for t in TYPES},
    "mixtral-no-window": ("mixtral", {"sliding_window": None}),
    "qwen2_moe-all-moe-tied": ("qwen2_moe", {"mlp_only_layers": [], "tie_word_embeddings": True}),
    "phi3-partial-rotary": ("phi3", {"sliding_window": None, "partial_rotary_factor": 0.5}),
    "smollm3-every-4th": ("smollm3", {"no_rope_layer_interval": 4}),  # transformers' default rule
    "deepseek_v2-q-lora": ("deepseek_v2", {"q_lora_rank": 16}),
    "glm4_moe-plain": ("glm4_moe", {"use_qk_norm": False, "attention_bias": False, "n_group": 1, "topk_group": 1}),
    # no window: RoPE in every layer (transformers needs the layer types spelled out then)
    "exaone4-no-window": ("exaone4", {"sliding_window": None, "layer_types": ["full_attention"] * 3}),
}


def _save(model_type: str, folder, **overrides):
    theirs = make_model(model_type, **overrides)
    theirs.save_pretrained(folder)
    return theirs


@pytest.mark.parametrize("case", sorted(CASES))
def test_checkpoint_matches_transformers(case, tmp_path):
    model_type, overrides = CASES[case]
    theirs = _save(model_type, tmp_path / case, **overrides)
    cfg, ours = load_checkpoint(tmp_path / case)
    idx = torch.randint(0, cfg.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))
    out = both_logits(ours, theirs, idx, 6)
    assert out["theirs"].abs().max() > 0.3  # the logits are not trivially small
    diffs = parity_diffs(out)
    assert max(diffs.values()) <= TOL, diffs
    assert count_params(cfg)["total"] == sum(p.numel() for p in theirs.parameters())


# the reading each new component needs, changed back to what ignoring it would build: the logits must move
WRONG = {
    "smollm3": lambda c: c.replace(layer_types=None),  # RoPE in the NoPE layers too
    "exaone4": lambda c: c.replace(layer_types=tuple("full" if k == "full_nope" else k for k in c.layer_kinds)),
    "gemma2": lambda c: c.replace(attn_softcap=None),
    "granite": lambda c: c.replace(residual_multiplier=1.0),
    "deepseek_v2": lambda c: c.replace(router_scale=1.0),
    "qwen2_moe": lambda c: c.replace(shared_expert_gate=False),
}


@pytest.mark.parametrize("model_type", sorted(WRONG))
def test_each_mapped_component_matters(model_type, tmp_path):
    _save(model_type, tmp_path / model_type)
    cfg, ours = load_checkpoint(tmp_path / model_type)
    wrong = build_model(WRONG[model_type](cfg))
    wrong.load_state_dict(ours.state_dict(), strict=False)  # a shared-expert gate is the one extra tensor
    idx = torch.randint(0, cfg.vocab_size, (1, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert (ours(idx) - wrong.eval()(idx)).abs().max() > 10 * TOL


def _rewrite(folder, change) -> None:
    file = folder / "model.safetensors"
    save_file(change(load_file(file)), file, metadata={"format": "pt"})


def test_mixtral_transformers5_names_load_too(tmp_path):
    """Mixtral checkpoints store block_sparse_moe.experts.N.w1/w2/w3; transformers 5 keeps fused
    mlp.experts.gate_up_proj (E, 2h, d) / down_proj and mlp.gate: both load to the same model."""
    theirs = _save("mixtral", tmp_path / "m")
    cfg = config_from_hf(tmp_path / "m")

    def fuse(tensors):
        out = {k: v for k, v in tensors.items() if "block_sparse_moe" not in k}
        for i in range(cfg.n_layers):
            base = f"model.layers.{i}.block_sparse_moe."
            w = {
                n: [tensors[f"{base}experts.{e}.{n}.weight"] for e in range(cfg.n_experts)] for n in ("w1", "w2", "w3")
            }
            out[f"model.layers.{i}.mlp.experts.gate_up_proj"] = torch.stack(
                [torch.cat((g, u)) for g, u in zip(w["w1"], w["w3"])]
            )
            out[f"model.layers.{i}.mlp.experts.down_proj"] = torch.stack(w["w2"])
            out[f"model.layers.{i}.mlp.gate.weight"] = tensors[f"{base}gate.weight"]
        return out

    _rewrite(tmp_path / "m", fuse)
    _, ours = load_checkpoint(tmp_path / "m")
    idx = torch.randint(0, 97, (1, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (ours(idx) - theirs(input_ids=idx).logits).abs().max() <= TOL


def test_phi3_fused_rows_are_split_in_order(tmp_path):
    theirs = _save("phi3", tmp_path / "p")
    stored = load_file(tmp_path / "p" / "model.safetensors")
    _, ours = load_checkpoint(tmp_path / "p")
    qkv, gate_up = stored["model.layers.0.self_attn.qkv_proj.weight"], stored["model.layers.0.mlp.gate_up_proj.weight"]
    attn, mlp = ours.blocks[0].attn, ours.blocks[0].mlp
    assert torch.equal(torch.cat((attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight)), qkv)
    assert torch.equal(torch.cat((mlp.gate_proj.weight, mlp.up_proj.weight)), gate_up)
    assert attn.q_proj.weight.shape == (32, 32) and attn.k_proj.weight.shape == (16, 32)
    del theirs


@pytest.mark.parametrize("model_type", TYPES)
def test_show_reads_the_config_alone(model_type, tmp_path, capsys):
    theirs = make_model(model_type)
    theirs.config.save_pretrained(tmp_path / model_type)  # config.json only, no weights
    assert main(["show", str(tmp_path / model_type / "config.json"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "partial" not in data and data["family"]
    assert data["params"]["total"] == sum(p.numel() for p in theirs.parameters())


def test_layer_kinds_of_the_nope_models(tmp_path):
    smol = make_model("smollm3", no_rope_layer_interval=4)
    smol.config.save_pretrained(tmp_path / "s")
    assert config_from_hf(tmp_path / "s").layer_kinds == ("full", "full", "full", "full_nope")
    exaone = make_model("exaone4")
    exaone.config.save_pretrained(tmp_path / "e")
    cfg = config_from_hf(tmp_path / "e")
    assert (cfg.layer_kinds, cfg.norm_placement, cfg.qk_norm) == (("sliding", "full_nope", "sliding"), "post", "head")


def test_a_nope_layer_costs_as_full_attention():
    base = dict(vocab_size=64, d_model=32, n_layers=4, n_heads=4, position="rope", context_length=4096)
    rope = ModelConfig(name="rope", **base)
    nope = ModelConfig(name="nope", layer_types=("full", "full", "full", "full_nope"), **base)
    for context in (16, 4096):
        assert costs.prefill_flops(nope, context) == costs.prefill_flops(rope, context)
        assert costs.kv_cache_bytes(nope, context) == costs.kv_cache_bytes(rope, context)
    assert count_params(nope) == count_params(rope)
    model = build_model(nope)
    assert sorted(model.rotary) == ["full"]  # no table for the NoPE layer, so its attention skips RoPE


# ------------------------------------------------------------------ refusals
def _config(tmp_path, model_type: str, **changes):
    data = make_model(model_type).config.to_dict()
    data.update(changes)
    (tmp_path / "config.json").write_text(json.dumps(data))
    return tmp_path / "config.json"


@pytest.mark.parametrize(
    "model_type, changes, field, message",
    [
        ("olmoe", {"clip_qkv": 8.0}, "clip_qkv", "value 8.0 is not supported"),
        ("deepseek_v2", {"norm_topk_prob": True}, "norm_topk_prob", "value True is not supported"),
        ("deepseek_v2", {"topk_method": "group_limited_greedy", "n_group": 4, "topk_group": 2}, "topk_method",
         "group-limited softmax routing"),
        ("deepseek_v2", {"scoring_func": "sigmoid"}, "scoring_func", "value 'sigmoid' is not supported"),
        ("smollm3", {"use_sliding_window": True, "sliding_window": 4, "no_rope_layers": [1, 0, 1, 0],
                     "layer_types": ["sliding_attention"] * 4}, "no_rope_layers", "layer 1 slides without RoPE"),
        ("smollm3", {"no_rope_layers": [1, 1, 1]}, "no_rope_layers", "has 3 entries"),
        ("exaone4", {"layer_types": None, "sliding_window_pattern": "LGLG"}, "sliding_window_pattern",
         "a string such as 'LLLG'"),
        ("phi3", {"rope_parameters": {"rope_type": "longrope", "rope_theta": 1e4}}, "rope_parameters",
         "RoPE type 'longrope' is not supported"),
        ("mixtral", {"moe_layer_freq": 2}, "moe_layer_freq", "unknown config key"),
    ],
)  # fmt: skip
def test_refusals(tmp_path, model_type, changes, field, message):
    with pytest.raises(ConfigError, match=message) as info:
        config_from_hf(_config(tmp_path, model_type, **changes))
    assert info.value.field == field


def test_every_new_type_has_a_tiny_model():
    assert set(TYPES) <= set(TINY)


# published sizes of one model per type (their config.json's size keys); the count must equal transformers'
# model built from the same config on the meta device
PUBLISHED = {
    "mistralai/Mixtral-8x7B-v0.1": ("mixtral", dict(
        vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=8, num_local_experts=8, num_experts_per_tok=2, max_position_embeddings=32768,
        sliding_window=None)),
    "Qwen/Qwen1.5-MoE-A2.7B": ("qwen2_moe", dict(
        vocab_size=151936, hidden_size=2048, intermediate_size=5632, moe_intermediate_size=1408,
        shared_expert_intermediate_size=5632, num_experts=60, num_experts_per_tok=4, num_hidden_layers=24,
        num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=8192)),
    "allenai/OLMoE-1B-7B-0924": ("olmoe", dict(
        vocab_size=50304, hidden_size=2048, intermediate_size=1024, num_hidden_layers=16, num_attention_heads=16,
        num_key_value_heads=16, num_experts=64, num_experts_per_tok=8, pad_token_id=1)),
    "microsoft/phi-4": ("phi3", dict(
        vocab_size=100352, hidden_size=5120, intermediate_size=17920, num_hidden_layers=40, num_attention_heads=40,
        num_key_value_heads=10, max_position_embeddings=16384, pad_token_id=100349)),
    "HuggingFaceTB/SmolLM3-3B": ("smollm3", dict(
        vocab_size=128256, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
        num_key_value_heads=4, max_position_embeddings=65536)),
    "google/gemma-2-9b": ("gemma2", dict(
        vocab_size=256000, hidden_size=3584, intermediate_size=14336, num_hidden_layers=42, num_attention_heads=16,
        num_key_value_heads=8, head_dim=256)),
    "deepseek-ai/DeepSeek-V2-Lite": ("deepseek_v2", dict(
        vocab_size=102400, hidden_size=2048, intermediate_size=10944, moe_intermediate_size=1408,
        num_hidden_layers=27, num_attention_heads=16, num_key_value_heads=16, n_routed_experts=64,
        n_shared_experts=2, num_experts_per_tok=6, first_k_dense_replace=1, q_lora_rank=None, kv_lora_rank=512,
        qk_rope_head_dim=64, qk_nope_head_dim=128, v_head_dim=128, head_dim=64)),
    "zai-org/GLM-4.5-Air": ("glm4_moe", dict(
        vocab_size=151552, hidden_size=4096, intermediate_size=10944, moe_intermediate_size=1408,
        num_hidden_layers=46, num_attention_heads=96, num_key_value_heads=8, head_dim=128, n_routed_experts=128,
        n_shared_experts=1, num_experts_per_tok=8, first_k_dense_replace=1, attention_bias=True)),
    "ibm-granite/granite-3.3-8b-base": ("granite", dict(
        vocab_size=49159, hidden_size=4096, intermediate_size=12800, num_hidden_layers=40, num_attention_heads=32,
        num_key_value_heads=8, tie_word_embeddings=True, embedding_multiplier=12.0, residual_multiplier=0.22,
        logits_scaling=16.0, attention_multiplier=0.0078125)),
    "LGAI-EXAONE/EXAONE-4.0-32B": ("exaone4", dict(
        vocab_size=102400, hidden_size=5120, intermediate_size=27392, num_hidden_layers=64, num_attention_heads=40,
        num_key_value_heads=8, head_dim=128, sliding_window=4096, sliding_window_pattern=4)),
}  # fmt: skip


@pytest.mark.parametrize("model_id", sorted(PUBLISHED))
def test_full_size_counts_equal_transformers_on_meta(model_id, tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM

    model_type, sizes = PUBLISHED[model_id]
    config = AutoConfig.for_model(model_type, **sizes)
    with torch.device("meta"):
        theirs = AutoModelForCausalLM.from_config(config)
    config.save_pretrained(tmp_path)
    cfg = config_from_hf(tmp_path)
    assert count_params(cfg)["total"] == sum(p.numel() for p in theirs.parameters())
