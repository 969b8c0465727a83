"""Weight formats against the published sizes of real checkpoints (sum of the repository's
safetensors / GGUF file sizes in GB, 10^9 bytes), and the serving answers built on them."""

import json

import pytest

from suite import components
from suite.analytic import budget, costs, weight_formats
from suite.cli import main
from suite.registry import Registry

REGISTRY = Registry()

# (variant, format, published GB, source): our size must be within 3% (the range's ends for a range)
PUBLISHED = [
    ("llama-3.1-8b", "bf16", 16.06, "huggingface.co/meta-llama/Llama-3.1-8B: 4 safetensors shards"),
    ("llama-3.1-8b", "awq-int4-g128", 5.73, "huggingface.co/hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4"),
    ("llama-3.1-8b", "int4", 5.73, "the same AWQ checkpoint: int4 means AWQ/GPTQ g128"),
    ("llama-3.1-8b", "fp8", 9.08, "huggingface.co/neuralmagic/Meta-Llama-3.1-8B-Instruct-FP8"),
    ("llama-3.1-8b", "gguf-q4_k_m", 4.92, "huggingface.co/bartowski/Meta-Llama-3.1-8B-Instruct-GGUF (Q4_K_M)"),
    ("llama-3.1-8b", "gguf-q8_0", 8.54, "huggingface.co/bartowski/Meta-Llama-3.1-8B-Instruct-GGUF (Q8_0)"),
    ("gpt-oss-20b", "mxfp4", 13.8, "huggingface.co/openai/gpt-oss-20b: 3 safetensors shards"),
    ("gpt-oss-120b", "mxfp4", 65.3, "huggingface.co/openai/gpt-oss-120b: 15 safetensors shards"),
]
# published 4-bit files of Qwen3-30B-A3B span a range (AWQ, GPTQ, GGUF): ours must land inside it
QWEN3_30B_4BIT = (16.6, 18.6)


@pytest.mark.parametrize("variant, fmt, published, source", PUBLISHED, ids=lambda v: str(v))
def test_sizes_match_published_checkpoints(variant, fmt, published, source):
    size = costs.weights_bytes(REGISTRY.get(variant), fmt) / 1e9
    assert size == pytest.approx(published, rel=0.03), source


def test_qwen3_30b_int4_lands_among_the_published_4_bit_files():
    size = costs.weights_bytes(REGISTRY.get("qwen3-30b-a3b"), "int4") / 1e9
    assert QWEN3_30B_4BIT[0] <= size <= QWEN3_30B_4BIT[1]


def test_every_registered_format_has_a_size_and_back():
    assert set(components.WEIGHT_FORMAT.keys()) == set(weight_formats.FORMATS)
    cfg = REGISTRY.get("qwen3-30b-a3b")
    sizes = {name: costs.weights_bytes(cfg, name) for name in weight_formats.FORMATS}
    assert sizes["fp32"] == 2 * sizes["bf16"] > sizes["fp8"] > sizes["int4"]
    assert sizes["mxfp4"] < sizes["bf16"]  # its experts are 4.25-bit


def test_published_variants_size_their_released_format_by_default():
    oss = budget.report(REGISTRY.get("gpt-oss-20b"), memory=16 * 2**30, device=budget.get_device("rtx4090"))
    assert oss["dtype"] == "mxfp4" and oss["dtype_source"] == "the released format"
    assert oss["fits"] and oss["max_context"] > 16_000  # a 16 GB card (16 GiB) holds it, with the engine reserve
    ds = budget.report(REGISTRY.get("deepseek-v3"), memory=None, device=budget.get_device("h200"), gpus=8)
    assert ds["dtype"] == "fp8_block"
    llama = budget.report(REGISTRY.get("llama-3.1-8b"), memory=None, device=budget.get_device("h100"))
    assert llama["dtype"] == "bf16" and llama["dtype_source"] == "default (bf16)"


def test_weights_that_fit_only_without_the_reserve_are_said_to():
    out = budget.report(REGISTRY.get("gpt-oss-20b"), memory=16 * 10**9, device=budget.get_device("h100"))
    assert out["limited_by"] == "reserve" and out["max_context"] == 0
    bare = budget.report(REGISTRY.get("gpt-oss-20b"), memory=16 * 10**9, device=budget.get_device("h100"), reserve=0)
    assert bare["limited_by"] in ("memory", "trained_context") and bare["max_context"] > 0


