"""Serving budget: max context / batch in a memory budget, the decode roofline, devices, and the
`archbench budget` / `archbench calibrate` commands."""

import json

import pytest

from suite.analytic import budget, costs
from suite.cli import main
from suite.config import ConfigError
from suite.registry import Registry
from suite.units import parse_size

REGISTRY = Registry()
GB = 10**9


@pytest.mark.parametrize(
    "text, expected",
    [
        ("80GB", 80 * 10**9),
        ("80G", 80 * 10**9),
        ("8GiB", 8 * 2**30),
        ("24e9", 24 * 10**9),
        (24e9, 24 * 10**9),
        ("1.5TB", 1_500 * 10**9),
        (" 16 gib ", 16 * 2**30),
        ("512MiB", 512 * 2**20),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["eighty", "80XB", "", None])
def test_parse_size_rejects_with_an_example(text):
    with pytest.raises(ConfigError, match=r"cannot read a memory size from .*; write e.g. 80GB, 8GiB or 24e9"):
        parse_size(text)


@pytest.mark.parametrize("text", [0, -5, "-5GB", "0GB", "nan", "inf", "1e400GB", float("inf"), float("nan"), 2**61])
def test_parse_size_rejects_sizes_that_cannot_be(text):
    with pytest.raises(ConfigError, match=r"must be at least 1 byte and at most 1 EiB"):
        parse_size(text)


# -------------------------------------------------------------- capacity
def test_max_context_is_what_the_free_memory_holds():
    cfg = REGISTRY.get("llama-3.1-8b")
    free = 80 * GB - costs.weights_bytes(cfg, "bf16")
    fit = budget.max_context(cfg, 80 * GB, dtype="bf16")
    assert fit["memory_max_context"] == free // 131_072  # 128 KiB per token
    assert fit["max_context"] == 131_072 and fit["limited_by"] == "trained_context"
    fit8 = budget.max_context(cfg, 80 * GB, dtype="bf16", batch=8)
    assert fit8["memory_max_context"] == free // (8 * 131_072)
    assert fit8["max_context"] == fit8["memory_max_context"] and fit8["limited_by"] == "memory"
    reserve = budget.max_context(cfg, 80 * GB, batch=8, reserve=10 * GB)
    assert reserve["memory_max_context"] == (free - 10 * GB) // (8 * 131_072)


def test_max_context_with_sliding_layers_is_exact_at_the_boundary():
    cfg = REGISTRY.get("gpt-oss-20b")
    memory = 20 * GB
    fit = budget.max_context(cfg, memory, dtype="mxfp4", batch=4)
    L, free = fit["memory_max_context"], fit["free_for_cache"]
    assert fit["kv_dtype"] == "bf16"
    assert costs.kv_cache_bytes(cfg, L, "bf16", 4) <= free < costs.kv_cache_bytes(cfg, L + 1, "bf16", 4)


def test_gpt_oss_120b_fits_one_80gb_gpu_only_in_mxfp4():
    cfg = REGISTRY.get("gpt-oss-120b")
    bf16 = budget.max_context(cfg, 80 * GB, dtype="bf16")
    assert bf16["max_context"] == 0 and bf16["limited_by"] == "weights"
    mxfp4 = budget.max_context(cfg, 80 * GB, dtype="mxfp4")
    assert mxfp4["max_context"] == cfg.context_length == 131_072


def test_bounded_sliding_cache_has_no_memory_limit():
    cfg = REGISTRY.get("mistral-7b-v0.1")  # every layer slides (window 4096)
    fit = budget.max_context(cfg, 24 * GB, dtype="bf16")
    assert fit["memory_max_context"] is None and fit["max_context"] == cfg.context_length
    tight = budget.max_context(cfg, costs.weights_bytes(cfg) + 1000 * 131_072, dtype="bf16")
    assert tight["memory_max_context"] == 1000  # the window does not fit: limited by memory


def test_max_batch():
    cfg = REGISTRY.get("llama-3.1-8b")
    free = 80 * GB - costs.weights_bytes(cfg)
    assert budget.max_batch(cfg, 80 * GB, 8192) == free // (8192 * 131_072)
    assert budget.max_batch(cfg, 10 * GB, 8192) == 0
    with pytest.raises(ConfigError, match="batch must be >= 1, got 0"):
        budget.max_context(cfg, 80 * GB, batch=0)


# -------------------------------------------------------------- roofline
def test_decode_roofline_dense_batch_one_is_bandwidth_bound():
    cfg = REGISTRY.get("llama-3.1-8b")
    h100 = budget.get_device("h100")
    r = budget.decode_roofline(cfg, h100, context=8192)
    # reads every weight but the unused input-embedding rows, plus the whole cache
    weights = costs.weights_bytes(cfg) - 2 * (cfg.vocab_size - 1) * cfg.d_model
    assert r["weights_bytes_read"] == weights
    assert r["kv_cache_bytes_read"] == 8192 * 131_072
    assert r["bound"] == "bandwidth"
    assert r["tokens_per_s"] == pytest.approx(h100.bandwidth / (weights + 8192 * 131_072))
    assert 150 < r["tokens_per_s"] < 250  # ~17 GB per token at 3.35 TB/s


def test_decode_roofline_goes_compute_bound_with_batch():
    cfg = REGISTRY.get("llama-3.1-8b")
    slow = budget.get_device(None, peak=1e12, bandwidth=1e12)
    r = budget.decode_roofline(cfg, slow, context=1024, batch=64)
    assert r["bound"] == "compute"
    assert r["tokens_per_s"] == pytest.approx(1e12 / costs.total(costs.decode_flops(cfg, 1024)))


def test_moe_reads_more_experts_as_the_batch_grows():
    cfg = REGISTRY.get("qwen3-30b-a3b")
    one = costs.weights_bytes_read_per_step(cfg, "bf16", 1)
    many = costs.weights_bytes_read_per_step(cfg, "bf16", 256)
    assert one < costs.weights_bytes(cfg) / 4 < many <= costs.weights_bytes(cfg)


# ---------------------------------------------------------------- devices
def test_device_presets_and_custom_numbers():
    assert set(budget.DEVICES) >= {"h100", "a100", "h200", "rtx4090", "rtx5090", "m4-max", "m2-ultra", "laptop-cpu"}
    assert budget.get_device("H100").bandwidth == 3.35e12
    custom = budget.get_device(None, peak=2e12, bandwidth=5e10)
    assert (custom.name, custom.peak_flops, custom.bandwidth) == ("custom", 2e12, 5e10)
    faster = budget.get_device("a100", bandwidth=3e12)
    assert faster.bandwidth == 3e12 and faster.peak_flops == budget.DEVICES["a100"].peak_flops


# name: (GB as sold, read in binary bytes; bandwidth; peak; link): the data-sheet figures cited in DEVICES
NEW_PRESETS = {
    "rtx5090": (32, 1.792e12, 209.5e12, "pcie5"),
    "m4-max": (128, 546e9, 18.4e12, None),
    "m2-ultra": (192, 800e9, 27.2e12, None),
}


@pytest.mark.parametrize("name", NEW_PRESETS)
def test_device_presets_new_ones_hold_their_data_sheet_figures(name, capsys):
    gib, bandwidth, peak, link = NEW_PRESETS[name]
    dev = budget.get_device(name)
    assert dev.memory == gib * 2**30  # a "32 GB" card holds 32 GiB
    assert (dev.bandwidth, dev.peak_flops, dev.link) == (bandwidth, peak, link)
    assert main(["budget", "llama-3.1-8b", "--device", name, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["device"]["name"] == name and data["memory_budget"] == gib * 2**30
    assert data["decode_tokens_per_s"] > 0 and data["max_context"] > 0 and data["decode"]["bound"] == "bandwidth"


def test_device_without_a_link_refuses_tensor_parallelism(capsys):
    """Apple silicon has no GPU-to-GPU link: --gpus 2 is refused, not modelled over an invented one."""
    cfg = REGISTRY.get("llama-3.1-8b")
    mac = budget.get_device("m4-max")
    assert budget.report(cfg, memory=None, device=mac)["gpus"] == 1
    with pytest.raises(ConfigError, match="device m4-max cannot be ganged: it has no GPU-to-GPU link"):
        budget.report(cfg, memory=None, device=mac, gpus=2)
    # overriding the chip's numbers keeps its link (a tuned H100 is still on NVLink)
    assert budget.get_device("m4-max", bandwidth=5e11).link is None
    assert budget.get_device("h100", peak=1e15).link == "nvlink4"
    assert main(["budget", "llama-3.1-8b", "--device", "m2-ultra", "--gpus", "2"]) == 2
    assert "--gpus 2 cannot be modelled on it; use --gpus 1" in capsys.readouterr().err


def test_unknown_device_lists_the_choices():
    with pytest.raises(ConfigError, match="unknown device 'tpu'; choose one of: h100, a100, a100-40, h200, b200"):
        budget.get_device("tpu")
    with pytest.raises(ConfigError, match="give both --device-peak and --device-bandwidth"):
        budget.get_device(None, peak=1e12)


def test_calibrate_file_round_trips_into_a_device(tmp_path):
    data = budget.calibrate(matmul_size=64, copy_bytes=2**20, repeats=1)
    assert data["peak_flops"] > 0 and data["bandwidth"] > 0
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(data))
    dev = budget.get_device(str(path))
    assert (dev.peak_flops, dev.bandwidth) == (data["peak_flops"], data["bandwidth"])
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ConfigError, match="is not a device file written by `archbench calibrate --output`"):
        budget.get_device(str(bad))


# -------------------------------------------------------------------- CLI
def test_cli_budget_json(capsys):
    assert main(["budget", "llama-3.1-8b", "--memory", "80GB", "--dtype", "bf16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kv_cache_bytes_per_token"] == 131_072
    assert data["max_context"] == 131_072 and data["fits"]
    assert data["decode_tokens_per_s"] == data["decode"]["tokens_per_s"] > 0
    assert data["decode"]["device"] == "h100" and data["context"] == 131_072


def test_cli_budget_custom_device_batch_and_context(capsys):
    assert (
        main(
            [
                "budget",
                "qwen3-8b",
                "--memory",
                "24e9",
                "--batch",
                "4",
                "--context",
                "2048",
                "--device-peak",
                "1e13",
                "--device-bandwidth",
                "1e11",
                "--json",
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["device"]["name"] == "custom" and data["decode"]["batch"] == 4
    assert data["memory_budget"] == 24 * GB and data["context"] == 2048


def test_cli_budget_text_warns_when_weights_do_not_fit(capsys):
    assert main(["budget", "gpt-oss-120b", "--memory", "80GB", "--dtype", "bf16"]) == 0
    out = capsys.readouterr().out
    assert "weights alone do not fit" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--memory", "lots"], "cannot read a memory size from 'lots'"),
        (["--dtype", "fp4"], "argument --dtype: invalid choice: 'fp4'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_cli_budget_errors(capsys, argv, message):
    try:
        code = main(["budget", "llama-3.1-8b", *argv])
    except SystemExit as exc:  # a flag argparse checks itself: "argument --memory: ..."
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_calibrate_writes_a_device_file(tmp_path, capsys):
    out = tmp_path / "dev.json"
    assert main(["calibrate", "--size", "64", "--copy-mib", "1", "--repeats", "1", "--output", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text())["peak_flops"] == printed["peak_flops"] > 0
    assert main(["budget", "gpt2-small", "--device", str(out), "--memory", "8GB", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["decode"]["device"] == "local"
    # without --memory the budget is the machine's memory the file recorded
    written = json.loads(out.read_text())["memory"]
    assert main(["budget", "gpt2-small", "--device", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["memory_budget"] == written > 0 and data["device"]["peak_flops"] == printed["peak_flops"]
    with pytest.raises(SystemExit) as info:
        main(["calibrate", "--size", "0"])
    assert info.value.code == 2 and "argument --size: must be a positive integer" in capsys.readouterr().err


def test_gpt_oss_20b_fits_a_16gb_card_by_default_in_its_released_format(capsys):
    """Issue 17's acceptance: 16GB is the card's 16 GiB (said), the weights are MXFP4 (said), KV fits."""
    assert main(["budget", "gpt-oss-20b", "--memory", "16GB", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["memory_budget"] == 16 * 2**30 and data["fits"] and data["dtype"] == "mxfp4"
    assert data["max_context"] == 20_344 and data["dtype_source"] == "the released format"
    assert data["assumptions"][0].startswith("memory 16GB read as 16 GiB = 17,179,869,184 bytes")
    # a plain number of bytes stays decimal: the reserve leaves no cache, and nothing is said about units
    assert main(["budget", "gpt-oss-20b", "--memory", "16e9", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["memory_budget"] == 16_000_000_000 and data["limited_by"] == "reserve"
    assert not any("read as" in a for a in data["assumptions"])
