"""The CUDA path on a real GPU (marked `gpu`; skipped where torch sees no CUDA device): a tiny
proxy's latency and peak memory on CUDA, events against a synchronized wall clock, the allocator's
peak reset per phase, and the provenance naming the GPU. scripts/gpu_check.sh runs these with
`pytest -m gpu`. tests/test_gpu_path.py checks the same branches on any machine against fakes."""

from __future__ import annotations

import math
import time

import pytest
import torch

from suite.probes import latency as L
from suite.probes import memory as M
from suite.probes.memwatch import Watch
from suite.probes.timing import measure
from suite.registry import resolve_config
from suite.results import provenance

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]

FAST = dict(contexts=[64], budget_s=0.2, target_cv=0.5, min_repeats=5, max_repeats=50, warmup=2, warmup_s=0.0)
MiB = 2**20


@pytest.fixture(scope="module")
def proxy():
    return resolve_config("qwen3-0.6b", scale="tiny")  # RoPE, RMSNorm, SwiGLU, GQA, q/k norm


def test_latency_on_cuda_is_timed_by_events_in_bf16(proxy):
    rows = L.latency(proxy, {**FAST, "device": "cuda"})
    timed = {r.metric: r for r in rows if not r.metric.endswith("_cv")}
    assert set(timed) == {"prefill_ms", "decode_ms_per_token", "train_step_ms"}
    for r in timed.values():
        assert r.status == "ok", r.error
        assert math.isfinite(r.value) and r.value > 0
        assert r.settings["device"] == "cuda" and r.settings["dtype"] == "bf16"
        assert r.extra["timer"] == "cuda_event" and r.extra["n"] >= 5


def test_cuda_events_agree_with_a_synchronized_wall_clock():
    a = torch.randn(4096, 4096, device="cuda")
    timing = measure(lambda: a @ a, device="cuda", warmup=3, warmup_s=0.0, min_repeats=20, max_repeats=20)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(20):
        a @ a
    torch.cuda.synchronize()
    wall_ms = (time.perf_counter() - t0) * 1e3 / 20
    # a matmul of milliseconds: launch overhead is noise, so device time and queued wall time agree
    assert 0.5 * wall_ms <= timing.median <= 1.5 * wall_ms, (timing.median, wall_ms)


def test_the_allocator_peak_is_reset_per_phase():
    watch = Watch("cuda")
    watch.mark_baseline()
    big = watch.measure(lambda: torch.empty(64 * MiB, dtype=torch.uint8, device="cuda"))
    small = watch.measure(lambda: torch.empty(16 * MiB, dtype=torch.uint8, device="cuda"))
    assert big["cuda_peak_bytes"] - big["cuda_before_bytes"] == 64 * MiB
    assert small["cuda_peak_bytes"] - small["cuda_before_bytes"] == 16 * MiB  # not the earlier 64 MiB


def test_memory_on_cuda_is_the_allocator_peak_in_bf16(proxy):
    rows = M.memory(proxy, {"device": "cuda", "contexts": [128], "threads": 1})
    peaks = [r for r in rows if r.metric == "peak_memory_bytes"]
    assert sorted(r.settings["phase"] for r in peaks) == ["decode", "prefill", "train"]
    for r in peaks:
        assert r.status == "ok", r.error
        assert r.settings["dtype"] == "bf16" and r.settings["device"] == "cuda"
        assert r.value == r.extra["cuda_peak_over_baseline"]
        # the weights live on the device for the whole phase, so its peak holds at least them
        assert r.value >= r.extra["cuda_model_bytes"] > 0
    ratios = [r.value for r in rows if r.metric == "memory_measured_over_analytic"]
    assert len(ratios) == 3 and all(math.isfinite(x) and x > 0 for x in ratios)


def test_provenance_names_the_gpu_and_cuda():
    prov = provenance()
    assert prov["device"].startswith("cuda:")
    assert prov["gpu_name"].startswith(torch.cuda.get_device_name(torch.cuda.current_device()))
    assert prov["cuda_version"] == torch.version.cuda
    assert prov["gpu_driver"]  # the driver, or "unknown" where nvidia-smi is absent
    assert "math" in prov["sdpa_backends"].split(",")
