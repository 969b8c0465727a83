"""Context scaling: the fit recovers known exponents, crossovers are found, an out-of-memory is a
row, and sliding-window attention keeps decode memory flat past the window."""

import math
import random

import pandas as pd
import pytest

from suite.config import ModelConfig
from suite.metrics import METRICS
from suite.probes import scaling as S
from suite.scaling_fit import cheaper_beyond, crossover, crossover_table, fit_exponent, local_exponents

TINY = ModelConfig(name="tiny", vocab_size=256, d_model=32, n_layers=2, n_heads=2, context_length=64, dropout=0.0)
ROPE = dict(
    vocab_size=256,
    d_model=64,
    n_layers=2,
    n_heads=4,
    position="rope",
    qkv_bias=False,
    out_bias=False,
    context_length=4096,
    dropout=0.0,
)
FULL = ModelConfig(name="full", **ROPE)
SLIDING = ModelConfig(name="sliding", **ROPE, layer_types=("sliding", "sliding"), sliding_window=32)
QUICK = dict(budget_s=0.02, target_cv=0.5, min_repeats=3, max_repeats=10, warmup=1, warmup_s=0.0, threads=1)


# ------------------------------------------------------------------ pure functions
@pytest.mark.parametrize("exponent", [0.0, 1.0, 1.7, 2.0])
def test_fit_recovers_a_known_exponent(exponent):
    xs = [2**k for k in range(4, 13)]
    fit = fit_exponent(xs, [3.0 * x**exponent for x in xs])
    assert fit.exponent == pytest.approx(exponent, abs=1e-9)
    assert fit.prefactor == pytest.approx(3.0) and fit.r2 == pytest.approx(1.0)
    assert (fit.x_min, fit.x_max, fit.n) == (16, 4096, 9)


def test_fit_with_noise_and_a_fixed_cost():
    rng = random.Random(0)
    xs = [2**k for k in range(4, 14)]
    ys = [(50.0 + 0.01 * x**2) * math.exp(rng.gauss(0, 0.03)) for x in xs]
    top = fit_exponent(xs[-4:], ys[-4:])  # where the quadratic term dominates
    assert top.exponent == pytest.approx(2.0, abs=0.1)
    assert fit_exponent(xs[:3], ys[:3]).exponent < 0.5  # the fixed cost flattens small contexts
    slopes = local_exponents(xs, ys)
    assert len(slopes) == len(xs) - 1 and slopes[-1][2] == pytest.approx(2.0, abs=0.2)


def test_fit_needs_two_points():
    with pytest.raises(ValueError, match="at least two distinct"):
        fit_exponent([8, 8, 16], [1.0, 2.0, -1.0])


def test_crossover_of_linear_and_quadratic_costs():
    xs = [2**k for k in range(4, 13)]
    a = [1000.0 + 2.0 * x for x in xs]  # big fixed cost, linear (e.g. sliding window)
    b = [0.01 * x * x for x in xs]  # cheap at first, quadratic (full attention)
    x = crossover(xs, a, b)
    exact = (2.0 + math.sqrt(4.0 + 4 * 0.01 * 1000.0)) / (2 * 0.01)  # 0.01 x^2 = 1000 + 2x
    assert x == pytest.approx(exact, rel=0.1) and 256 < x < 1024
    assert cheaper_beyond(xs, a, b) == "a"
    assert crossover(xs, a, [2 * v for v in a]) is None


def test_crossover_table_from_rows():
    rows = []
    for variant, cost in (("lin", lambda x: 1000.0 + 2 * x), ("quad", lambda x: 0.01 * x * x)):
        for x in (64, 128, 256, 512, 1024, 2048):
            rows.append(
                {
                    "variant": variant,
                    "metric": "prefill_ms",
                    "status": "ok",
                    "value": cost(x),
                    "settings.context": x,
                    "settings.phase": "prefill",
                }
            )
    table = crossover_table(pd.DataFrame(rows), "prefill_ms")
    assert list(table.columns) == ["variant_a", "variant_b", "settings.phase", "crossover", "cheaper_beyond"]
    (row,) = table.to_dict("records")
    assert (row["variant_a"], row["variant_b"], row["cheaper_beyond"]) == ("lin", "quad", "lin")
    assert 256 < row["crossover"] < 1024


def test_sweep_contexts_respect_learned_positions():
    assert S.sweep_contexts(TINY, "prefill", 8, None) == [8, 16, 32, 64]
    assert S.sweep_contexts(TINY, "decode", 8, None) == [8, 16, 32]
    assert S.sweep_contexts(FULL, "decode", 100, 1000) == [128, 256, 512]


# ------------------------------------------------------------------ the probe
def test_scaling_rows_are_well_formed():
    rows = S.scaling(TINY, {**QUICK, "min_context": 8, "phases": ["prefill"], "measure": ["time"]})
    metrics = [r.metric for r in rows]
    assert metrics.count("prefill_ms") == 4
    assert {"time_exponent", "max_context_measured"} <= set(metrics)
    fit = next(r for r in rows if r.metric == "time_exponent")
    assert METRICS[fit.metric].unit == "exponent" and math.isfinite(fit.value)
    assert fit.extra["fit_range"] == [16, 64] and len(fit.extra["points"]) == 4
    top = next(r for r in rows if r.metric == "max_context_measured")
    assert top.value == 64 and top.extra["limited_by"] == "max_context"


