"""The CUDA branches of timing, memory, dtype and provenance, run on a CPU against fakes of the
torch.cuda calls they make: the numbers a probe reports are exactly what the fakes say, events are
read only after a synchronize, the allocator's peak is reset once per measured phase, bf16 is the
default on CUDA, and the provenance names the GPU. tests/test_gpu_real.py runs the same paths on a
real GPU (marked `gpu`)."""

from __future__ import annotations

import subprocess
from dataclasses import asdict
from types import SimpleNamespace

import pytest
import torch

from suite import accelerator
from suite.config import ModelConfig
from suite.probes import PROBES, load_all
from suite.probes import latency as L
from suite.probes import memory as M
from suite.probes.memwatch import Watch, published_bytes
from suite.probes.timing import Timing, measure, resolve_device
from suite.results import PROVENANCE_COLUMNS, make_row, provenance, to_frame

TINY = ModelConfig(name="tiny", vocab_size=256, d_model=32, n_layers=2, n_heads=2, context_length=64, dropout=0.0)


class FakeGPU:
    """The torch.cuda calls the CUDA paths make, on a clock the test advances. Like a real GPU,
    an event's time cannot be read before a synchronize has waited for it."""

    def __init__(self, monkeypatch):
        self.clock_ms = 0.0
        self.log: list[str] = []
        self.allocated = 1000  # bytes live before anything runs (what a baseline sees)
        self.peak = self.allocated
        self.stream = object()
        self.recorded_on: list[object] = []
        gpu = self

        class Event:
            def __init__(self, enable_timing=False):
                assert enable_timing, "an event without enable_timing has no time to read"
                self.t, self.done = None, False

            def record(self, stream=None):
                gpu.recorded_on.append(stream)
                self.t, self.done = gpu.clock_ms, False
                gpu.pending.append(self)

            def elapsed_time(self, end):
                gpu.log.append("elapsed_time")
                if not (self.done and end.done):
                    raise RuntimeError("event not ready: read before torch.cuda.synchronize")
                return end.t - self.t

        self.pending: list[Event] = []
        cuda = torch.cuda
        monkeypatch.setattr(cuda, "is_available", lambda: True)
        monkeypatch.setattr(cuda, "Event", Event)
        monkeypatch.setattr(cuda, "synchronize", self.synchronize)
        monkeypatch.setattr(cuda, "current_stream", lambda device=None: self.stream)
        monkeypatch.setattr(cuda, "reset_peak_memory_stats", self.reset_peak)
        monkeypatch.setattr(cuda, "memory_allocated", lambda device=None: self.allocated)
        monkeypatch.setattr(cuda, "max_memory_allocated", self.max_allocated)

    def synchronize(self, device=None):
        self.log.append("synchronize")
        for event in self.pending:
            event.done = True
        self.pending.clear()

    def reset_peak(self, device=None):
        self.log.append("reset_peak")
        self.peak = self.allocated

    def max_allocated(self, device=None):
        self.log.append("max_memory_allocated")
        return self.peak

    def run_kernel(self, ms: float, nbytes: int = 0):
        """Work that takes `ms` of GPU time and holds `nbytes` while it runs."""
        self.log.append("kernel")
        self.clock_ms += ms
        self.peak = max(self.peak, self.allocated + nbytes)


@pytest.fixture
def gpu(monkeypatch):
    return FakeGPU(monkeypatch)


# ------------------------------------------------------------------ timing by CUDA events
def test_cuda_samples_are_the_event_times_read_after_a_synchronize(gpu):
    durations = iter([9.0, 1.5, 2.5, 4.0, 3.0, 2.0])  # the first is the warm-up call
    t = measure(
        lambda: gpu.run_kernel(next(durations)),
        device="cuda",
        warmup=1,
        warmup_s=0.0,
        min_repeats=5,
        max_repeats=5,
        target_cv=0.0,
    )
    assert t.samples_ms == [1.5, 2.5, 4.0, 3.0, 2.0]  # not the host clock: the kernels take no host time
    assert t.median == 2.5 and t.timer == "cuda_event" and t.device == "cuda"
    assert t.extra()["timer"] == "cuda_event" and t.extra()["samples"] == [1.5, 2.5, 4.0, 3.0, 2.0]
    assert gpu.recorded_on == [gpu.stream] * 10  # a start and an end event per sample, on the device's stream
    # every read of an event follows a synchronize that came after the sample's kernel
    reads = [i for i, call in enumerate(gpu.log) if call == "elapsed_time"]
    assert len(reads) == 5
    for i in reads:
        assert gpu.log[i - 2 : i] == ["kernel", "synchronize"]


