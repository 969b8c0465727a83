"""Weight decay on norms and embeddings (`decay_norms`, `decay_embeddings`): one rule for every training
loop (`suite.quality.training.param_groups`), defaults equal to the >= 2-dims rule the loops had, and the
knobs really change what AdamW decays."""

from __future__ import annotations

import pytest
import torch

from suite.analytic import costs
from suite.analytic.params import count_params
from suite.config import ModelConfig
from suite.model import build_model
from suite.quality import recall as recall_module
from suite.quality import stability as stability_module
from suite.quality.recall import RecallSettings, train_recall
from suite.quality.stability import StabilitySettings, train_at_lr
from suite.quality.training import TrainSettings, param_groups, train
from suite.registry import resolve_config

TINY = ModelConfig(
    name="tiny",
    vocab_size=256,
    d_model=32,
    n_layers=2,
    n_heads=4,
    context_length=64,
    qk_norm="head",
)  # learned positions, LayerNorm with biases, per-head QK-norm: every kind of norm and embedding table


def _ids(params) -> set[int]:
    return {id(p) for p in params}


def _groups(model, cfg) -> tuple[set[int], set[int]]:
    decayed, other = param_groups(model, 0.1, cfg)
    assert decayed["weight_decay"] == 0.1 and other["weight_decay"] == 0.0
    return _ids(decayed["params"]), _ids(other["params"])


def _norm_params(model) -> set[int]:
    return _ids(p for name, p in model.named_parameters() if "norm" in name.rsplit(".", 2)[-2])


def test_norms_are_decayed_iff_decay_norms():
    model = build_model(TINY, seed=0)
    norms = _norm_params(model)
    assert len(norms) == 2 * 4 + 2 + 2 * 2  # two LayerNorms (weight, bias) per block + final, q/k norms
    decayed, other = _groups(model, TINY)
    assert norms <= other and not norms & decayed
    decayed, other = _groups(model, TINY.replace(decay_norms=True))
    assert norms <= decayed and not norms & other


def test_embeddings_are_decayed_iff_decay_embeddings():
    model = build_model(TINY, seed=0)
    tables = {id(model.tok_emb.weight), id(model.pos_emb.weight)}
    decayed, other = _groups(model, TINY)
    assert tables <= decayed and not tables & other
    decayed, other = _groups(model, TINY.replace(decay_embeddings=False))
    assert tables <= other and not tables & decayed
    untied = build_model(TINY.replace(tie_embeddings=False, decay_embeddings=False), seed=0)
    decayed, _ = _groups(untied, untied.cfg)
    assert id(untied.lm_head.weight) in decayed  # an untied head is a matrix, not an embedding table


@pytest.mark.parametrize("variant", ["gpt2-small", "gemma-3-1b", "gpt-oss-20b", "deepseek-v3", "qwen3-next-80b-a3b"])
def test_defaults_are_the_two_dims_rule_the_loops_had(variant):
    cfg = resolve_config(variant, scale="tiny")
    model = build_model(cfg, seed=0)
    decayed, other = _groups(model, cfg)
    assert decayed == _ids(p for p in model.parameters() if p.dim() >= 2)
    assert other == _ids(p for p in model.parameters() if p.dim() < 2)


def test_every_parameter_is_in_exactly_one_group():
    cfg = resolve_config("qwen3-next-80b-a3b", scale="tiny").replace(decay_norms=True, decay_embeddings=False)
    model = build_model(cfg, seed=0)
    decayed, other = _groups(model, cfg)
    assert not decayed & other and decayed | other == _ids(model.parameters())
    gated = _ids(p for name, p in model.named_parameters() if name.endswith(".norm.weight"))
    assert gated and gated <= decayed  # the mixers' gated RMSNorm is a norm too


def test_a_norm_weight_without_gradient_shrinks_only_when_decayed():
    """AdamW with a zero gradient leaves a weight alone except for the decay: w -> w (1 - lr wd)."""
    for on in (False, True):
        model = build_model(TINY, seed=0)
        opt = torch.optim.AdamW(param_groups(model, 0.1, TINY.replace(decay_norms=on)), lr=0.5)
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        gain = model.final_norm.weight
        opt.step()
        assert torch.allclose(gain, torch.full_like(gain, 0.95 if on else 1.0), rtol=0, atol=1e-7)


def test_the_knobs_act_in_the_training_loop():
    """One step of `train` with and without the knob: same gradients, so the runs differ by exactly the
    decay lr * wd * w0 on the switched parameters and not at all elsewhere."""
    s = TrainSettings(tokens=2 * 32, seq_len=32, batch_size=2, synthetic_fraction=0.0, lr=1e-2, weight_decay=0.5)
    init = dict(build_model(TINY, seed=0).named_parameters())
    base = dict(train(TINY, s).model.named_parameters())
    # (change, the switched parameters, +1: the changed run decays them, -1: it stops decaying them)
    for change, switched, sign in (({"decay_norms": True}, "norm", 1), ({"decay_embeddings": False}, "_emb.", -1)):
        other = dict(train(TINY.replace(**change), s).model.named_parameters())
        for name, p in other.items():
            with torch.no_grad():
                diff = base[name] - p
            if switched in name:
                assert torch.allclose(diff, sign * s.lr * s.weight_decay * init[name], atol=1e-6), name
            else:
                assert torch.equal(diff, torch.zeros_like(diff)), name


def test_the_recall_loop_uses_the_rule():
    s = RecallSettings(train=((32, 4),), steps=1, batch_size=4, lr=1e-2, weight_decay=0.5, warmup_frac=0.0)
    off, on = build_model(TINY, seed=0), build_model(TINY, seed=0)
    train_recall(off, TINY, s, seed=0)
    train_recall(on, TINY.replace(decay_norms=True), s, seed=0)
    with torch.no_grad():
        diff = off.final_norm.weight - on.final_norm.weight
    assert torch.allclose(diff, torch.full_like(diff, s.lr * s.weight_decay), atol=1e-6)
    assert torch.equal(off.tok_emb.weight, on.tok_emb.weight)
    assert recall_module.param_groups is param_groups


def test_the_stability_loop_uses_the_rule(monkeypatch):
    seen = []

    def spy(model, weight_decay, cfg):
        seen.append((weight_decay, cfg.decay_norms))
        return param_groups(model, weight_decay, cfg)

    monkeypatch.setattr(stability_module, "param_groups", spy)
    train_at_lr(TINY.replace(decay_norms=True), StabilitySettings(steps=1, batch_size=1, seq_len=16), 1e-3, 0)
    assert seen == [(0.1, True)]


def test_the_knobs_change_no_count_or_cost():
    cfg = resolve_config("stability/base", scale="tiny")
    knobbed = cfg.replace(decay_norms=True, decay_embeddings=False)
    assert count_params(knobbed) == count_params(cfg)
    assert costs.train_flops(knobbed, 64) == costs.train_flops(cfg, 64)
    assert resolve_config("stability/decay-norms").decay_norms is True


def test_a_knob_of_the_wrong_type_is_named():
    from suite.config import ConfigError

    with pytest.raises(ConfigError, match="field 'decay_norms'.*expected true or false"):
        ModelConfig.from_dict({"name": "x", "decay_norms": "yes"})