def test_tiny_memory_budget_is_a_recorded_oom_not_a_crash():
    rows = S.scaling(TINY, {**QUICK, "min_context": 8, "phases": ["prefill"], "memory_budget": "1KB"})
    top = next(r for r in rows if r.metric == "max_context_measured")
    assert top.value is None and top.status == "oom"
    mem = [r for r in rows if r.metric == "peak_memory_bytes"]
    assert [r.settings["context"] for r in mem] == [8, 16, 32, 64]
    assert all(r.value is None and r.status == "oom" for r in mem)
    # the analytic model puts every point far over 1 KB, so none is run: the machine is never at risk
    assert all(r.extra["predicted"] and "over twice the memory budget of 1000 bytes" in r.error for r in mem)
    timed = [r for r in rows if r.metric == "prefill_ms"]  # nothing timed past a failure
    assert len(timed) == 4 and all(r.value is None and r.extra["measured_time_ms"] is None for r in timed)


def test_time_budget_is_a_recorded_timeout():
    rows = S.scaling(
        TINY, {**QUICK, "min_context": 8, "phases": ["prefill"], "measure": ["time"], "time_budget_ms": 1e-6}
    )
    timed = [r for r in rows if r.metric == "prefill_ms"]
    assert [r.status for r in timed] == ["timeout"] * 4
    assert timed[0].extra["measured_time_ms"]["n"] >= 3  # measured, then over the budget
    assert "over the time budget" in timed[0].error and "not run" in timed[1].error
    top = next(r for r in rows if r.metric == "max_context_measured")
    assert top.value is None and top.status == "timeout"


def test_budget_between_points_sets_the_max_context():
    from suite.probes.latency import Knobs
    from suite.probes.memory import analytic_peak

    knobs = Knobs(batch=4)
    # half-way between the predicted peaks at 1024 and 2048 (measurement agrees within a few percent)
    budget = sum(analytic_peak(FULL, "decode", L, knobs)["total"] for L in (1024, 2048)) // 2
    rows = S.scaling(
        FULL,
        {
            **QUICK,
            "min_context": 256,
            "max_context": 4096,
            "phases": ["decode"],
            "measure": ["memory"],
            "batch": 4,
            "memory_budget": budget,
        },
    )
    top = next(r for r in rows if r.metric == "max_context_measured")
    assert top.value == 1024 and top.extra["limited_by"] == "memory_budget"
    mem = {r.settings["context"]: r for r in rows if r.metric == "peak_memory_bytes"}
    assert {L: r.status for L, r in mem.items()} == {256: "ok", 512: "ok", 1024: "ok", 2048: "oom", 4096: "oom"}
    assert mem[1024].value <= budget < mem[2048].extra["measured_memory"]["peak_over_baseline"]
    assert "over the memory budget" in mem[2048].error  # measured, then over
    assert mem[4096].extra["predicted"] is True  # predicted over twice the budget: never run


def test_sliding_window_decode_memory_is_flat_past_the_window_full_attention_grows():
    settings = {
        **QUICK,
        "min_context": 256,
        "max_context": 4096,
        "phases": ["decode"],
        "measure": ["memory"],
        "batch": 4,
    }
    grow = {}
    for cfg in (FULL, SLIDING):
        rows = S.scaling(cfg, settings)
        peaks = {r.settings["context"]: r.value for r in rows if r.metric == "peak_memory_bytes"}
        caches = {r.settings["context"]: r.extra["kv_cache_bytes"] for r in rows if r.metric == "peak_memory_bytes"}
        grow[cfg.name] = (peaks[4096] - peaks[256], caches)
        exponent = next(r for r in rows if r.metric == "memory_exponent")
        if cfg is FULL:
            assert exponent.value == pytest.approx(1.0, abs=0.15)
    full_growth, full_cache = grow["full"]
    slide_growth, slide_cache = grow["sliding"]
    kv_growth = full_cache[4096] - full_cache[256]  # 4 x 2 layers x 2 x 3840 tokens x 64 x 4 B
    assert kv_growth == 4 * 2 * 2 * 3840 * 64 * 4
    assert full_growth > 0.9 * kv_growth  # measured growth is the cache's growth
    assert len(set(slide_cache.values())) == 1  # the sliding cache holds the window only
    assert abs(slide_growth) < 0.05 * full_growth  # and decode memory stays flat


def test_crossover_rows_against_another_variant():
    rows = S.scaling(
        FULL,
        {
            **QUICK,
            "min_context": 512,
            "max_context": 2048,
            "phases": ["decode"],
            "measure": ["memory"],
            "batch": 4,
            "other_variant": "sliding",
            "scale": "tiny",
        },
        other=SLIDING,
    )
    cross = [r for r in rows if r.metric == "crossover_context"]
    assert [r.settings["quantity"] for r in cross] == ["memory"]
    (row,) = cross
    assert row.settings["other_variant"] == "sliding" and row.extra["cheaper_beyond"] == "sliding"
    assert row.value is None and row.extra["note"] == "no crossing in range"  # sliding is cheaper throughout


def test_crossover_needs_an_explicit_scale():
    with pytest.raises(ValueError, match="other_variant needs the `scale` setting"):
        S.scaling(FULL, {**QUICK, "other_variant": "sliding"})
