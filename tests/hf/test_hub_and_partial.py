"""Hugging Face model ids from a fake local hub cache in the real layout (never the network: every test
runs with HF_HUB_OFFLINE=1), and `show` of a config.json whose model_type archbench does not map:
what it reads, which keys it could not map, no invented number; `import` still refuses it."""

import json

import pytest

from suite.cli import main
from suite.config import ConfigError
from suite.hf.hub import cache_dir, cached_config, is_hub_id
from suite.hf.resolve import resolve_any

QWEN3 = {
    "model_type": "qwen3",
    "vocab_size": 151936,
    "hidden_size": 4096,
    "intermediate_size": 12288,
    "num_hidden_layers": 36,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
}


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty hub cache named by HF_HUB_CACHE, downloads off."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def _cache(cache, repo_id: str, config: dict, revision: str = "0123abcd", ref: bool = True):
    folder = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = folder / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(config))
    if ref:
        (folder / "refs").mkdir(exist_ok=True)
        (folder / "refs" / "main").write_text(revision)
    return snapshot / "config.json"


def test_a_cached_hub_id_resolves_to_its_config(hub, capsys):
    _cache(hub, "Qwen/Qwen3-8B", {**QWEN3, "num_hidden_layers": 1}, revision="old")
    file = _cache(hub, "Qwen/Qwen3-8B", QWEN3, revision="new")  # refs/main names the newest
    cfg = resolve_any("Qwen/Qwen3-8B")
    assert (cfg.name, cfg.family, cfg.source, cfg.n_layers) == ("Qwen/Qwen3-8B", "qwen3", str(file), 36)
    assert main(["show", "Qwen/Qwen3-8B", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["params"]["total"] == 8_190_735_360  # Qwen3-8B's published count (transformers on meta)
    assert main(["budget", "Qwen/Qwen3-8B", "--memory", "80GB", "--json"]) == 0


def test_without_refs_the_newest_snapshot_with_a_config_is_used(hub):
    file = _cache(hub, "org/model", QWEN3, ref=False)
    assert cached_config("org/model", hub) == file


def test_hf_home_and_default_cache_folders(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.delenv("HF_HOME")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "huggingface" / "hub"


def test_not_cached_and_offline_says_so_and_how_to_get_it(hub):
    with pytest.raises(ConfigError) as info:
        resolve_any("Qwen/Qwen3-9B")
    message = str(info.value)
    assert "'Qwen/Qwen3-9B' is not a registered variant" in message
    assert f"not in the local cache ({hub})" in message and "HF_HUB_OFFLINE" in message
    assert "hf download Qwen/Qwen3-9B config.json" in message


def test_registry_names_come_first_and_typos_get_a_suggestion(hub):
    assert resolve_any("ladder/05-gqa").name == "ladder/05-gqa"  # the shape of a hub id, but registered
    with pytest.raises(ConfigError, match="Did you mean the registered variant 'ladder/05-gqa'"):
        resolve_any("ladder/05-gqb")


@pytest.mark.parametrize(
    "spec, hub_id",
    [("Qwen/Qwen3-8B", True), ("meta-llama/Llama-3.1-8B", True), ("gpt2-small", False), ("a/b/c", False),
     ("org--x/y", False), ("org/x.json", False), ("../etc", False)],
)  # fmt: skip
def test_what_counts_as_a_hub_id(spec, hub_id):
    assert is_hub_id(spec) == hub_id


# ------------------------------------------------------------------ unsupported model types
COHERE = {
    "model_type": "cohere",
    "architectures": ["CohereForCausalLM"],
    "hidden_size": 8192,
    "num_hidden_layers": 40,
    "num_attention_heads": 64,
    "num_key_value_heads": 64,
    "vocab_size": 256000,
    "intermediate_size": 22528,
    "max_position_embeddings": 8192,
    "layer_norm_eps": 1e-05,
    "logit_scale": 0.0625,
    "use_qk_norm": False,
    "rope_theta": 8000000.0,
    "bos_token_id": 5,
}


def _write(folder, data: dict):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(data))
    return folder / "config.json"


def test_show_of_an_unsupported_type_reads_what_it_can(tmp_path, capsys):
    file = _write(tmp_path / "c4ai", COHERE)
    assert main(["show", str(file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["partial"] is True and data["model_type"] == "cohere"
    read = {field: item["value"] for field, item in data["read"].items()}
    assert read == {
        "d_model": 8192,
        "n_layers": 40,
        "n_heads": 64,
        "n_kv_heads": 64,
        "vocab_size": 256000,
        "mlp_hidden": 22528,
        "context_length": 8192,
    }
    assert data["read"]["d_model"]["key"] == "hidden_size"
    assert data["missing"] == ["head_dim", "n_experts", "experts_top_k"]
    assert data["unmapped_keys"] == ["layer_norm_eps", "logit_scale", "rope_theta", "use_qk_norm"]
    assert data["params"] is None and data["params_note"].startswith("left out")
    assert main(["show", str(file)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "partial: model_type 'cohere' is not supported" in out
    assert "unmapped keys (4): layer_norm_eps, logit_scale, rope_theta, use_qk_norm" in out


def test_import_still_refuses_an_unsupported_type(tmp_path, capsys):
    folder = _write(tmp_path / "c4ai", COHERE).parent
    assert main(["import", str(folder)]) == 2
    assert "model_type 'cohere' is not supported" in capsys.readouterr().err


def test_a_count_only_when_every_key_it_needs_is_given(tmp_path, capsys):
    keys = {k: v for k, v in QWEN3.items() if k not in ("head_dim",)} | {"model_type": "my_llama"}
    file = _write(tmp_path / "mine", keys)
    assert main(["show", str(file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # Llama layout: 36 x (attention 4096 x (4096 + 2 x 1024 + 4096) + SwiGLU 3 x 4096 x 12288 + 2 norms),
    # final norm, untied embedding and head
    per_layer = 4096 * (2 * 4096 + 2 * 1024) + 3 * 4096 * 12288 + 2 * 4096
    assert data["params"]["total"] == 36 * per_layer + 4096 + 2 * 151936 * 4096
    assert data["unmapped_keys"] == [] and data["params_note"].startswith("counted as a Llama-layout decoder")
    del keys["tie_word_embeddings"]  # the head's size would come from a default: no count
    assert main(["show", str(_write(tmp_path / "untold", keys)), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] is None


def test_an_unsupported_type_from_the_hub_cache_is_partial_too(hub, capsys):
    _cache(hub, "CohereForAI/c4ai-command-r-v01", COHERE)
    assert main(["show", "CohereForAI/c4ai-command-r-v01", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["partial"] is True and data["name"] == "CohereForAI/c4ai-command-r-v01"


def test_a_partial_config_cannot_be_scaled(tmp_path, capsys):
    file = _write(tmp_path / "c4ai", COHERE)
    assert main(["show", str(file), "--scale", "tiny"]) == 2  # a proxy needs the whole model
    assert "model_type 'cohere' is not supported" in capsys.readouterr().err
