"""The analytic cost model: known published values, internal consistency, and parity with what torch
really does on proxies (FlopCounterMode FLOPs, KV-cache tensor bytes) for every registered variant."""

import json
import subprocess
import sys

import pytest
import torch

from suite.analytic import costs
from suite.analytic.params import count_params, routed_expert_matrix_params
from suite.config import ConfigError, ModelConfig
from suite.model import build_model
from suite.probes import analytic as analytic_probe
from suite.registry import Registry, proxy

REGISTRY = Registry()
NAMES = REGISTRY.names()
MB = dict(
    ModelConfig(
        name="tiny",
        vocab_size=256,
        d_model=64,
        n_layers=2,
        n_heads=4,
        context_length=128,
        dropout=0.0,
        position="rope",
        norm="rmsnorm",
        qkv_bias=False,
        out_bias=False,
        mlp_bias=False,
    ).to_dict()
)
# Component combinations beyond the catalogue's, to cover every branch of the formulas.
EXTRA = {
    "eager-sliding-sinks": dict(
        attention_backend="eager",
        attention="gqa",
        n_kv_heads=2,
        attention_sinks=True,
        layer_types=["sliding", "full"],
        sliding_window=8,
    ),
    "softcap-mqa": dict(attention="mqa", n_kv_heads=1, attn_softcap=30.0, final_logit_softcap=20.0),
    "mla-no-q-lora-eager": dict(
        attention="mla",
        kv_lora_rank=32,
        qk_nope_head_dim=16,
        qk_rope_head_dim=8,
        v_head_dim=16,
        attention_backend="eager",
    ),
    "mla-sliding": dict(
        attention="mla",
        kv_lora_rank=32,
        q_lora_rank=24,
        qk_nope_head_dim=16,
        qk_rope_head_dim=8,
        v_head_dim=24,
        layer_types=["sliding", "full"],
        sliding_window=8,
    ),
    "gelu-moe-shared-dense-first": dict(
        mlp="gelu",
        n_experts=6,
        experts_top_k=2,
        n_shared_experts=2,
        expert_hidden=40,
        moe_dense_first=1,
        n_layers=3,
        router="sigmoid",
    ),
    "sandwich-qk-full-dropout": dict(norm_placement="sandwich", qk_norm="full", dropout=0.1, mlp="geglu"),
}


def extra_config(name):
    return ModelConfig.from_dict({**MB, **EXTRA[name], "name": name})


def llama_from_published() -> ModelConfig:
    """Llama-3.1-8B from its config.json values, independent of the catalogue's YAML."""
    return ModelConfig(
        name="llama-3.1-8b-ref",
        vocab_size=128256,
        d_model=4096,
        n_layers=32,
        n_heads=32,
        n_kv_heads=8,
        head_dim=128,
        attention="gqa",
        mlp="swiglu",
        mlp_hidden=14336,
        norm="rmsnorm",
        position="rope",
        qkv_bias=False,
        out_bias=False,
        mlp_bias=False,
        tie_embeddings=False,
        context_length=131072,
    )


# ------------------------------------------------------------------ known values
def test_llama_31_8b_kv_cache_is_128_kib_per_token_in_bf16():
    for cfg in (REGISTRY.get("llama-3.1-8b"), llama_from_published()):
        assert costs.kv_cache_bytes_per_token(cfg, "bf16") == 131_072
        assert costs.kv_cache_bytes_per_token(cfg, "fp32") == 262_144
        assert costs.kv_cache_bytes_per_token(cfg, "fp8") == 65_536
        assert costs.kv_cache_bytes(cfg, 8192, "bf16") == 8192 * 131_072  # 1 GiB at 8k


@pytest.mark.parametrize(
    "name, per_token, long",
    [
        ("gpt2-small", 12 * 2 * 768 * 2, 12 * 2 * 768 * 2),  # MHA, 12 layers
        ("mistral-7b-v0.1", 32 * 2 * 8 * 128 * 2, 0),  # every layer slides: bounded
        ("gpt-oss-120b", 36 * 2 * 8 * 64 * 2, 18 * 2 * 8 * 64 * 2),  # half the layers slide
        ("gemma-3-1b", 26 * 2 * 1 * 256 * 2, 4 * 2 * 1 * 256 * 2),  # MQA, 5 sliding : 1 full
        ("deepseek-v3", 61 * (512 + 64) * 2, 61 * (512 + 64) * 2),  # MLA: latent + rope key
    ],
)
def test_known_kv_cache_bytes_per_token(name, per_token, long):
    cfg = REGISTRY.get(name)
    assert costs.kv_cache_bytes_per_token(cfg, "bf16") == per_token
    assert costs.kv_cache_bytes_per_token_long(cfg, "bf16") == long


