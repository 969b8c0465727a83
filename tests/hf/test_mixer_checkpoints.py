"""Checkpoint import of the mixer model types (qwen3_next, mamba2, granitemoehybrid): tiny random
transformers models built and saved locally, imported, and held to transformers logit by logit (full
forward, and cached decoding against transformers' own cache, token by token), and to its parameter
count; plus the config mapping of the published Qwen3-Next-80B-A3B config and its refusals."""

import json

import pytest
import torch

pytest.importorskip("transformers")

from hf_tiny import both_logits as _logits  # noqa: E402
from hf_tiny import (
    make_model,  # noqa: E402
    parity_diffs,  # noqa: E402
)
from safetensors.torch import load_file, save_file  # noqa: E402

from suite.analytic.params import count_params  # noqa: E402
from suite.config import ConfigError  # noqa: E402
from suite.hf.load import load_checkpoint  # noqa: E402
from suite.hf.model_types import config_from_hf  # noqa: E402
from suite.hf.safetensors_store import CheckpointError  # noqa: E402

TOL = 1e-4

# (model_type, overrides of hf_tiny.TINY, sequence length, prefill length)
CASES = {
    # 70 prefilled tokens cross the Gated DeltaNet's 64-token chunk
    "qwen3_next": ("qwen3_next", {}, 76, 70),
    "qwen3_next-all-moe-tied": ("qwen3_next", {"mlp_only_layers": [], "tie_word_embeddings": True}, 16, 6),
    "mamba2": ("mamba2", {}, 20, 9),  # chunks of 8: prefill and full forward both cross chunks
    "mamba2-tied": ("mamba2", {"tie_word_embeddings": True, "n_groups": 1}, 16, 6),
    "granitemoehybrid": ("granitemoehybrid", {}, 20, 9),
    "granitemoehybrid-dense": ("granitemoehybrid", {"num_local_experts": 0}, 16, 6),
    "granitemoehybrid-rope": ("granitemoehybrid", {"position_embedding_type": "rope"}, 16, 6),
}


def _save(model_type: str, folder, **overrides):
    theirs = make_model(model_type, **overrides)
    theirs.save_pretrained(folder)
    return theirs


@pytest.mark.parametrize("case", sorted(CASES))
def test_mixer_checkpoint_matches_transformers(case, tmp_path):
    model_type, overrides, seq_len, prefill = CASES[case]
    theirs = _save(model_type, tmp_path / case, **overrides)
    cfg, ours = load_checkpoint(tmp_path / case)
    idx = torch.randint(0, cfg.vocab_size, (2, seq_len), generator=torch.Generator().manual_seed(0))
    out = _logits(ours, theirs, idx, prefill)
    assert out["theirs"].abs().max() > 0.3  # the logits are not trivially small
    diffs = parity_diffs(out)
    assert max(diffs.values()) <= TOL, diffs
    assert count_params(cfg)["total"] == sum(p.numel() for p in theirs.parameters())


def test_parity_test_can_fail_on_the_mixers_own_norm(tmp_path):
    # Qwen3-Next's block norms store w - 1, its Gated DeltaNet's gated norm stores w itself
    theirs = _save("qwen3_next", tmp_path / "q")
    stored = load_file(tmp_path / "q" / "model.safetensors")
    cfg, ours = load_checkpoint(tmp_path / "q")
    mixer_norm = stored["model.layers.0.linear_attn.norm.weight"]
    assert torch.equal(ours.blocks[0].attn.mixer.norm.weight, mixer_norm)
    assert torch.equal(ours.blocks[0].attn_norm.weight, stored["model.layers.0.input_layernorm.weight"] + 1)
    assert torch.equal(ours.blocks[1].attn.q_norm.weight, stored["model.layers.1.self_attn.q_norm.weight"] + 1)
    with torch.no_grad():
        ours.blocks[0].attn.mixer.norm.weight.add_(1.0)  # what treating it as zero-centred would do
    idx = torch.randint(0, cfg.vocab_size, (1, 12), generator=torch.Generator().manual_seed(1))
    assert (ours(idx) - theirs(input_ids=idx).logits).abs().max() > TOL


def _rewrite(folder, change) -> None:
    file = folder / "model.safetensors"
    tensors = change(load_file(file))
    save_file(tensors, file, metadata={"format": "pt"})


def test_qwen3_next_mtp_tensors_are_not_model_tensors(tmp_path):
    _save("qwen3_next", tmp_path / "q")
    _rewrite(tmp_path / "q", lambda t: {**t, "mtp.fc.weight": torch.zeros(4, 4), "mtp.norm.weight": torch.zeros(4)})
    load_checkpoint(tmp_path / "q")  # the multi-token-prediction head transformers does not build either
    _rewrite(tmp_path / "q", lambda t: {**t, "model.layers.0.linear_attn.extra": torch.zeros(4)})
    with pytest.raises(CheckpointError, match=r"1 checkpoint tensors have no place .*linear_attn\.extra"):
        load_checkpoint(tmp_path / "q")


