"""Peak memory in a fresh subprocess: the counter sees what was allocated, failures are results,
the probe's rows are well formed, and measurement agrees with the analytic prediction."""

import pytest

from suite.config import ModelConfig
from suite.metrics import METRICS
from suite.probes import memory as M
from suite.probes.latency import Knobs
from suite.probes.memwatch import IsolatedError, run_isolated

TINY = ModelConfig(name="tiny", vocab_size=256, d_model=32, n_layers=2, n_heads=2, context_length=64, dropout=0.0)
# big enough that activations (tens of MiB) dominate the counter's noise (hundreds of KiB)
MEDIUM = ModelConfig(
    name="medium",
    vocab_size=256,
    d_model=128,
    n_layers=2,
    n_heads=4,
    n_kv_heads=2,
    attention="gqa",
    position="rope",
    norm="rmsnorm",
    mlp="swiglu",
    qk_norm="head",
    qkv_bias=False,
    out_bias=False,
    mlp_bias=False,
    context_length=1024,
    dropout=0.0,
)


@pytest.mark.parametrize("nbytes", [20_000_000, 80_000_000])
def test_subprocess_counter_sees_an_allocation(nbytes):
    r = run_isolated("suite.probes.memwatch:allocate", {"nbytes": nbytes})
    assert r["counter"] == "VmHWM" and r["peak_reset"] is True
    assert r["peak_over_baseline"] == pytest.approx(nbytes, rel=0.05)


def test_memory_error_in_the_subprocess_is_an_oom():
    with pytest.raises(IsolatedError, match="asked to fail") as info:
        run_isolated("suite.probes.memwatch:allocate", {"nbytes": 1, "fail": "memory"})
    assert info.value.kind == "oom"


def test_unknown_target_is_an_error():
    with pytest.raises(IsolatedError, match="has no attribute 'nope'") as info:
        run_isolated("suite.probes.memwatch:nope", {})
    assert info.value.kind == "error"


def test_memory_rows_are_well_formed():
    rows = M.memory(TINY, {"contexts": [16, 32], "threads": 1})
    by = {}
    for r in rows:
        by.setdefault(r.metric, []).append(r)
    assert set(by) == {"peak_memory_bytes", "peak_memory_bytes_analytic", "memory_measured_over_analytic"}
    assert sorted((r.settings["phase"], r.settings["context"]) for r in by["peak_memory_bytes"]) == [
        ("decode", 16),
        ("decode", 32),
        ("prefill", 16),
        ("prefill", 32),
        ("train", 16),
        ("train", 32),
    ]
    for measured, analytic, ratio in zip(
        by["peak_memory_bytes"], by["peak_memory_bytes_analytic"], by["memory_measured_over_analytic"]
    ):
        assert measured.settings == analytic.settings == ratio.settings
        assert METRICS[measured.metric].unit == METRICS[analytic.metric].unit == "bytes"
        assert METRICS[ratio.metric].unit == "ratio"
        assert measured.value >= 0 and analytic.value > 0  # a tiny model can be below the counter's resolution
        assert ratio.value == pytest.approx(measured.value / analytic.value)
        assert measured.extra["counter"] == "VmHWM" and measured.extra["peak_reset"] is True
        assert set(analytic.extra["parts"]) >= {"weights", "total"}


def test_decode_past_learned_positions_is_an_error_row_not_a_crash():
    rows = M.memory(TINY, {"contexts": [32, 64], "phases": ["decode"]})
    assert [r.settings["context"] for r in rows if r.metric == "peak_memory_bytes"] == [32, 64]
    bad = [r for r in rows if r.settings["context"] == 64]
    assert len(bad) == 1 and bad[0].value is None and "learned positions" in bad[0].error


@pytest.mark.slow
@pytest.mark.parametrize("phase, context, batch", [("prefill", 256, 4), ("decode", 1023, 8), ("train", 256, 4)])
def test_measured_within_15_percent_of_analytic(phase, context, batch):
    # sizes where the phase holds >= 10 MB, so the counter's few hundred KiB of noise stay small
    rows = M.memory(MEDIUM, {"contexts": [context], "batch": batch, "phases": [phase]})
    ratio = next(r for r in rows if r.metric == "memory_measured_over_analytic")
    assert 0.85 <= ratio.value <= 1.15, ratio.extra


def test_analytic_parts():
    knobs = Knobs(batch=2)
    pre = M.analytic_peak(MEDIUM, "prefill", 256, knobs)
    dec = M.analytic_peak(MEDIUM, "decode", 256, knobs)
    assert pre["total"] == sum(v for k, v in pre.items() if k != "total")
    assert dec["kv_cache"] == 2 * 2 * 2 * 257 * 2 * 32 * 4  # batch, layers, k+v, tokens, kv heads, hd, fp32
    assert dec["cache_append_copy"] == dec["kv_cache"] // 2 * 256 // 257
    # the gated MLP is the worst sublayer here: linear in tokens
    assert M.inference_activation_bytes(MEDIUM, 256, batch=2)["worst_sublayer"] == "mlp"
    assert M.analytic_peak(MEDIUM, "prefill", 512, knobs)["activations"] == 2 * pre["activations"]
    int8 = M.analytic_peak(MEDIUM, "prefill", 256, Knobs(batch=2, quantize="int8"))
    assert int8["weights"] < pre["weights"] / 2