def test_sliding_layers_stop_growing_at_the_window():
    oss = REGISTRY.get("gpt-oss-20b")  # window 128, alternating sliding / full
    w = oss.sliding_window
    long = costs.kv_cache_bytes_per_token_long(oss, "bf16")
    assert costs.kv_cache_bytes(oss, w + 1000) - costs.kv_cache_bytes(oss, w) == 1000 * long
    assert costs.kv_cache_bytes(oss, w) == w * costs.kv_cache_bytes_per_token(oss)
    mistral = REGISTRY.get("mistral-7b-v0.1")
    assert costs.kv_cache_bounded(mistral) and not costs.kv_cache_bounded(oss)
    assert costs.kv_cache_bytes(mistral, 100_000) == costs.kv_cache_bytes(mistral, mistral.sliding_window)


def test_weights_bytes_per_format():
    llama = REGISTRY.get("llama-3.1-8b")
    n = count_params(llama)["total"]
    assert costs.weights_bytes(llama, "fp32") == 4 * n
    assert costs.weights_bytes(llama, "bf16") == 2 * n
    assert costs.weights_bytes(llama, "mxfp4") == 2 * n  # no experts: all bf16
    # int4 = AWQ g128: 4 bits + (16-bit scale + 4-bit zero) / 128 on the linear layers, the rest bf16
    counts = count_params(llama)
    kept = counts["embedding"] + counts["by_component"]["lm_head"] + counts["by_component"]["norms"]
    assert costs.weights_bytes(llama, "int4") == round(((n - kept) * (4 + 20 / 128) + kept * 16) / 8)
    # gpt-oss ships its experts in MXFP4: the 120b checkpoint is ~65 GB, the 20b ~13.8 GB
    oss = REGISTRY.get("gpt-oss-120b")
    experts = routed_expert_matrix_params(oss)
    assert experts == 36 * 128 * 3 * 2880 * 2880
    assert costs.weights_bytes(oss, "mxfp4") == round(experts * 4.25 / 8) + 2 * (count_params(oss)["total"] - experts)
    assert 64e9 < costs.weights_bytes(oss, "mxfp4") < 66e9
    assert 13e9 < costs.weights_bytes(REGISTRY.get("gpt-oss-20b"), "mxfp4") < 14.5e9


def test_optimizer_and_training_memory():
    cfg = REGISTRY.get("gpt2-small")
    n = count_params(cfg)["total"]
    assert costs.optimizer_bytes(cfg) == 8 * n
    assert costs.optimizer_bytes(cfg, master_weights=True) == 12 * n
    mem = costs.training_memory(cfg, 1024, batch=8, dtype="bf16")
    assert mem["weights"] == mem["gradients"] == 2 * n and mem["optimizer"] == 12 * n
    assert mem["total"] == sum(v for k, v in mem.items() if k != "total")
    full = costs.activation_bytes_train(cfg, 1024, batch=8)
    ckpt = costs.activation_bytes_train(cfg, 1024, batch=8, checkpointing=True)
    assert ckpt < full / 3
    assert costs.activation_bytes_train(cfg, 1024, batch=16) == 2 * full


# ---------------------------------------------------------- internal consistency
@pytest.mark.parametrize("name", ["llama-3.1-8b", "qwen3-30b-a3b", "qwen3-0.6b", "deepseek-v3"])
def test_decode_at_position_zero_is_twice_the_active_matmul_params(name):
    """One token with nothing cached: FLOPs = 2 x every weight matrix it passes through (+ QK/AV over one key)."""
    cfg = REGISTRY.get(name)
    p = count_params(cfg)
    f = costs.decode_flops(cfg, 0)
    h = cfg.n_heads
    scores = 2 * h * (cfg.head_size + cfg.value_head_size) * cfg.n_layers
    assert f["attention_scores"] == scores
    # params that are not matrices a token multiplies by: norms, biases, input embedding rows, router bias
    head_tied = cfg.vocab_size * cfg.d_model if cfg.tie_embeddings else 0
    matrices = p["active_excl_embedding"] + head_tied - p["by_component"]["norms"]
    if cfg.qk_norm == "head":
        matrices -= 2 * cfg.head_size * cfg.n_layers
    if cfg.attention == "mla":
        matrices -= cfg.n_layers * ((cfg.q_lora_rank or 0) + cfg.kv_lora_rank)  # latent norms
    assert not (cfg.mlp_bias or cfg.qkv_bias or cfg.out_bias or cfg.router_bias)  # biases are not FLOPs
    assert costs.total(f) - f["attention_scores"] == 2 * matrices