def test_granite_transformers5_expert_names_load_too(tmp_path):
    """Granite checkpoints store input_linear / output_linear / router.layer; transformers 5 renames
    them in memory (experts.gate_up_proj, experts.down_proj, router.weight): both load."""
    theirs = _save("granitemoehybrid", tmp_path / "g")
    renames = {
        "block_sparse_moe.input_linear.weight": "block_sparse_moe.experts.gate_up_proj",
        "block_sparse_moe.output_linear.weight": "block_sparse_moe.experts.down_proj",
        "block_sparse_moe.router.layer.weight": "block_sparse_moe.router.weight",
    }

    def rename(tensors):
        out = {}
        for key, value in tensors.items():
            for old, new in renames.items():
                key = key.replace(old, new)
            out[key] = value
        return out

    _rewrite(tmp_path / "g", rename)
    assert "model.layers.0.block_sparse_moe.experts.gate_up_proj" in load_file(tmp_path / "g" / "model.safetensors")
    _, ours = load_checkpoint(tmp_path / "g")
    idx = torch.randint(0, 97, (1, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (ours(idx) - theirs(input_ids=idx).logits).abs().max() <= TOL


# ------------------------------------------------------------------ config mapping
# Qwen/Qwen3-Next-80B-A3B-Instruct's config.json as published (transformers 4.57 spelling: top-level
# rope_theta and partial_rotary_factor, layers from full_attention_interval); its keys and values are
# those of ../shared/reference/published_configs.json, plus the token ids and training-only keys.
QWEN3_NEXT_80B = {
    "architectures": ["Qwen3NextForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 151643,
    "decoder_sparse_step": 1,
    "eos_token_id": 151645,
    "full_attention_interval": 4,
    "head_dim": 256,
    "hidden_act": "silu",
    "hidden_size": 2048,
    "initializer_range": 0.02,
    "intermediate_size": 5120,
    "linear_conv_kernel_dim": 4,
    "linear_key_head_dim": 128,
    "linear_num_key_heads": 16,
    "linear_num_value_heads": 32,
    "linear_value_head_dim": 128,
    "max_position_embeddings": 262144,
    "mlp_only_layers": [],
    "model_type": "qwen3_next",
    "moe_intermediate_size": 512,
    "norm_topk_prob": True,
    "num_attention_heads": 16,
    "num_experts": 512,
    "num_experts_per_tok": 10,
    "num_hidden_layers": 48,
    "num_key_value_heads": 2,
    "output_router_logits": False,
    "partial_rotary_factor": 0.25,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 10000000,
    "router_aux_loss_coef": 0.001,
    "shared_expert_intermediate_size": 512,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.57.0.dev0",
    "use_cache": True,
    "use_sliding_window": False,
    "vocab_size": 151936,
}
IDENTITY = ("name", "family", "description", "source")


def _write(folder, data: dict):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(data))
    return folder


def _math(cfg) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k not in IDENTITY}


def test_qwen3_next_80b_config_is_the_catalogue_variant(tmp_path):
    from suite.registry import resolve_config

    imported = config_from_hf(_write(tmp_path / "q", QWEN3_NEXT_80B))
    catalogue = resolve_config("qwen3-next-80b-a3b")
    assert {k: (v, _math(catalogue)[k]) for k, v in _math(imported).items() if v != _math(catalogue)[k]} == {}
    assert count_params(imported)["total"] == 79_674_391_296  # published_configs.json: transformers on meta


def test_qwen3_next_transformers5_spelling_maps_the_same(tmp_path):
    data = {k: v for k, v in QWEN3_NEXT_80B.items() if k not in ("rope_theta", "rope_scaling", "partial_rotary_factor")}
    data["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000000.0, "partial_rotary_factor": 0.25}
    data["layer_types"] = ["full_attention" if (i + 1) % 4 == 0 else "linear_attention" for i in range(48)]
    del data["full_attention_interval"]
    old = config_from_hf(_write(tmp_path / "old", QWEN3_NEXT_80B))
    assert _math(config_from_hf(_write(tmp_path / "new", data))) == _math(old)


def test_qwen3_next_defaults_are_transformers_defaults(tmp_path):
    # without partial_rotary_factor and head_dim transformers rotates a quarter of a 256-wide head
    data = {k: v for k, v in QWEN3_NEXT_80B.items() if k not in ("partial_rotary_factor", "head_dim")}
    cfg = config_from_hf(_write(tmp_path / "q", data))
    assert (cfg.head_size, cfg.rope_fraction, cfg.rotary_dim) == (256, 0.25, 64)


@pytest.mark.parametrize(
    "change, field, message",
    [
        ({"hidden_act": "gelu"}, "hidden_act", "value 'gelu' is not supported"),
        ({"layer_types": ["sliding_attention"] * 48}, "layer_types", "layer type 'sliding_attention'"),
        ({"partial_rotary_factor": 0.5, "rope_parameters": {"rope_theta": 1e7, "partial_rotary_factor": 0.25}},
         "partial_rotary_factor", "rope_parameters says 0.25"),
        ({"mlp_only_layers": [47]}, "mlp_only_layers", "not the first k layers"),
        ({"linear_attention_bias": True}, "linear_attention_bias", "unknown config key"),
    ],
)  # fmt: skip
def test_qwen3_next_config_refusals(tmp_path, change, field, message):
    with pytest.raises(ConfigError, match=message) as info:
        config_from_hf(_write(tmp_path / "q", {**QWEN3_NEXT_80B, **change}))
    assert info.value.field == field


MAMBA2 = {"model_type": "mamba2", "vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 2, "num_heads": 8}
GRANITE = {
    "model_type": "granitemoehybrid",
    "vocab_size": 100,
    "hidden_size": 64,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "mamba_n_heads": 8,
    "mamba_d_state": 16,
    "layer_types": ["mamba", "mamba", "mamba", "attention"],
    "position_embedding_type": "nope",
    "rope_theta": 10000,
    "time_step_limit": [0.0, {"__float__": "Infinity"}],
}


def test_mamba2_and_granite_configs(tmp_path):
    mamba = config_from_hf(_write(tmp_path / "m", {**MAMBA2, "head_dim": 16}))
    assert mamba.layer_kinds == ("mamba2", "mamba2") and not mamba.has_mlp and mamba.position == "none"
    assert (mamba.ssm_heads, mamba.ssm_head_dim, mamba.ssm_groups, mamba.mixer_chunk_size) == (8, 16, 8, 256)
    granite = config_from_hf(_write(tmp_path / "g", GRANITE))  # the pre-transformers-5 layer names
    assert granite.layer_kinds == ("mamba2",) * 3 + ("full",) and granite.position == "none"
    assert (granite.attention, granite.attn_scale, granite.ssm_head_dim) == ("mqa", 1.0, 16)
    moe = (granite.n_experts, granite.experts_top_k, granite.router, granite.shared_hidden)
    assert moe == (8, 2, "topk_softmax", 1024)
    alias = {k: v for k, v in GRANITE.items() if k != "layer_types"} | {"layers_block_type": GRANITE["layer_types"]}
    assert config_from_hf(_write(tmp_path / "alias", alias)).layer_kinds == granite.layer_kinds
    dense = config_from_hf(_write(tmp_path / "d", {**GRANITE, "num_local_experts": 0}))
    assert not dense.is_moe and dense.mlp == "swiglu" and dense.hidden == 1024  # shared_intermediate_size


@pytest.mark.parametrize(
    "data, field, message",
    [
        ({**MAMBA2, "head_dim": 8}, "num_heads", r"head_dim \(64\) must equal expand x hidden_size \(128\)"),
        ({**MAMBA2, "head_dim": 16, "time_step_limit": [0.001, 0.1]}, "time_step_limit", "no clamp"),
        ({**MAMBA2, "head_dim": 16, "hidden_act": "gelu"}, "hidden_act", "not supported"),
        ({**MAMBA2, "head_dim": 16, "norm_before_gate": True}, "norm_before_gate", "unknown config key"),
        ({**GRANITE, "position_embedding_type": "alibi"}, "position_embedding_type", "'alibi' is not supported"),
        ({**GRANITE, "mamba_d_head": 12}, "mamba_d_head", "mamba_n_heads x mamba_d_head = 128"),
        ({**GRANITE, "mamba_n_heads": 3}, "mamba_n_heads", "must divide mamba_expand x hidden_size"),
        ({**GRANITE, "layer_types": ["mamba"] * 3 + ["moe"]}, "layer_types", "layer type 'moe'"),
        ({**GRANITE, "layers_block_type": GRANITE["layer_types"]}, "layers_block_type", "another name of layer_types"),
        ({**GRANITE, "position_embedding_type": "rope", "partial_rotary_factor": 0.5}, "partial_rotary_factor",
         "rotates the whole head"),
    ],
)  # fmt: skip
def test_mamba2_and_granite_refusals(tmp_path, data, field, message):
    with pytest.raises(ConfigError, match=message) as info:
        config_from_hf(_write(tmp_path / "c", data))
    assert info.value.field == field