def test_engine_reserve_parts():
    from suite.analytic import serving

    cfg = REGISTRY.get("llama-3.1-8b")
    parts = serving.engine_reserve(cfg, 80 * 2**30)
    assert parts["unused_fraction"] == int(80 * 2**30 * 0.1) and parts["non_torch"] == 512 * 2**20
    # 8192 tokens x bf16 x (2 d + 3 x 14336 MLP hidden: wider than attention's q, k, v, output)
    assert parts["prefill_activations"] == 8192 * 2 * (2 * 4096 + 3 * 14336)
    assert parts["total"] == sum(v for k, v in parts.items() if k != "total")


def test_tensor_parallel_uses_every_gpus_bandwidth():
    cfg, h200 = REGISTRY.get("deepseek-v3"), budget.get_device("h200")
    one = budget.decode_roofline(cfg, h200, context=4096, dtype="fp8_block")
    eight = budget.decode_roofline(cfg, h200, context=4096, dtype="fp8_block", gpus=8)
    # per GPU: 1/8 of the weights read; MLA's latent cache is replicated
    assert eight["weights_bytes_read"] == pytest.approx(one["weights_bytes_read"] / 8)
    assert eight["kv_cache_bytes_read"] == one["kv_cache_bytes_read"]
    assert eight["tokens_per_s_bandwidth"] > 7 * one["tokens_per_s_bandwidth"]
    assert eight["allreduce_seconds_per_step"] > 0 and eight["link"] == "nvlink4"
    # GQA: 8 KV heads over 8 GPUs -> each holds one; over 16 -> still one (replicated)
    from suite.analytic.serving import kv_split

    llama = REGISTRY.get("llama-3.1-8b")
    assert kv_split(llama, 8) == 1 / 8 and kv_split(llama, 16) == 1 / 8 and kv_split(llama, 1) == 1


def test_time_to_first_token_grows_with_the_prompt_and_gpus_cut_it():
    cfg, h100 = REGISTRY.get("llama-3.1-8b"), budget.get_device("h100")
    short = budget.report(cfg, memory=None, device=h100, prompt=1024)["ttft"]
    long = budget.report(cfg, memory=None, device=h100, prompt=65536)["ttft"]
    assert long["seconds"] > 64 * short["seconds"] * 0.9 and long["bound"] == "compute"
    tp = budget.report(cfg, memory=None, device=h100, prompt=65536, gpus=4)["ttft"]
    assert tp["seconds"] < long["seconds"] / 3


def test_budget_json_states_assumptions_and_costs(capsys):
    assert main(["budget", "gpt-oss-20b", "--memory", "16GiB", "--price", "2.0", "--efficiency", "0.5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dtype"] == "mxfp4" and data["fits"]
    assert data["kv_cache_bytes_per_token_marginal"] == data["kv_cache_bytes_per_token"] // 2  # half the layers slide
    assert any("released format" in line for line in data["assumptions"])
    assert any("efficiency 0.5" in line for line in data["assumptions"])
    assert data["cost_per_million_tokens"] > 0 and data["decode"]["efficiency"] == 0.5


def test_released_format_is_read_from_quantization_config(tmp_path):
    from suite.config import ConfigError
    from suite.hf.released_format import released_format

    f = tmp_path / "config.json"
    assert released_format({"quantization_config": {"quant_method": "mxfp4"}}, f) == "mxfp4"
    assert released_format({"quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}}, f) == (
        "fp8_block"
    )
    awq = {"quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128}}
    assert released_format(awq, f) == "awq-int4-g128"
    assert released_format({}, f) is None
    with pytest.raises(ConfigError, match=r"awq with bits=4, group_size=64 is not a modelled format"):
        released_format({"quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 64}}, f)
    with pytest.raises(ConfigError, match=r"quant_method 'bitsandbytes' is not a modelled format"):
        released_format({"quantization_config": {"quant_method": "bitsandbytes"}}, f)