def test_useful_counts_causal_pairs_and_windows():
    cfg = REGISTRY.get("llama-3.1-8b")
    L = 4096
    useful, executed = costs.prefill_flops(cfg, L), costs.prefill_flops(cfg, L, "executed")
    assert useful["attention_scores"] * 2 * L == executed["attention_scores"] * (L + 1)
    assert {k: v for k, v in useful.items() if k != "attention_scores"} == {
        k: v for k, v in executed.items() if k != "attention_scores"
    }
    mistral = REGISTRY.get("mistral-7b-v0.1")  # all sliding, window 4096
    a, b = costs.decode_flops(mistral, 10_000), costs.decode_flops(mistral, 50_000)
    assert a == b  # decode cost stops growing
    full = costs.decode_flops(cfg, 50_000)["attention_scores"]
    assert full > costs.decode_flops(cfg, 10_000)["attention_scores"]


def test_mla_useful_picks_absorbed_form_for_long_decode():
    cfg = REGISTRY.get("deepseek-v3")
    useful, executed = costs.decode_flops(cfg, 32_768), costs.decode_flops(cfg, 32_768, "executed")
    assert costs.total(useful) < costs.total(executed) / 10  # decompressing 32k latents per step
    r, dr = cfg.kv_lora_rank, cfg.qk_rope_head_dim
    assert useful["attention_scores"] == 2 * cfg.n_heads * 32_769 * (2 * r + dr) * cfg.n_layers
    assert costs.prefill_flops(cfg, 4096) == costs.prefill_flops(cfg, 4096, "executed") | {
        "attention_scores": costs.prefill_flops(cfg, 4096)["attention_scores"]
    }


def test_train_is_three_forwards_and_checkpointing_adds_one_for_the_blocks():
    cfg = REGISTRY.get("qwen3-8b")
    fwd, train = costs.prefill_flops(cfg, 2048), costs.train_flops(cfg, 2048)
    assert train == {k: 3 * v for k, v in fwd.items()}
    ckpt = costs.train_flops(cfg, 2048, checkpointing=True)
    assert ckpt == {k: (3 if k == "lm_head" else 4) * v for k, v in fwd.items()}


def test_errors_name_the_bad_value():
    cfg = REGISTRY.get("gpt2-small")
    with pytest.raises(ConfigError, match="unknown dtype 'fp4'; choose one of: fp32, bf16"):
        costs.weights_bytes(cfg, "fp4")
    with pytest.raises(ConfigError, match="unknown dtype 'mxfp4'"):
        costs.kv_cache_bytes_per_token(cfg, "mxfp4")  # a weight format, not a cache type
    with pytest.raises(ConfigError, match="unknown counting 'exact'"):
        costs.prefill_flops(cfg, 16, "exact")
    with pytest.raises(ConfigError, match="must be >= 0"):
        costs.forward_flops(cfg, new=-1)


