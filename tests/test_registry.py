"""Registry: inheritance, field origins, user folders, paths, and the proxy rule."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from suite.cli import main
from suite.registry import Registry, load_variant, proxy

ROOT = Path(__file__).resolve().parents[1]


def test_base_inheritance_and_origin():
    resolved = Registry().resolve("gpt2-medium")
    assert resolved.chain == ("gpt2-medium", "gpt2-small")
    assert resolved.config.d_model == 1024 and resolved.config.vocab_size == 50257
    assert resolved.origin["d_model"].startswith("gpt2-medium (architectures/gpt2.yaml")
    assert resolved.origin["vocab_size"].startswith("gpt2-small")


def test_every_published_variant_has_a_source():
    registry = Registry()
    for name in registry.names():
        cfg = registry.get(name)
        assert cfg.source or name.startswith("ladder/"), f"{name} has no source:"


def test_user_registry_folder_can_base_on_builtin(write_yaml, capsys):
    folder = write_yaml("my-gpt2:\n  base: gpt2-small\n  n_layers: 6\n")
    assert main(["show", "my-gpt2", "--registry", str(folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["config"]["n_layers"] == 6 and data["chain"] == ["my-gpt2", "gpt2-small"]


def test_variant_file_path_is_accepted(write_yaml):
    folder = write_yaml("one-off:\n  base: gpt2-small\n  n_layers: 3\n")
    cfg = load_variant(str(folder / "variants.yaml"))
    assert cfg.name == "one-off" and cfg.n_layers == 3


def test_show_json_gpt2_small(capsys):
    assert main(["show", "gpt2-small", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"]["total"] == 124_439_808
    assert data["params"]["embedding"] == 50257 * 768 + 1024 * 768
    assert data["params"]["active"] == 124_439_808


def test_list_json(capsys):
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_name = {r["name"]: r for r in rows}
    assert by_name["gpt2-small"]["params_total"] == 124_439_808


def test_unknown_variant_suggests(capsys):
    assert main(["show", "gpt2-smal"]) == 2
    assert "Did you mean: gpt2-small" in capsys.readouterr().err


@pytest.mark.parametrize("name", Registry().names())
def test_proxy_keeps_component_choices_and_ratios(name):
    cfg = Registry().get(name)
    small = proxy(cfg, "tiny")
    for key in (
        "norm",
        "norm_placement",
        "position",
        "rope_scaling",
        "attention",
        "mlp",
        "qk_norm",
        "router",
        "attention_sinks",
        "tie_embeddings",
        "swiglu_limit",
        "rope_interleaved",
        "scale_embeddings",
    ):
        assert getattr(small, key) == getattr(cfg, key), key
    if cfg.attention != "mla":
        assert small.n_heads // small.kv_heads == cfg.n_heads // cfg.kv_heads or small.kv_heads == cfg.kv_heads == 1
    assert set(small.layer_kinds) == set(cfg.layer_kinds)
    if cfg.layer_types:
        n_sliding = cfg.layer_kinds.count("sliding") / cfg.n_layers
        assert abs(small.layer_kinds.count("sliding") / small.n_layers - n_sliding) < 0.35
    if cfg.is_moe:
        # the experts / top-k ratio, to the nearest whole expert (72 / 10 -> 14 / 2)
        assert small.n_experts == min(64, round(cfg.n_experts * small.experts_top_k / cfg.experts_top_k))
        assert small.moe_dense_first == min(cfg.moe_dense_first, 1)
        assert small.n_shared_experts == cfg.n_shared_experts
    assert small.d_model == 64 and small.vocab_size == 256


def test_unknown_scale_is_a_clear_error():
    from suite.config import ConfigError

    with pytest.raises(ConfigError, match="unknown scale 'huge'"):
        proxy(Registry().get("gpt2-small"), "huge")


@pytest.mark.slow
def test_wheel_ships_the_data_folders(tmp_path):
    """A non-editable install must find architectures/, tasks/ and reports/ inside the package."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("archbench-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "suite/_data/architectures/gpt2.yaml" in names
    assert any(n.startswith("suite/_data/tasks/") for n in names)
    assert any(n.startswith("suite/_data/reports/") for n in names)
    assert "suite/registry.py" in names
