"""Timing helpers shared by the measured probes: warm-up, repeat until a budget or a target CV,
robust statistics, raw samples, pinned threads, and CUDA events when the work runs on a GPU.

The rule every measured probe follows (so numbers from different probes mean the same thing):

1. **Threads** are pinned with `torch.set_num_threads` for the whole measurement (`suite.threads.pinned_threads`)
   and the number actually in effect is recorded.
2. **Warm-up**: at least `warmup` calls *and* at least `warmup_s` seconds of calls (lazy kernel
   selection, allocator growth, CPU frequency ramp), never recorded.
3. **Repeats**: one sample per call, each timed on its own (`perf_counter_ns` around the call on CPU;
   a pair of CUDA events, then a synchronize, on a GPU), with Python's garbage collector off during
   the call. Sampling stops at the first of: `min_repeats` reached and CV <= `target_cv` ("target_cv");
   `budget_s` seconds of sampling spent and `min_repeats` reached ("budget"); `max_repeats` ("max_repeats").
4. **Statistics**: the median is the reported value; IQR = q75 - q25 (linear interpolation).
   The reported `cv` (and the one the stopping rule uses) is the *robust* CV, 1.4826 * MAD / median:
   it estimates std/mean of the bulk of the samples, the spread that matters for a median, and one
   stray sample (the scheduler lending our core to another process for a few ms, common on a
   shared 2-core machine) does not blow it up. The classic std/mean is kept as `cv_classic`.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

# ------------------------------------------------------------------ statistics


def quantile(sorted_xs: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of an already sorted list."""
    if not sorted_xs:
        return math.nan
    pos = (len(sorted_xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def summarize(samples: list[float]) -> dict[str, float]:
    """n, median, q25, q75, iqr, mean, std, cv (robust, see above), cv_classic, min, max."""
    xs = sorted(samples)
    n = len(xs)
    if n == 0:
        return dict(
            n=0,
            median=math.nan,
            q25=math.nan,
            q75=math.nan,
            iqr=math.nan,
            mean=math.nan,
            std=math.nan,
            cv=math.nan,
            cv_classic=math.nan,
            min=math.nan,
            max=math.nan,
        )
    median = quantile(xs, 0.5)
    mean = statistics.fmean(xs)
    std = statistics.stdev(xs) if n > 1 else 0.0
    mad = quantile(sorted(abs(x - median) for x in xs), 0.5)
    q25, q75 = quantile(xs, 0.25), quantile(xs, 0.75)
    return dict(
        n=n,
        median=median,
        q25=q25,
        q75=q75,
        iqr=q75 - q25,
        mean=mean,
        std=std,
        cv=1.4826 * mad / median if median else math.nan,
        cv_classic=std / mean if mean else math.nan,
        min=xs[0],
        max=xs[-1],
    )


@dataclass
class Timing:
    """Samples of one timed operation (milliseconds) and how they were taken."""

    samples_ms: list[float]
    warmup_calls: int
    stop_reason: str  # target_cv | budget | max_repeats
    device: str
    timer: str  # perf_counter | cuda_event
    threads: int
    stats: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        self.stats = summarize(self.samples_ms)

    @property
    def median(self) -> float:
        return self.stats["median"]

    @property
    def cv(self) -> float:
        return self.stats["cv"]

    def extra(self) -> dict[str, Any]:
        """What a result row keeps: raw samples and the statistics, rounded for a readable JSON."""
        s = self.stats
        return {
            "samples": [round(x, 6) for x in self.samples_ms],
            "n": s["n"],
            "iqr": s["iqr"],
            "q25": s["q25"],
            "q75": s["q75"],
            "cv": s["cv"],
            "cv_classic": s["cv_classic"],
            "mean": s["mean"],
            "std": s["std"],
            "min": s["min"],
            "max": s["max"],
            "warmup_calls": self.warmup_calls,
            "stop_reason": self.stop_reason,
            "timer": self.timer,
            "threads": self.threads,
        }


# ------------------------------------------------------------------ devices
def resolve_device(setting: str | None) -> str:
    """`cpu` (the default), `cuda`, or `auto` (CUDA when present)."""
    setting = (setting or "cpu").lower()
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device '{setting}' was asked for but torch sees no CUDA device")
    if setting not in ("cpu",) and not setting.startswith("cuda"):
        raise ValueError(f"unknown device '{setting}'; use cpu, cuda or auto")
    return setting


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------ the timing loop


def _time_once(fn: Callable[[], Any], device: str) -> float:
    """One call of fn, in milliseconds, with the garbage collector off."""
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        if device.startswith("cuda"):
            return _cuda_event_ms(fn, device)
        t0 = time.perf_counter_ns()
        fn()
        return (time.perf_counter_ns() - t0) / 1e6
    finally:
        if gc_was_on:
            gc.enable()


def _cuda_event_ms(fn: Callable[[], Any], device: str) -> float:
    """GPU time of fn between two events on the device's stream. The synchronize before reading is
    what makes the number exist: kernels are queued asynchronously, and elapsed_time of an event
    the GPU has not reached yet is an error. Every sample starts from an idle GPU (the previous
    sample synchronized), so the start event is stamped when fn begins to launch work."""
    stream = torch.cuda.current_stream(device)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record(stream)
    fn()
    end.record(stream)
    torch.cuda.synchronize(device)
    return float(start.elapsed_time(end))


def measure(
    fn: Callable[[], Any],
    *,
    device: str = "cpu",
    warmup: int = 2,
    warmup_s: float = 0.1,
    min_repeats: int = 10,
    max_repeats: int = 200,
    budget_s: float = 2.0,
    target_cv: float = 0.02,
    setup: Callable[[], Any] | None = None,
) -> Timing:
    """Time fn() by the rule in this module's docstring. `setup` (untimed) runs before every call,
    e.g. to reset a KV cache to the position being measured."""
    if min_repeats < 1 or max_repeats < min_repeats:
        raise ValueError(f"need 1 <= min_repeats <= max_repeats, got {min_repeats}, {max_repeats}")
    threads = torch.get_num_threads()
    calls, t_start = 0, time.perf_counter()
    while calls < warmup or (time.perf_counter() - t_start < warmup_s and calls < 10 * max(warmup, 1)):
        if setup is not None:
            setup()
        fn()
        calls += 1
    synchronize(device)
    gc.collect()

    samples: list[float] = []
    reason = "max_repeats"
    t_start = time.perf_counter()
    while len(samples) < max_repeats:
        if setup is not None:
            setup()
        samples.append(_time_once(fn, device))
        if len(samples) >= min_repeats:
            stats = summarize(samples)
            if stats["cv"] <= target_cv:
                reason = "target_cv"
                break
            if time.perf_counter() - t_start >= budget_s:
                reason = "budget"
                break
    return Timing(
        samples, calls, reason, device, "cuda_event" if device.startswith("cuda") else "perf_counter", threads
    )


def timing_options(settings: dict[str, Any]) -> dict[str, Any]:
    """The knobs of `measure` a probe's settings may override (recorded by the probe)."""
    keys = ("warmup", "warmup_s", "min_repeats", "max_repeats", "budget_s", "target_cv")
    return {k: settings[k] for k in keys if settings.get(k) is not None}


# ------------------------------------------------------------------ CUDA memory


def cuda_peak_bytes(fn: Callable[[], Any], device: str = "cuda") -> tuple[int, int]:
    """(allocated before, peak allocated during fn) from torch's CUDA caching allocator."""
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    synchronize(device)
    return before, torch.cuda.max_memory_allocated(device)