def test_cuda_is_resolved_only_where_torch_sees_a_device(gpu, monkeypatch):
    assert resolve_device("auto") == "cuda" and resolve_device("cuda:0") == "cuda:0"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="torch sees no CUDA device"):
        resolve_device("cuda")


# ------------------------------------------------------------------ bf16 by default on CUDA
def test_bf16_is_the_default_on_cuda_and_fp32_on_cpu(gpu, monkeypatch):
    load_all()
    defaults = PROBES["latency"].defaults
    assert knobs_of(defaults, device="cuda").dtype == "bf16"
    assert knobs_of(defaults, device="auto").dtype == "bf16"
    assert knobs_of(defaults, device="cuda", dtype="fp32").dtype == "fp32"  # asked for: kept
    assert knobs_of(PROBES["memory"].defaults, device="cuda").recorded(1)["dtype"] == "bf16"
    assert knobs_of(defaults).dtype == "fp32"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert knobs_of(defaults, device="auto").dtype == "fp32"
    with pytest.raises(ValueError, match="dtype='fp16' is not one of: fp32, bf16, auto"):
        knobs_of(defaults, dtype="fp16")


def knobs_of(defaults, **settings):
    return L.Knobs.from_settings({**defaults, **settings})


def test_latency_rows_on_cuda_record_bf16_and_the_event_timer(gpu, monkeypatch):
    seen = []

    def fake_time_phase(model, cfg, knobs, phase, context, options):
        seen.append(knobs)
        return Timing([1.0, 2.0, 3.0], 1, "max_repeats", knobs.device, "cuda_event", 1), {"kv_cache_bytes": 64}

    monkeypatch.setattr(L, "build", lambda cfg, knobs, train=False: (None, {}))
    monkeypatch.setattr(L, "time_phase", fake_time_phase)
    rows = L.latency(TINY, {**probe_defaults("latency"), "device": "cuda", "contexts": [16], "phases": ["prefill"]})
    row = next(r for r in rows if r.metric == "prefill_ms")
    assert row.value == 2.0
    assert row.settings["device"] == "cuda" and row.settings["dtype"] == "bf16"
    assert row.extra["timer"] == "cuda_event" and row.extra["kv_cache_bytes"] == 64
    assert [k.dtype for k in seen] == ["bf16"]


def probe_defaults(name):
    load_all()
    return dict(PROBES[name].defaults)


# ------------------------------------------------------------------ peak memory by the allocator
def test_watch_resets_the_cuda_peak_once_per_phase_and_reads_it_after_a_synchronize(gpu):
    watch = Watch("cuda")
    watch.mark_baseline()
    assert watch.cuda_baseline_bytes == 1000
    gpu.allocated = 5000  # the model, built after the baseline
    first = watch.measure(lambda: gpu.run_kernel(1.0, nbytes=7000))
    second = watch.measure(lambda: gpu.run_kernel(1.0, nbytes=300))
    assert gpu.log.count("reset_peak") == 2
    assert first["cuda_before_bytes"] == 5000 and first["cuda_peak_bytes"] == 12000
    assert first["cuda_peak_over_baseline"] == 11000 and first["cuda_baseline_bytes"] == 1000
    # the second phase's peak does not remember the first one's 7000 bytes
    assert second["cuda_peak_bytes"] == 5300 and second["cuda_peak_over_baseline"] == 4300
    for i, call in enumerate(gpu.log):
        if call == "max_memory_allocated":
            assert gpu.log[i - 2 : i] == ["kernel", "synchronize"]
    assert published_bytes(first) == 11000
    assert "peak_over_baseline" in first  # the host RSS fields stay beside the device ones


def test_published_bytes_is_the_rss_peak_on_cpu():
    assert published_bytes({"peak_over_baseline": 123}) == 123
    assert published_bytes({"peak_over_baseline": 123, "cuda_peak_over_baseline": 45}) == 45


def test_memory_phase_resets_the_peak_once_per_context_not_during_warm_up(gpu):
    knobs = L.Knobs(threads=1)  # the work runs on the CPU; only the watch counts the (fake) device
    payload = dict(config=TINY.to_dict(), knobs=asdict(knobs), phase="prefill", contexts=[16, 8], memory_budget=None)
    records = M.measure_phase(payload, Watch("cuda"))
    assert [r["context"] for r in records] == [8, 16]
    assert gpu.log.count("reset_peak") == 2
    for r in records:
        assert r["cuda_model_bytes"] == 0 and r["cuda_peak_bytes"] == 1000 and r["cuda_peak_over_baseline"] == 0
        assert "model_bytes" in r  # host RSS, as on CPU


