"""The length-extrapolation probe: rows per length factor, learned positions past their table as a
recorded failure, the evaluation-time RoPE config, and bits per byte that can tell trained from untrained."""

import math

import pytest
import torch

from suite.config import ModelConfig
from suite.model import build_model
from suite.probes.extrapolation import extrapolation, resolve_settings
from suite.quality.extrapolation import (
    eval_config,
    evaluated_model,
    heldout_stream,
    passkey_docs,
    passkey_scores,
    window_bpb,
    window_ends,
)

L = 128
CFG = ModelConfig(
    name="x",
    vocab_size=256,
    d_model=32,
    n_layers=2,
    n_heads=4,
    n_kv_heads=2,
    attention="gqa",
    context_length=256,
    position="rope",
)
FAST = dict(tokens=4096, seeds=[0, 1], bpb_windows=4, passkey_docs=4)


def _rows(cfg, tmp_path, **settings):
    return extrapolation(cfg, {**FAST, "cache": str(tmp_path), **settings})


def test_rows_for_every_length_factor_and_scaling(tmp_path):
    rows = _rows(CFG, tmp_path)
    keys = {(r.metric, r.settings["length_factor"], r.settings["eval_rope_scaling"]) for r in rows}
    assert keys == {
        (m, f, s)
        for m in ("extrapolation_bpb", "extrapolation_passkey_accuracy")
        for f in (1, 2, 4, 8)
        for s in ("none", "yarn")
    }
    for r in rows:
        assert r.status == "ok" and math.isfinite(r.value), r
        assert r.settings["train_context"] == L and r.extra["train_context"] == L
        assert len(r.extra["values"]) == 2 and r.extra["ci_low"] <= r.value <= r.extra["ci_high"]
        assert r.extra["eval_length"] == r.settings["length_factor"] * L
    # at 1x a factor of 1 changes nothing: YaRN and none score the same model
    one = {(r.metric, r.settings["eval_rope_scaling"]): r.value for r in rows if r.settings["length_factor"] == 1}
    assert one[("extrapolation_bpb", "none")] == one[("extrapolation_bpb", "yarn")]


def test_learned_positions_past_their_table_are_a_recorded_failure(tmp_path):
    rows = _rows(CFG.replace(position="learned"), tmp_path, seeds=[0], eval_rope_scaling=["none", "yarn"])
    by_factor = {}
    for r in rows:
        assert r.settings["eval_rope_scaling"] == "none"  # nothing to rescale without RoPE
        by_factor.setdefault(r.settings["length_factor"], []).append(r)
    assert rows[0].extra["eval_rope_scaling_skipped"] == "position 'learned' has no RoPE to rescale"
    for factor in (1, 2):
        assert all(r.status == "ok" and r.value is not None for r in by_factor[factor])
    for factor in (4, 8):
        for r in by_factor[factor]:
            assert r.status == "error" and r.value is None
            assert f"{factor * L} tokens need more than the 256 learned positions" in r.error
            assert r.extra["failure_reason"] == r.error


def test_evaluated_config_changes_only_rope_fields_and_keeps_the_weights():
    model = build_model(CFG, seed=0).eval()
    yarn = eval_config(CFG, "yarn", 4 * L, L)
    changed = {k for k, v in yarn.to_dict().items() if v != CFG.to_dict()[k]}
    assert changed == {"rope_scaling", "rope_factor", "rope_original_context"}
    assert (yarn.rope_factor, yarn.rope_original_context) == (4.0, L)
    scaled = evaluated_model(model, yarn)
    for (name, a), (name_b, b) in zip(model.state_dict().items(), scaled.state_dict().items()):
        assert name == name_b and torch.equal(a, b)
    assert not torch.allclose(scaled.rotary["full"].inv_freq, model.rotary["full"].inv_freq)
    # with no scaling the evaluated model is the trained one: the same logits, bit for bit
    idx = torch.randint(0, 256, (2, 3 * L))
    plain = evaluated_model(model, eval_config(CFG, "none", 4 * L, L))
    assert torch.equal(plain(idx), model(idx))
    rebuilt = evaluated_model(model, CFG.replace(name="x-copy"))  # a fresh model loading the weights
    assert rebuilt is not model and torch.equal(rebuilt(idx), model(idx))
    with pytest.raises(ValueError, match="needs position 'rope', not 'none'"):
        eval_config(CFG.replace(position="none"), "yarn", 2 * L, L)
    with pytest.raises(ValueError, match="unknown eval_rope_scaling 'ntk'"):
        eval_config(CFG, "ntk", 2 * L, L)


