"""Peak memory of a piece of work, measured in a fresh Python subprocess.

`run_isolated("pkg.module:function", payload)` calls `function(payload, watch)` in a fresh Python
(through `suite.isolation`, the one subprocess helper); the function returns a JSON-able dict, which
comes back to the caller. The function takes its measurements through `watch` (a `Watch`).

What is measured, precisely (CPU, Linux):

- The counter is the kernel's resident-set high-water mark `VmHWM` of the subprocess
  (`/proc/self/status`). tracemalloc cannot be used: it does not see torch's C++ allocations.
- `baseline_bytes`: `VmRSS` when the work calls `watch.mark_baseline()`: after `import torch` and
  the suite, with the intra-op thread pool started, *before* the model is built. So a phase's
  `peak_over_baseline` counts weights, optimizer state, KV cache and activations, and nothing of
  the interpreter, torch's own libraries or the thread pool.
- `watch.measure(fn)`: garbage-collects, reads `VmRSS` (`before_bytes`), resets the high-water mark
  to the current RSS (writing "5" to `/proc/self/clear_refs`, Linux >= 4.0), calls fn, and reads
  `VmHWM` (`peak_bytes`). Reported: `peak_over_baseline = peak_bytes - baseline_bytes` (the
  number probes publish) and `increment = peak_bytes - before_bytes` (what fn alone added).
  Because the mark is reset, earlier work in the same subprocess (building the model, warm-up,
  a smaller context) does not leak into the peak; only memory it still holds does, and that is
  in `before_bytes`.
- The subprocess runs with `MALLOC_MMAP_THRESHOLD_=65536`: every allocation of 64 KiB or more
  (every tensor that matters) gets its own mapping and goes back to the OS when freed. Without it
  glibc's adaptive threshold keeps freed tensors in its heap, and RSS would remember a previous
  phase's activations. `MKL_DISABLE_FAST_MM=1` likewise stops MKL from caching its GEMM buffers.
- Granularity is a page (4 KiB); noise is a few hundred KiB (Python objects, small-allocation
  arenas), so measure workloads of tens of MiB or more when comparing with a prediction.
- Fallbacks, recorded in the result as `counter`: without `/proc` the counter is
  `getrusage(RUSAGE_SELF).ru_maxrss` and cannot be reset (`peak_reset: false`): the peak then
  covers everything since the subprocess started.
- On CUDA the counter is torch's caching allocator: `mark_baseline` also reads
  `torch.cuda.memory_allocated` (`cuda_baseline_bytes`: cuBLAS workspaces and whatever the warm-up
  left alive), and `watch.measure` synchronizes, calls `torch.cuda.reset_peak_memory_stats` (once
  per measured phase), runs fn, synchronizes and reads `max_memory_allocated` (`cuda_peak_bytes`);
  `cuda_peak_over_baseline` is the number probes publish, `cuda_before_bytes` what was live before
  fn. The RSS fields (host memory, `counter`) are kept beside them.
"""

from __future__ import annotations

import gc
import importlib
import resource
import sys
from pathlib import Path
from typing import Any, Callable

from suite.isolation import IsolationFailure, call_isolated

CHILD_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "131072", "MKL_DISABLE_FAST_MM": "1"}
PAGE = 4096


class MemoryBudgetExceeded(MemoryError):
    """Raised by work that stops itself at a budget (recorded as an out-of-memory result)."""


# ---------------------------------------------------------------- counters
def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _ru_maxrss() -> int:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024  # bytes on macOS, KiB on Linux


def current_rss() -> int:
    rss = _status_kib("VmRSS")
    return rss if rss is not None else _ru_maxrss()


def peak_rss() -> int:
    hwm = _status_kib("VmHWM")
    return hwm if hwm is not None else _ru_maxrss()


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def counter_name() -> str:
    return "VmHWM" if _status_kib("VmHWM") is not None else "ru_maxrss"


