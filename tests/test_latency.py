"""The timing rule (statistics, stopping, threads) and the latency probe's rows and knobs."""

import math
import time

import pytest
import torch

from suite.config import ModelConfig
from suite.metrics import METRICS
from suite.probes import Row
from suite.probes import latency as L
from suite.probes.timing import measure, quantile, resolve_device, summarize
from suite.threads import pinned_threads

TINY = ModelConfig(name="tiny", vocab_size=256, d_model=32, n_layers=2, n_heads=2, context_length=64, dropout=0.0)
TINY_ROPE = TINY.replace(
    name="tiny-rope",
    position="rope",
    norm="rmsnorm",
    mlp="swiglu",
    attention="gqa",
    n_heads=4,
    n_kv_heads=2,
    qkv_bias=False,
    out_bias=False,
    mlp_bias=False,
)
FAST = dict(contexts=[16], budget_s=0.05, target_cv=0.5, min_repeats=3, max_repeats=20, warmup=1, warmup_s=0.0)


# ------------------------------------------------------------------ statistics
def test_summarize_known_values():
    s = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["median"] == 3.0 and s["n"] == 5
    assert s["q25"] == 2.0 and s["q75"] == 4.0 and s["iqr"] == 2.0
    # robust CV: MAD = median(|x - 3|) = median(2, 1, 0, 1, 97) = 1
    assert s["cv"] == pytest.approx(1.4826 * 1 / 3)
    assert s["cv_classic"] == pytest.approx(s["std"] / s["mean"])
    assert s["cv_classic"] > 1.0 > s["cv"]  # one outlier inflates the classic CV, not the robust one


def test_quantile_interpolates_like_numpy():
    assert quantile([0.0, 10.0], 0.25) == 2.5
    assert math.isnan(summarize([])["median"])


@pytest.mark.parametrize(
    "kwargs, reason",
    [
        (dict(target_cv=10.0, budget_s=10.0, max_repeats=50), "target_cv"),
        (dict(target_cv=-1.0, budget_s=0.0, max_repeats=50), "budget"),
        (dict(target_cv=-1.0, budget_s=10.0, max_repeats=7), "max_repeats"),
    ],
)
def test_measure_stops_for_the_right_reason(kwargs, reason):
    calls = []
    t = measure(lambda: calls.append(1), warmup=2, warmup_s=0.0, min_repeats=5, **kwargs)
    assert t.stop_reason == reason
    assert len(t.samples_ms) == {"target_cv": 5, "budget": 5, "max_repeats": 7}[reason]
    assert len(calls) == t.warmup_calls + len(t.samples_ms) and t.warmup_calls >= 2
    assert t.timer == "perf_counter" and t.median == summarize(t.samples_ms)["median"]


def test_measure_times_the_call_and_runs_setup_untimed():
    t = measure(
        lambda: time.sleep(0.002), setup=lambda: time.sleep(0.01), warmup=1, warmup_s=0.0, min_repeats=3, max_repeats=3
    )
    assert 1.5 < t.median < 9.0  # the 10 ms setup is not in the samples


def test_measure_rejects_bad_repeats():
    with pytest.raises(ValueError, match="min_repeats"):
        measure(lambda: None, min_repeats=5, max_repeats=2)


def test_pinned_threads_sets_and_restores():
    before = torch.get_num_threads()
    with pinned_threads(1) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before


def test_resolve_device():
    assert resolve_device(None) == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")


# ------------------------------------------------------------------ the probe
def _by_metric(rows):
    return {r.metric: r for r in rows}


def test_latency_rows_are_well_formed():
    rows = L.latency(TINY, {**FAST, "contexts": [8, 16], "threads": 1})
    assert all(isinstance(r, Row) for r in rows)
    names = [r.metric for r in rows]
    for metric in ("prefill_ms", "decode_ms_per_token", "train_step_ms"):
        assert names.count(metric) == 2 and names.count(metric + "_cv") == 2
    for r in rows:
        assert r.value is not None and r.value > 0
        assert {"context", "batch", "dtype", "quantize", "threads", "device", "phase"} <= set(r.settings)
        assert r.settings["threads"] == 1 and r.settings["device"] == "cpu"
        if not r.metric.endswith("_cv"):
            e = r.extra
            assert METRICS[r.metric].unit == "ms" and METRICS[r.metric].lower_is_better is True
            assert len(e["samples"]) == e["n"] >= 3
            assert r.value == pytest.approx(summarize(e["samples"])["median"], rel=1e-5)
            assert e["iqr"] >= 0 and e["cv"] >= 0 and e["stop_reason"] in ("target_cv", "budget", "max_repeats")
    train = [r for r in rows if r.metric == "train_step_ms"]
    assert all(r.settings["gradient_checkpointing"] is False for r in train)
    assert "gradient_checkpointing" not in _by_metric(rows)["prefill_ms"].settings


def test_knobs_bf16_checkpointing_and_int8():
    rows = L.latency(TINY_ROPE, {**FAST, "dtype": "bf16", "gradient_checkpointing": True, "batch": 2})
    m = _by_metric(rows)
    assert m["train_step_ms"].settings["gradient_checkpointing"] is True
    assert all(r.settings["dtype"] == "bf16" and r.settings["batch"] == 2 for r in rows)
    assert all(r.value > 0 for r in rows)

    rows = L.latency(TINY_ROPE, {**FAST, "quantize": "int8"})
    m = _by_metric(rows)
    assert m["prefill_ms"].value > 0 and m["prefill_ms"].extra["quantize_api"].startswith("torch.ao")
    assert m["prefill_ms"].extra["quantized_linear_layers"] == 2 * 7  # q k v o gate up down per layer
    assert m["train_step_ms"].value is None
    assert "cannot run on dynamically int8-quantised weights" in m["train_step_ms"].error


def test_int8_actually_quantises_the_linear_layers():
    model, notes = L.build(TINY, L.Knobs(quantize="int8"))
    linears = [m for m in model.modules() if type(m).__name__ == "Linear"]
    assert linears and all("quantized.dynamic" in type(m).__module__ for m in linears)
    assert notes["quantized_linear_layers"] == len(linears)


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(dtype="fp16"), "dtype='fp16' is not one of: fp32, bf16"),
        (dict(quantize="int4"), "quantize='int4' is not one of: none, int8"),
        (dict(batch=0), "batch must be >= 1"),
        (dict(phases=["warmup"]), "phase 'warmup' is not one of"),
    ],
)
def test_bad_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        L.latency(TINY, {**FAST, **settings})


def test_decode_past_learned_positions_is_a_recorded_error_row():
    rows = L.latency(TINY, {**FAST, "contexts": [64], "phases": ["prefill", "decode"]})
    m = _by_metric(rows)
    assert m["prefill_ms"].value > 0  # 64 positions fit
    assert m["decode_ms_per_token"].value is None  # the 65th does not
    assert m["decode_ms_per_token"].status == "error"
    assert "learned positions stop at context_length=64" in m["decode_ms_per_token"].error


def test_decode_workload_measures_position_L_every_time():
    knobs = L.Knobs()
    model, _ = L.build(TINY_ROPE, knobs)
    work = L.decode_workload(model, TINY_ROPE, knobs, 12)
    for _ in range(3):
        work.setup()
        work.run()
        assert work_cache_length(work) == 13  # the step appended one token to the forked cache ...
    assert work.info()["kv_cache_bytes"] > 0
    # ... and the prefilled state itself still holds 12 tokens: every sample starts at position 12
    work.setup()
    assert work_cache_length(work) == 12


def work_cache_length(work):
    return work.state["cache"].length