# ------------------------------------------------------------------ performance
def test_every_full_size_figure_is_fast_and_allocates_nothing():
    """Pure arithmetic: every catalogue variant at full size in well under a second, torch not imported."""
    code = """
import sys, time, json
from suite.registry import Registry
from suite.analytic import costs
from suite.analytic import budget
from suite.probes.analytic import analytic
reg = Registry()
worst = 0.0
for name in reg.names():
    cfg = reg.get(name)
    start = time.perf_counter()
    costs.summary(cfg)
    rows = analytic(cfg, {"context": [4096, 131072]})
    costs.training_memory(cfg, 4096, checkpointing=True)
    budget.report(cfg, memory=80 * 10**9, device=budget.get_device("h100"), dtype="bf16")
    worst = max(worst, time.perf_counter() - start)
print(json.dumps({"worst": worst, "torch": "torch" in sys.modules, "n": len(reg.names())}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["n"] == len(NAMES)
    assert not result["torch"], "the analytic path imported torch"
    assert result["worst"] < 1.0, result


# -------------------------------------------------------- parity with torch
def _proxy(name):
    return extra_config(name) if name in EXTRA else proxy(REGISTRY.get(name), "tiny")


@pytest.mark.parametrize("name", NAMES + list(EXTRA))
def test_forward_flops_match_flop_counter(name):
    """Prefill, a chunk after a cache, and a decode step past the window: counter == analytic "executed"."""
    cfg = _proxy(name)
    for kwargs in (dict(context=24), dict(context=5, past=19), dict(context=1, past=70)):  # 70 > proxy windows
        result = analytic_probe.check_forward(cfg, **kwargs)
        assert not result["problems"], result["problems"]
        # the acceptance bar is 2%; the formulas are exact, so hold them to exact
        assert result["counter"] == result["analytic"], kwargs
        for component, c in result["components"].items():
            assert c["counter"] == c["analytic"], (component, kwargs)


def _one_per_family():
    seen, out = set(), []
    for name in NAMES:
        family = REGISTRY.get(name).family
        if family not in seen:
            seen.add(family)
            out.append(name)
    return out + list(EXTRA)


@pytest.mark.parametrize("name", _one_per_family())
def test_train_flops_match_flop_counter(name):
    cfg = _proxy(name)
    for ckpt in (False, True):
        result = analytic_probe.check_train(cfg, context=16, checkpointing=ckpt)
        assert not result["problems"], result["problems"]
        assert result["counter"] == result["analytic"], ckpt


@pytest.mark.parametrize("name", NAMES + list(EXTRA))
def test_kv_cache_bytes_equal_the_cache_tensors(name):
    cfg = _proxy(name)
    model = build_model(cfg).eval()
    cache = model.new_cache()
    fed, window = 0, cfg.sliding_window or 0
    with torch.no_grad():
        for chunk in (3, 20, 1, max(1, window), 1):  # crosses the window
            model(torch.randint(0, cfg.vocab_size, (2, chunk)), cache=cache)
            fed += chunk
            assert cache.nbytes() == costs.kv_cache_bytes(cfg, fed, "fp32", batch=2), fed


def test_kv_cache_bytes_in_bf16_model():
    cfg = proxy(REGISTRY.get("gpt-oss-20b"), "tiny")
    model = build_model(cfg, dtype=torch.bfloat16).eval()
    cache = model.new_cache()
    with torch.no_grad():
        model(torch.randint(0, cfg.vocab_size, (1, 100)), cache=cache)
    assert cache.nbytes() == costs.kv_cache_bytes(cfg, 100, "bf16")


# ------------------------------------------------------------ loud, not silent
def test_counter_names_matrix_ops_it_cannot_count():
    model = torch.nn.Linear(4, 4)
    counted = analytic_probe.count_flops(model, lambda: torch.mv(torch.ones(8, 8), torch.ones(8)))
    assert counted["uncounted_ops"] == {"aten.mv": 1}
    problems = analytic_probe._compare(counted, {"mlp": 128})["problems"]
    assert any("no formula for (counted as 0): aten.mv x1" in p for p in problems)


def test_flop_check_probe_warns_on_unattributed_flops(monkeypatch):
    cfg = proxy(REGISTRY.get("llama-3.2-1b"), "tiny")
    rows = analytic_probe.flop_check(cfg, {"check_context": 8, "check_past": 4})
    assert [r.settings["phase"] for r in rows] == ["prefill", "decode", "train"]
    assert all(r.value == pytest.approx(1.0) and "warning" not in r.extra for r in rows)
    # a module that declares no analytic component: its products are counted but unattributed
    from suite.model.mlp import DenseMLP

    monkeypatch.setattr(DenseMLP, "flop_component", None)
    with pytest.warns(UserWarning, match="belong to no analytic component"):
        rows = analytic_probe.flop_check(cfg, {"check_context": 8, "check_past": 4})
    assert "belong to no analytic component" in rows[0].extra["warning"]
    assert rows[0].extra["unattributed"] == rows[0].extra["components"]["mlp"]["analytic"]


def test_flop_check_uses_the_tiny_proxy_for_big_configs():
    big = REGISTRY.get("qwen3-30b-a3b")
    rows = analytic_probe.flop_check(big, {"check_context": 8, "check_past": 4}, proxy=proxy(big, "tiny"))
    assert rows[0].extra["checked_config"] == "qwen3-30b-a3b@tiny"


# ---------------------------------------------------------------- the probe
def test_analytic_probe_rows():
    from suite.metrics import METRICS

    cfg = REGISTRY.get("gpt-oss-120b")
    rows = analytic_probe.analytic(cfg, {"context": [4096, 10**7], "memory_budget": "80GB"})
    metrics = {r.metric for r in rows}
    assert metrics <= set(METRICS)
    assert metrics >= {
        "params_total",
        "flops_prefill_per_token",
        "flops_decode_per_token",
        "flops_train_per_token",
        "kv_cache_bytes_per_token",
        "kv_cache_bytes",
        "weights_bytes",
        "activation_bytes_train",
        "optimizer_bytes",
        "max_context_at_budget",
        "decode_tokens_per_s_bound",
    }
    assert {r.settings["context"] for r in rows if r.metric == "kv_cache_bytes"} == {4096}  # past its context: skipped
    fit = {r.settings["dtype"]: r for r in rows if r.metric == "max_context_at_budget"}
    assert fit["bf16"].value == 0 and fit["bf16"].extra["limited_by"] == "weights"
    assert fit["mxfp4"].value == 131072  # gpt-oss-120b fits one 80 GB GPU at full context


def test_show_json_has_the_cost_keys():
    from suite.report.inspect import show_data

    data = json.loads(json.dumps(show_data("llama-3.1-8b")))
    assert data["kv_cache_bytes_per_token"]["bf16"] == 131_072
    assert data["weights_bytes"]["bf16"] == 2 * data["params"]["total"]
    assert data["flops"]["decode_per_token"] > 2 * data["params"]["active_excl_embedding"]