# ---------------------------------------------------------------- the watch
class Watch:
    """Measurements inside the subprocess (see the module docstring for their definitions)."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.baseline_bytes: int | None = None
        self.cuda_baseline_bytes: int | None = None

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def mark_baseline(self) -> int:
        gc.collect()
        self.baseline_bytes = current_rss()
        if self.cuda:
            self.cuda_baseline_bytes = cuda_allocated(self.device)
        return self.baseline_bytes

    def measure(self, fn: Callable[[], Any]) -> dict[str, Any]:
        if self.baseline_bytes is None:
            self.mark_baseline()
        gc.collect()
        if self.cuda:
            cuda_before = cuda_reset_peak(self.device)
        before = current_rss()
        was_reset = reset_peak()
        fn()
        peak = max(peak_rss(), current_rss())
        out = dict(
            baseline_bytes=self.baseline_bytes,
            before_bytes=before,
            peak_bytes=peak,
            peak_over_baseline=peak - self.baseline_bytes,
            increment=peak - before,
            peak_reset=was_reset,
            counter=counter_name(),
        )
        if self.cuda:
            cuda_peak = cuda_peak_allocated(self.device)
            out.update(
                cuda_baseline_bytes=self.cuda_baseline_bytes,
                cuda_before_bytes=cuda_before,
                cuda_peak_bytes=cuda_peak,
                cuda_peak_over_baseline=cuda_peak - self.cuda_baseline_bytes,
            )
        return out


def published_bytes(record: dict[str, Any]) -> int:
    """The number a probe publishes from a `Watch.measure` record, over the same baseline on both
    devices: the CUDA allocator's peak where the work ran on a GPU, the RSS peak otherwise."""
    if "cuda_peak_over_baseline" in record:
        return record["cuda_peak_over_baseline"]
    return record["peak_over_baseline"]


# ---------------------------------------------------------------- CUDA counters
# The caching allocator's counters: bytes of live tensors, not what the allocator reserved from the
# driver (the reserve depends on fragmentation and history, the live bytes on the model alone).
def cuda_allocated(device: str) -> int:
    import torch

    torch.cuda.synchronize(device)
    return int(torch.cuda.memory_allocated(device))


def cuda_reset_peak(device: str) -> int:
    """Start a phase: wait for queued work, reset the peak to what is allocated now, return that."""
    import torch

    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    return int(torch.cuda.memory_allocated(device))


def cuda_peak_allocated(device: str) -> int:
    """End a phase: the peak since the last reset, once the phase's kernels have all run."""
    import torch

    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device))


# ---------------------------------------------------------------- parent side
class IsolatedError(RuntimeError):
    """The work failed in the subprocess; `kind` is error | oom | timeout."""

    def __init__(self, message: str, kind: str = "error"):
        super().__init__(message)
        self.kind = kind


def run_isolated(
    target: str, payload: dict[str, Any], *, timeout: float | None = None, device: str = "cpu"
) -> dict[str, Any]:
    """Run `target(payload, watch)` ("module:function") in a fresh interpreter; return its dict.
    Raises IsolatedError (kind oom for a MemoryError or a SIGKILL, timeout, or error)."""
    task = dict(target=target, payload=payload, device=device)
    try:
        return call_isolated(f"{__name__}:_watched", task, timeout=timeout, env=CHILD_ENV, label="memory subprocess")
    except IsolationFailure as exc:
        if exc.kind == "timeout":
            raise IsolatedError(f"memory measurement exceeded {timeout:g} s", "timeout") from exc
        raise IsolatedError(str(exc), "error" if exc.kind == "crashed" else exc.kind) from exc


def _watched(task: dict[str, Any]) -> dict[str, Any]:
    """Child side: the target, given its payload and a `Watch`."""
    module, _, name = task["target"].partition(":")
    fn = getattr(importlib.import_module(module), name)
    return fn(task["payload"], Watch(task.get("device", "cpu")))


# ---------------------------------------------------------------- a known workload
def allocate(payload: dict[str, Any], watch: Watch) -> dict[str, Any]:
    """Self-check target: hold `nbytes` in one torch tensor (touched) and report the measurement;
    with `fail: "memory"` raise MemoryError instead. Used by tests and to sanity-check a machine."""
    import torch

    float(torch.ones(1024)[-1])  # page in the code paths first: they are resident memory too
    watch.mark_baseline()
    if payload.get("fail") == "memory":
        raise MemoryBudgetExceeded(f"asked to fail after reserving {payload.get('nbytes', 0)} bytes")

    def hold():
        t = torch.ones(int(payload["nbytes"]) // 4, dtype=torch.float32)
        return float(t[-1])

    return watch.measure(hold)