def test_bpb_of_an_untrained_model_is_near_uniform_and_seen_text_is_lower():
    stream = heldout_stream()
    ends = window_ends(len(stream), 2 * L, 4)
    untrained = build_model(CFG, seed=0)
    assert 7.5 < window_bpb(untrained, stream, ends, L, L) < 8.6  # uniform over 256 bytes is 8 bits
    # a model that has seen the scored windows (a few steps on exactly them) predicts them better
    data = torch.frombuffer(bytearray(stream), dtype=torch.uint8).long()
    rows = torch.stack([data[e - L : e + 1] for e in ends])
    opt = torch.optim.AdamW(untrained.parameters(), lr=1e-2)
    untrained.train()
    for _ in range(40):
        logits = untrained(rows[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 256), rows[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert window_bpb(untrained, stream, ends, L, L) < 6.0


def test_window_bpb_scores_the_same_bytes_at_every_length():
    """An oracle that knows the next byte scores 0 bits wherever the scored bytes come from the stream."""
    stream = heldout_stream()
    data = torch.frombuffer(bytearray(stream), dtype=torch.uint8).long()
    ends = window_ends(len(stream), 4 * L, 3)

    class Oracle(torch.nn.Module):
        def forward(self, idx):
            # the next byte is found by locating this window in the stream (unique windows of 64 bytes)
            out = torch.full((*idx.shape, 256), -30.0)
            for b, row in enumerate(idx):
                end = next(e for e in ends if torch.equal(data[e - idx.shape[1] : e], row))
                out[b, torch.arange(idx.shape[1]), data[end - idx.shape[1] + 1 : end + 1]] = 30.0
            return out

    for n in (L, 2 * L, 4 * L):
        assert window_bpb(Oracle(), stream, ends, n, L) < 1e-6


def test_passkey_scores_an_oracle_one_and_a_wrong_model_zero():
    docs = passkey_docs(2 * L, 6)
    assert all(len(c) + len(k) + 1 == 2 * L and len(k) == 5 for c, k in docs)

    class Oracle(torch.nn.Module):
        def forward(self, idx):
            out = torch.zeros(*idx.shape, 256)
            out[:, :-1].scatter_(-1, idx[:, 1:, None], 1.0)  # the byte that follows (the key's last: any)
            for b in range(idx.shape[0]):
                key = next(k for c, k in docs if (c + k)[:-1].encode() == bytes(idx[b].tolist()))
                out[b, -1, ord(key[-1])] = 2.0
            return out

    assert passkey_scores(Oracle(), docs) == (1.0, 1.0)
    exact, digits = passkey_scores(build_model(CFG, seed=0), docs)
    assert exact == 0.0 and digits < 0.5


def test_settings_are_checked():
    with pytest.raises(ValueError, match="unknown extrapolation setting.*contexts"):
        resolve_settings({"contexts": [1]})
    with pytest.raises(ValueError, match="whole multiples >= 1"):
        resolve_settings({"length_factors": [0, 2]})
    with pytest.raises(ValueError, match="unknown eval_rope_scaling \\['ntk'\\]"):
        extrapolation(CFG, {**FAST, "eval_rope_scaling": ["ntk"]})
    with pytest.raises(ValueError, match="shorter than a passkey document"):
        extrapolation(CFG, {**FAST, "train_context": 64})
