"""Parity with transformers: tiny random models of every supported model_type, built and saved
locally, imported, and compared logit by logit (full forward and KV-cache decoding, fp32)."""

import json

import pytest
import torch

pytest.importorskip("transformers")

from hf_tiny import TINY, make_checkpoint  # noqa: E402

from suite.cli import main  # noqa: E402
from suite.hf.load import load_checkpoint  # noqa: E402
from suite.hf.model_types import MODEL_TYPES  # noqa: E402
from suite.hf.parity import check_parity  # noqa: E402

TOL = 1e-4


def test_every_supported_type_has_a_parity_case():
    # gemma3 (the image-text wrapper) is covered by test_gemma3_multimodal_text_decoder
    assert set(MODEL_TYPES) - {"gemma3"} == set(TINY)


@pytest.mark.parametrize("model_type", sorted(TINY))
def test_parity(model_type, tmp_path):
    folder = make_checkpoint(model_type, tmp_path / model_type)
    result = check_parity(folder, seq_len=16, prefill=6)  # windows are 5: decoding rolls the cache
    assert result["model_type"] == model_type
    assert result["max_abs_logit"] > 0.3  # the logits are not trivially small
    assert result["max_abs_diff"] <= TOL, result
    assert result["decode_max_abs_diff"] <= TOL, result


def test_parity_check_can_fail(tmp_path):
    folder = make_checkpoint("qwen3", tmp_path / "q")
    cfg, ours = load_checkpoint(folder)
    with torch.no_grad():
        ours.blocks[0].attn.q_norm.weight.mul_(1.01)  # a 1% error in one norm must show
    result = check_parity(folder, seq_len=8, loaded=(cfg, ours))
    assert result["max_abs_diff"] > TOL


def test_deepseek_negative_correction_bias(tmp_path):
    # kept-group scores are all below 0 here: masked groups must lose to them (filled with -inf, not 0)
    folder = make_checkpoint("deepseek_v3", tmp_path / "ds", correction_bias=-2.0)
    result = check_parity(folder, seq_len=12)
    assert result["max_abs_diff"] <= TOL and result["decode_max_abs_diff"] <= TOL


def test_sharded_checkpoint(tmp_path):
    folder = make_checkpoint("gpt_oss", tmp_path / "oss", max_shard_size="20KB")
    assert (folder / "model.safetensors.index.json").is_file()
    assert len(list(folder.glob("*.safetensors"))) > 1
    result = check_parity(folder, seq_len=12)
    assert result["max_abs_diff"] <= TOL


def test_gemma3_multimodal_text_decoder(tmp_path):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    text = {k: v for k, v in TINY["gemma3_text"].items()} | {"vocab_size": 300}
    vision = dict(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14
    )
    torch.manual_seed(0)
    model = Gemma3ForConditionalGeneration(
        Gemma3Config(
            text_config=text,
            vision_config=vision,
            mm_tokens_per_image=4,
            image_token_index=299,
            boi_token_index=297,
            eoi_token_index=298,
        )
    )
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.save_pretrained(tmp_path / "g3")
    result = check_parity(tmp_path / "g3", seq_len=16)
    assert result["model_type"] == "gemma3"
    assert result["max_abs_diff"] <= TOL and result["decode_max_abs_diff"] <= TOL


def test_cli_check_json(tmp_path, capsys):
    folder = make_checkpoint("mistral", tmp_path / "m")
    assert main(["import", str(folder), "--check", "--json", "--seq-len", "12"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model_type"] == "mistral"
    assert isinstance(data["max_abs_diff"], float) and data["max_abs_diff"] <= TOL
    assert data["decode_max_abs_diff"] <= TOL
    assert data["seq_len"] == 12 and data["weights"]["files"] == 1


def test_cli_check_human(tmp_path, capsys):
    folder = make_checkpoint("llama", tmp_path / "l")
    assert main(["import", str(folder), "--check"]) == 0
    captured = capsys.readouterr()
    assert "max |logit diff|" in captured.err and "KV-cache decoding" in captured.err
    assert captured.out.splitlines()[1] == "l:"  # the variant YAML goes to stdout


def test_cli_check_fails_above_tolerance(tmp_path, capsys):
    folder = make_checkpoint("olmo2", tmp_path / "o")
    assert main(["import", str(folder), "--check", "--tol", "1e-300"]) == 1  # --tol 0 is refused by argparse
    err = capsys.readouterr().err
    assert "KV-cache decoding (2 x 32 tokens, fp32; tolerance 1e-300) FAILED" in err
    assert "archbench: parity check FAILED: max |logit diff| above the tolerance 1e-300: full forward " in err
