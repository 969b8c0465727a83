"""Checkpoint import: config.json -> ModelConfig mapping, weight loading and its errors, the CLI."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from hf_tiny import make_checkpoint, make_model
from safetensors.torch import load_file, save_file

from suite.cli import main
from suite.config import ConfigError
from suite.hf.importer import variant_yaml
from suite.hf.load import load_checkpoint
from suite.hf.model_types import config_from_hf
from suite.hf.quant import dequantize_fp8, dequantize_mxfp4
from suite.hf.safetensors_store import CheckpointError
from suite.registry import load_variant

HF_CONFIGS = Path(__file__).parent / "data" / "hf_configs"
needs_transformers = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None, reason="builds reference checkpoints with transformers"
)


def write_config(folder: Path, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(data))
    return folder


LLAMA = {
    "model_type": "llama",
    "hidden_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "intermediate_size": 128,
    "vocab_size": 100,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "max_position_embeddings": 256,
}


# ------------------------------------------------------------------ config mapping
def test_config_only_folder_maps_the_architecture(tmp_path):
    cfg = config_from_hf(write_config(tmp_path / "tiny-llama", LLAMA))
    assert cfg.name == "tiny-llama" and cfg.family == "llama"
    assert (cfg.attention, cfg.kv_heads, cfg.head_size, cfg.mlp, cfg.norm) == ("gqa", 2, 16, "swiglu", "rmsnorm")
    assert not cfg.qkv_bias and not cfg.tie_embeddings


def test_old_rope_scaling_and_transformers5_rope_parameters_agree(tmp_path):
    old = dict(
        LLAMA,
        rope_theta=500000.0,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        },
    )
    new = {k: v for k, v in old.items() if k not in ("rope_theta", "rope_scaling")}
    new["rope_parameters"] = dict(old["rope_scaling"], rope_theta=500000.0)
    a = config_from_hf(write_config(tmp_path / "a", old))
    b = config_from_hf(write_config(tmp_path / "b", new))
    assert a.replace(name="x", source="", description="") == b.replace(name="x", source="", description="")
    assert (a.rope_scaling, a.rope_factor, a.rope_original_context, a.rope_theta) == ("llama3", 8.0, 64, 500000.0)


def test_unsupported_model_type_names_file_and_type(tmp_path):
    write_config(tmp_path / "m", {"model_type": "mamba", "hidden_size": 8})
    with pytest.raises(ConfigError) as err:
        config_from_hf(tmp_path / "m")
    assert "'mamba' is not supported" in str(err.value) and "config.json" in str(err.value)
    assert err.value.field == "model_type" and "qwen3_moe" in str(err.value)


def test_unknown_key_is_refused_not_ignored(tmp_path):
    write_config(tmp_path / "m", dict(LLAMA, attn_temperature_tuning=True))
    with pytest.raises(ConfigError) as err:
        config_from_hf(tmp_path / "m")
    assert err.value.field == "attn_temperature_tuning" and "unknown config key" in str(err.value)
    assert str(tmp_path / "m" / "config.json") in str(err.value)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("hidden_act", "relu", "'relu' is not supported"),
        ("rope_scaling", {"rope_type": "dynamic", "factor": 2.0}, "'dynamic' is not supported"),
        ("rope_scaling", {"rope_type": "linear", "factor": 2.0, "extra": 1}, "not a known parameter"),
        (
            "rope_scaling",
            {"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 64, "mscale": 0.7},
            "only supported for model_type deepseek_v3",
        ),
    ],
)
def test_values_that_change_the_math_are_errors(tmp_path, key, value, message):
    write_config(tmp_path / "m", dict(LLAMA, **{key: value}))
    with pytest.raises(ConfigError) as err:
        config_from_hf(tmp_path / "m")
    assert message in str(err.value)
    assert (err.value.field or "").startswith(key if key != "rope_scaling" else "rope_parameters")


def test_qwen3_moe_dense_layers_must_come_first(tmp_path):
    data = {
        "model_type": "qwen3_moe",
        "hidden_size": 32,
        "num_attention_heads": 4,
        "num_hidden_layers": 4,
        "intermediate_size": 64,
        "vocab_size": 50,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 16,
        "mlp_only_layers": [2],
    }
    with pytest.raises(ConfigError) as err:
        config_from_hf(write_config(tmp_path / "m", data))
    assert err.value.field == "mlp_only_layers"
    cfg = config_from_hf(write_config(tmp_path / "ok", dict(data, mlp_only_layers=[0, 1])))
    assert cfg.moe_dense_first == 2 and cfg.is_moe_layer(2) and not cfg.is_moe_layer(1)


def test_missing_or_broken_config(tmp_path):
    with pytest.raises(ConfigError, match="no config.json"):
        config_from_hf(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        config_from_hf(tmp_path)


def test_variant_yaml_round_trip(tmp_path):
    cfg = config_from_hf(HF_CONFIGS / "gpt-oss-20b.json")
    path = tmp_path / "v.yaml"
    path.write_text(variant_yaml(cfg))
    again = load_variant(str(path))
    assert again == cfg
    assert "layer_types: [sliding, full," in path.read_text()


def test_show_accepts_config_json_and_folder(tmp_path, capsys):
    assert main(["show", str(HF_CONFIGS / "qwen3-30b-a3b.json"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"]["total"] == 30_532_122_624 and data["params"]["active"] == 3_353_032_704
    folder = write_config(tmp_path / "tiny", LLAMA)
    assert main(["show", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["n_layers"] == 2


def test_import_config_only_cli(tmp_path, capsys):
    out = tmp_path / "out.yaml"
    assert main(["import", str(HF_CONFIGS / "deepseek-v3.json"), "--out", str(out)]) == 0
    assert "config only, no weights" in capsys.readouterr().err
    cfg = load_variant(str(out))
    assert cfg.name == "deepseek-v3" and cfg.attention == "mla" and cfg.n_experts == 256


def test_import_unsupported_type_exits_2(tmp_path, capsys):
    write_config(tmp_path / "m", {"model_type": "bert"})
    assert main(["import", str(tmp_path / "m")]) == 2
    assert "model_type 'bert' is not supported" in capsys.readouterr().err


# ------------------------------------------------------------------ dequantisation
@needs_transformers
def test_mxfp4_matches_transformers():
    mxfp4 = pytest.importorskip("transformers.integrations.mxfp4")
    gen = torch.Generator().manual_seed(0)
    blocks = torch.randint(0, 256, (2, 6, 2, 16), generator=gen, dtype=torch.uint8)
    scales = torch.randint(120, 134, (2, 6, 2), generator=gen, dtype=torch.uint8)
    ours = dequantize_mxfp4(blocks, scales)
    ref = mxfp4.convert_moe_packed_tensors(blocks, scales, dtype=torch.float32)
    assert ours.shape == (2, 64, 6)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)


def test_fp8_block_dequantisation():
    weight = torch.randn(130, 200).to(torch.float8_e4m3fn)
    scale = torch.rand(2, 2) + 0.5
    out = dequantize_fp8(weight, scale)
    assert out[129, 199] == weight[129, 199].float() * scale[1, 1]
    assert out[0, 127] == weight[0, 127].float() * scale[0, 0]


# ------------------------------------------------------------------ weights


def edit_weights(folder: Path, edit) -> None:
    tensors = load_file(folder / "model.safetensors")
    edit(tensors)
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})


@needs_transformers
def test_loaded_weights_are_the_checkpoints(tmp_path):
    folder = make_checkpoint("gemma3_text", tmp_path / "g")
    stored = load_file(folder / "model.safetensors")
    cfg, model = load_checkpoint(folder)
    assert torch.equal(model.blocks[1].mlp_norm.weight, stored["model.layers.1.pre_feedforward_layernorm.weight"] + 1)
    assert torch.equal(model.blocks[0].attn.q_proj.weight, stored["model.layers.0.self_attn.q_proj.weight"])


@needs_transformers
def test_missing_tensor(tmp_path):
    folder = make_checkpoint("qwen3", tmp_path / "q")
    edit_weights(folder, lambda t: t.pop("model.layers.1.self_attn.k_norm.weight"))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(folder)
    assert "missing from the checkpoint: model.layers.1.self_attn.k_norm.weight" in str(err.value)


@needs_transformers
def test_unexpected_tensor(tmp_path):
    folder = make_checkpoint("llama", tmp_path / "l")
    edit_weights(folder, lambda t: t.__setitem__("model.layers.0.self_attn.q_proj.bias", torch.zeros(32)))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(folder)
    assert "no place in the mapped model" in str(err.value) and "q_proj.bias" in str(err.value)


@needs_transformers
def test_shape_mismatch(tmp_path):
    folder = make_checkpoint("mistral", tmp_path / "m")
    data = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(data, intermediate_size=64)))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(folder)
    assert "do not match the config's shapes" in str(err.value)
    assert "model.layers.0.mlp.gate_proj.weight: checkpoint gives (48, 32), the config needs (64, 32)" in str(err.value)


@needs_transformers
def test_tied_head_that_differs_is_an_error(tmp_path):
    folder = make_checkpoint("qwen3", tmp_path / "q")  # tie_word_embeddings: true
    edit_weights(folder, lambda t: t.__setitem__("lm_head.weight", torch.randn(97, 32)))
    with pytest.raises(CheckpointError, match="lm_head.weight differs from the input embedding"):
        load_checkpoint(folder)
    edit_weights(folder, lambda t: t.__setitem__("lm_head.weight", t["model.embed_tokens.weight"].clone()))
    load_checkpoint(folder)  # a stored copy of the embedding is fine


@needs_transformers
def test_pickle_weights_are_refused(tmp_path):
    folder = make_checkpoint("olmo2", tmp_path / "o")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not even read")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(folder)
    assert "pickle" in str(err.value) and "pytorch_model.bin" in str(err.value) and "safetensors" in str(err.value)


@needs_transformers
def test_transformers5_fused_expert_layout(tmp_path):
    # transformers 5 keeps MoE experts fused in memory ((E, 2*hidden, in) gate_up); accept that layout too
    model = make_model("qwen3_moe")
    folder = tmp_path / "fused"
    model.save_pretrained(folder)
    per_expert = load_checkpoint(folder)[1]
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items() if "rotary" not in k},
        folder / "model.safetensors",
        metadata={"format": "pt"},
    )
    assert "model.layers.1.mlp.experts.gate_up_proj" in load_file(folder / "model.safetensors")
    fused = load_checkpoint(folder)[1]
    for (name, a), (_, b) in zip(per_expert.state_dict().items(), fused.state_dict().items()):
        assert torch.equal(a, b), name


@needs_transformers
def test_mxfp4_expert_storage(tmp_path):
    # the published gpt-oss checkpoints store expert matrices as MXFP4 blocks + scales
    mxfp4 = pytest.importorskip("transformers.integrations.mxfp4")
    folder = make_checkpoint("gpt_oss", tmp_path / "oss")
    gen = torch.Generator().manual_seed(1)
    blocks = torch.randint(0, 256, (4, 32, 1, 16), generator=gen, dtype=torch.uint8)  # (E, 2*hidden, in/32, 16)
    scales = torch.randint(118, 124, (4, 32, 1), generator=gen, dtype=torch.uint8)

    def quantise(t):
        t.pop("model.layers.0.mlp.experts.gate_up_proj")
        t["model.layers.0.mlp.experts.gate_up_proj_blocks"] = blocks
        t["model.layers.0.mlp.experts.gate_up_proj_scales"] = scales

    edit_weights(folder, quantise)
    _, model = load_checkpoint(folder)
    gate_up = mxfp4.convert_moe_packed_tensors(blocks, scales, dtype=torch.float32)  # (E, in, 2*hidden)
    assert torch.equal(model.blocks[0].mlp.gate, gate_up[..., ::2])
    assert torch.equal(model.blocks[0].mlp.up, gate_up[..., 1::2])


@needs_transformers
def test_base_model_checkpoint_without_prefix(tmp_path):
    folder = make_checkpoint("gpt2", tmp_path / "g")
    edit_weights(folder, lambda t: t.update({k.removeprefix("transformer."): t.pop(k) for k in list(t)}))
    cfg, model = load_checkpoint(folder)
    assert cfg.position == "learned" and model.pos_emb.weight.shape == (64, 32)


def test_mistral_null_window_means_full_attention(tmp_path):
    data = json.loads((HF_CONFIGS / "mistral-7b-v0.1.json").read_text())
    assert set(config_from_hf(HF_CONFIGS / "mistral-7b-v0.1.json").layer_kinds) == {"sliding"}
    cfg = config_from_hf(write_config(tmp_path / "v0.2", dict(data, sliding_window=None)))
    assert set(cfg.layer_kinds) == {"full"} and cfg.sliding_window is None


@needs_transformers
def test_deepseek_fp8_storage_and_mtp_layers(tmp_path):
    # DeepSeek-V3 ships block-FP8 weights with a scale per 128x128 block, and its multi-token-prediction
    # layer after the main layers (not part of the model we import)
    folder = make_checkpoint("deepseek_v3", tmp_path / "ds")
    key = "model.layers.1.self_attn.q_b_proj.weight"
    stored = load_file(folder / "model.safetensors")[key]
    fp8 = stored.to(torch.float8_e4m3fn)

    def quantise(t):
        t[key] = fp8
        t[key + "_scale_inv"] = torch.tensor([[0.5]])
        t["model.layers.2.eh_proj.weight"] = torch.zeros(32, 64)  # MTP layer (num_nextn_predict_layers: 1)

    edit_weights(folder, quantise)
    _, model = load_checkpoint(folder)
    assert torch.equal(model.blocks[1].attn.q_b_proj.weight, fp8.float() * 0.5)
    data = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(data, num_nextn_predict_layers=0)))
    with pytest.raises(CheckpointError, match="model.layers.2.eh_proj.weight"):
        load_checkpoint(folder)
