"""The stability probe: divergence is recorded, logit statistics match a direct computation, the
summaries follow Wortsman et al.'s definitions, and z-loss adds exactly its term."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from suite.config import ModelConfig
from suite.model import build_model
from suite.model.position import apply_rotary
from suite.probes.stability import resolve_settings, stability
from suite.quality.stability import (
    StabilitySettings,
    attention_logit_recorder,
    count_spikes,
    lr_sensitivity,
    stable_lr_range,
    train_at_lr,
)
from suite.quality.taskdata import load_corpus
from suite.quality.training import MixtureSampler, TrainSettings, _loss, train

TINY = ModelConfig(
    name="tiny",
    vocab_size=256,
    d_model=32,
    n_layers=2,
    n_heads=4,
    n_kv_heads=2,
    context_length=64,
    qk_norm="head",
    attention="gqa",
    position="rope",
)
FEW = StabilitySettings(steps=12, batch_size=2, seq_len=32, tail=4, spike_window=4)


def test_absurd_learning_rate_is_recorded_as_diverged_not_raised():
    run = train_at_lr(TINY.replace(qk_norm="none"), FEW, lr=1e4, seed=0)
    assert run["diverged"] is True
    assert "non-finite" in run["divergence"] or "x the initial" in run["divergence"]
    calm = train_at_lr(TINY, FEW, lr=1e-3, seed=0)
    assert calm["diverged"] is False and calm["divergence"] == ""
    assert calm["final_loss"] < calm["initial_loss"]


def test_probe_rows_record_a_diverged_rate_with_status_ok():
    rows = stability(TINY.replace(qk_norm="none"), {"lrs": [1e4, 1e-3], "seeds": [0], "steps": 12, "batch_size": 2,
                                                   "seq_len": 32})  # fmt: skip
    by = {(r.metric, r.settings.get("lr")): r for r in rows}
    assert {m for m, _ in by} == {"lr_sensitivity", "stable_lr_range", "final_loss", "max_attention_logit",
                                  "max_output_logit"}  # fmt: skip
    assert all(r.status == "ok" for r in rows)
    assert by[("final_loss", 1e4)].extra["diverged"] is True
    assert by[("final_loss", 1e-3)].extra["diverged"] is False
    assert by[("stable_lr_range", None)].value == 0.0  # one stable rate spans no range
    assert by[("lr_sensitivity", None)].value > 0


def test_unknown_setting_is_named():
    with pytest.raises(ValueError, match="unknown stability setting.*stepz"):
        resolve_settings({"stepz": 3})


def _direct_max_logit(model, tokens) -> float:
    """Recompute every layer's q.k * scale from its own weights on the input it is handed."""
    seen = []

    def grab(module, args):
        x, rope = args[0], args[1]
        cfg, (b, t, _) = module.cfg, x.shape
        q = module.q_proj(x).view(b, t, cfg.n_heads, cfg.head_size).transpose(1, 2)
        k = module.k_proj(x).view(b, t, cfg.kv_heads, cfg.head_size).transpose(1, 2)
        q, k = module.q_norm(q), module.k_norm(k)
        q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        k = k.repeat_interleave(cfg.n_heads // cfg.kv_heads, dim=1)
        scores = torch.einsum("bhtd,bhsd->bhts", q, k) * cfg.head_size**-0.5
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        seen.append(float(scores.abs()[..., causal].max()))

    handles = [block.attn.register_forward_pre_hook(grab) for block in model.blocks]
    with torch.no_grad():
        model(tokens)
    for h in handles:
        h.remove()
    return max(seen)


def test_recorded_attention_logit_equals_a_direct_computation():
    model = build_model(TINY, seed=0)
    with torch.no_grad():  # larger q/k weights: logits well above noise
        for block in model.blocks:
            block.attn.q_proj.weight.mul_(4)
            block.attn.q_norm.weight.mul_(3)
    tokens = torch.randint(0, 256, (2, 24), generator=torch.Generator().manual_seed(1))
    with attention_logit_recorder() as seen, torch.no_grad():
        model(tokens)
    assert len(seen) == TINY.n_layers
    direct = _direct_max_logit(model, tokens)
    assert direct > 5
    assert max(seen) == pytest.approx(direct, rel=1e-5)


def test_a_model_without_attention_has_no_attention_logit():
    from suite.registry import resolve_config

    cfg = resolve_config("mixers/short-conv-all", scale="tiny")
    run = train_at_lr(cfg, dataclasses.replace(FEW, steps=2), lr=1e-3, seed=0)
    assert math.isnan(run["max_attention_logit"]) and run["max_output_logit"] > 0


def test_recorder_restores_the_kernel():
    from suite.model import attention

    original = attention.attend
    with attention_logit_recorder():
        assert attention.attend is not original
    assert attention.attend is original


def test_sensitivity_is_zero_for_identical_losses_and_caps_diverged_runs():
    assert lr_sensitivity([3.0] * 7, initial_loss=5.5) == 0.0
    # a non-finite run and one above the initial loss both count as the initial loss
    assert lr_sensitivity([2.0, 3.0, math.nan, 9.0], initial_loss=5.0) == pytest.approx((2 + 3 + 5 + 5) / 4 - 2)


def test_stable_range_is_the_widest_run_of_consecutive_stable_rates():
    lrs = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert stable_lr_range(lrs, [False, False, False, True, False]) == pytest.approx(2.0)
    assert stable_lr_range(lrs[::-1], [False, True, False, False, False]) == pytest.approx(2.0)  # order-free
    assert stable_lr_range(lrs, [True] * 5) == 0.0


def test_spikes_compare_with_the_median_of_the_previous_window():
    values = [1.0] * 5 + [1.6, 1.0, 1.4]
    assert count_spikes(values, window=5, factor=1.5) == 1  # 1.6 > 1.5 x 1.0; 1.4 is not


def test_z_loss_adds_exactly_its_term():
    model = build_model(TINY, seed=0)
    tokens = torch.randint(0, 256, (2, 17), generator=torch.Generator().manual_seed(2))
    batch = (tokens, torch.ones(2, 16, dtype=torch.uint8))
    with torch.no_grad():
        lse = model(tokens[:, :-1]).logsumexp(-1)
        diff = _loss(model, batch, 0.0, z_loss=1e-2) - _loss(model, batch, 0.0)
    assert float(diff) == pytest.approx(1e-2 * float((lse**2).mean()), rel=1e-5)
    assert float(diff) > 0


def test_training_uses_the_variants_z_loss():
    s = TrainSettings(tokens=2 * 32, seq_len=32, batch_size=2, synthetic_fraction=0.0)  # one step
    plain, with_z = (train(TINY.replace(z_loss=z), s).meta["train_loss"] for z in (0.0, 1e-2))
    model = build_model(TINY, seed=0)
    tokens, _ = MixtureSampler(load_corpus(None).train, 32, 0.0, seed=0).batch(2)
    with torch.no_grad():
        lse = model(tokens[:, :-1]).logsumexp(-1)
    assert with_z - plain == pytest.approx(1e-2 * float((lse**2).mean()), rel=1e-4)


def test_settings_record_is_json_ready():
    assert dataclasses.asdict(FEW)["steps"] == 12 and FEW.to_dict()["betas"] == [0.9, 0.95]


def test_short_preset_spans_two_decades_with_one_seed():
    s = resolve_settings({"preset": "short"})
    assert len(s["lrs"]) == 3 and max(s["lrs"]) / min(s["lrs"]) == pytest.approx(100)
    assert s["seeds"] == [0] and s["steps"] < resolve_settings({})["steps"]


def test_quick_suite_runs_the_short_form_at_the_stability_suites_size():
    """An entry's `match_params` sizes its own proxies only: the quick suite's stability cells are the
    stability suite's proxies, its other proxies stay at the plain tiny rule."""
    from suite.run.plan import make_plan
    from suite.run.suite_file import load_suite

    quick, own = make_plan(load_suite("quick")).cells, make_plan(load_suite("stability")).cells
    short = {c.variant: c for c in quick if c.probe == "stability"}
    assert set(short) == {"stability/base", "stability/qk-norm"}
    sized = {c.variant: c.config for c in own if c.probe == "stability"}
    for variant, cell in short.items():
        assert cell.config == sized[variant] and cell.settings == {"preset": "short", "match_params": 100_000}
    gpt2 = next(c for c in quick if c.variant == "gpt2-small" and c.probe == "flop_check")
    assert gpt2.config["d_model"] == 64 and "match_params" not in gpt2.settings


def test_an_entrys_match_params_is_checked(tmp_path):
    from suite.config import ConfigError
    from suite.run.suite_file import load_suite

    path = tmp_path / "s.yaml"
    path.write_text("variants: [gpt2-small]\nprobes:\n  - {probe: analytic, match_params: -5}\n")
    with pytest.raises(ConfigError, match="field 'probes.match_params'.*parameter count is a whole number"):
        load_suite(path)