def test_memory_probe_on_cuda_publishes_the_allocator_peak_in_bf16(gpu, monkeypatch):
    seen = []

    def fake_measure_isolated(cfg, knobs, phase, contexts, **kw):
        seen.append(knobs)
        return [
            dict(context=16, threads=1, peak_over_baseline=9_999_999, cuda_peak_over_baseline=250_000, model_bytes=1)
        ]

    monkeypatch.setattr(M, "measure_isolated", fake_measure_isolated)
    rows = M.memory(TINY, {**probe_defaults("memory"), "device": "cuda", "contexts": [16], "phases": ["prefill"]})
    by = {r.metric: r for r in rows}
    assert by["peak_memory_bytes"].value == 250_000  # the device's bytes, not the host's RSS
    assert by["peak_memory_bytes"].settings["dtype"] == "bf16" and seen[0].dtype == "bf16"
    analytic = M.analytic_peak(TINY, "prefill", 16, L.Knobs(device="cuda", dtype="bf16"))["total"]
    assert by["peak_memory_bytes_analytic"].value == analytic
    assert by["memory_measured_over_analytic"].value == pytest.approx(250_000 / analytic)


# ------------------------------------------------------------------ provenance
H200 = SimpleNamespace(name="NVIDIA H200", major=9, minor=0, total_memory=141 * 2**30)


def fake_device(monkeypatch, *, flash=True, mem_efficient=False, cudnn=False, math=True):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index=None: H200)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: H200.name)
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    for name, on in (("flash", flash), ("mem_efficient", mem_efficient), ("cudnn", cudnn), ("math", math)):
        monkeypatch.setattr(torch.backends.cuda, f"{name}_sdp_enabled", lambda on=on: on)
    monkeypatch.setattr(accelerator, "driver_version", lambda: "550.54.15")


def test_provenance_on_cuda_names_gpu_driver_cuda_and_sdpa_backends(monkeypatch):
    fake_device(monkeypatch)
    prov = provenance()
    assert set(prov) == set(PROVENANCE_COLUMNS)
    assert prov["gpu_name"] == "NVIDIA H200 (sm_90, 141.0 GiB)"
    assert prov["gpu_driver"] == "550.54.15"
    assert prov["cuda_version"] == "12.8"
    assert prov["sdpa_backends"] == "flash,math"
    assert prov["device"] == "cuda:NVIDIA H200 (CUDA 12.8)"


def test_provenance_on_cpu_says_cpu_and_leaves_the_gpu_columns_empty(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    prov = provenance()
    assert prov["device"] == "cpu"
    assert {k: prov[k] for k in accelerator.FIELDS} == dict.fromkeys(accelerator.FIELDS, "")


def test_a_device_that_cannot_be_read_does_not_stop_the_run(monkeypatch):
    fake_device(monkeypatch, flash=False, math=False)

    def broken(index=None):
        raise RuntimeError("CUDA error: initialization error")

    monkeypatch.setattr(torch.cuda, "get_device_properties", broken)
    info = accelerator.describe()
    assert info["gpu_name"] == "unknown" and info["cuda_version"] == "12.8" and info["sdpa_backends"] == ""


def test_provenance_columns_reach_the_results_frame(monkeypatch):
    fake_device(monkeypatch)
    cell = dict(run_id="r", cell_id="c", variant="v", family="f", scale="tiny", probe="latency")
    df = to_frame([make_row(cell=cell, metric="prefill_ms", value=1.0, prov=provenance())])
    assert df["gpu_name"][0].startswith("NVIDIA H200") and df["sdpa_backends"][0] == "flash,math"


@pytest.mark.parametrize(
    "which, run, expected",
    [
        (
            "/usr/bin/nvidia-smi",
            lambda *a, **k: subprocess.CompletedProcess(a, 0, "550.54.15\n550.54.15\n", ""),
            "550.54.15",
        ),
        (
            "/usr/bin/nvidia-smi",
            lambda *a, **k: subprocess.CompletedProcess(a, 9, "", "NVML: driver not loaded"),
            "unknown",
        ),
        (None, None, "unknown"),
    ],
)
def test_driver_version_from_nvidia_smi_or_unknown(monkeypatch, which, run, expected):
    monkeypatch.setattr(accelerator.shutil, "which", lambda name: which)
    monkeypatch.setattr(accelerator.subprocess, "run", run)
    assert accelerator.driver_version() == expected


def test_a_hung_nvidia_smi_is_unknown_not_a_hang(monkeypatch):
    def hang(cmd, **kw):
        assert kw["timeout"] <= 10
        raise subprocess.TimeoutExpired(cmd, kw["timeout"])

    monkeypatch.setattr(accelerator.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(accelerator.subprocess, "run", hang)
    assert accelerator.driver_version() == "unknown"
