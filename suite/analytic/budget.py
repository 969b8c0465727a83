"""Serving budget from the config alone: how long a context fits in memory, how many sequences fit at a
context, and the decode roofline (tokens/s bound by memory bandwidth and by compute) on a device.

Memory model: weights (in the chosen format) + KV cache (batch x per-sequence cache) + an optional
reserve for activations / framework overhead. Nothing else is assumed, so the figures are upper
bounds a real server approaches but does not reach.

Roofline of one decode step at position L for a batch of B sequences:
  bytes  = weights read (MoE: only experts some sequence is routed to; not the unused embedding rows)
           + B x KV cache at L
  FLOPs  = B x analytic decode FLOPs ("useful" counting)
  tokens/s = B / max(bytes / bandwidth, FLOPs / peak)
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from suite.analytic import costs
from suite.config import ConfigError, ModelConfig


@dataclass(frozen=True)
class Device:
    name: str
    peak_flops: float  # dense matmul FLOP/s (bf16 tensor cores on GPUs)
    bandwidth: float  # memory bandwidth, bytes/s
    memory: int  # bytes of device memory
    note: str = ""


# Vendor data-sheet peaks (dense, no sparsity). Quantised weights are assumed to be de-quantised to
# bf16 for the product (weight-only quantisation), so the bf16 peak applies to every format.
DEVICES: dict[str, Device] = {
    "h100": Device("h100", 989.4e12, 3.35e12, 80 * 2**30, "H100 SXM5 80GB: bf16 dense, HBM3"),
    "a100": Device("a100", 312e12, 2.039e12, 80 * 2**30, "A100 SXM4 80GB: bf16 dense, HBM2e"),
    "h200": Device("h200", 989.4e12, 4.8e12, 141 * 10**9, "H200 SXM 141GB: bf16 dense, HBM3e"),
    "rtx4090": Device(
        "rtx4090", 165.2e12, 1.008e12, 24 * 2**30, "GeForce RTX 4090: bf16 tensor (fp32 accumulate) dense, GDDR6X"
    ),
    "laptop-cpu": Device(
        "laptop-cpu",
        0.77e12,
        89.6e9,
        16 * 2**30,
        "rough 8-core AVX2 laptop at 3 GHz (fp32 FMA peak), dual-channel DDR5-5600",
    ),
}


def get_device(
    spec: str | None = "h100", *, peak: float | None = None, bandwidth: float | None = None, memory: int | None = None
) -> Device:
    """A preset name, a JSON file written by `archbench calibrate --output`, or custom numbers
    (`peak` and `bandwidth` override whatever the preset says)."""
    if spec is None and peak and bandwidth:
        base = Device("custom", peak, bandwidth, memory or 0, "custom --device-peak / --device-bandwidth")
    elif spec is not None and spec.lower() in DEVICES:
        base = DEVICES[spec.lower()]
    elif spec is not None and (Path(spec).exists() or "/" in spec or spec.endswith(".json")):
        base = _device_file(spec)
    else:
        hint = "" if spec is None else f"unknown device '{spec}'; "
        raise ConfigError(
            f"{hint}choose one of: {', '.join(DEVICES)}, a file from `archbench calibrate "
            f"--output`, or give both --device-peak and --device-bandwidth.",
            field="device",
        )
    if peak or bandwidth or memory:
        renamed = (peak or bandwidth) and base.name != "custom"
        base = Device(
            f"{base.name}+custom" if renamed else base.name,
            peak or base.peak_flops,
            bandwidth or base.bandwidth,
            memory or base.memory,
            base.note,
        )
    # `not x > 0` is also true for NaN, which must never reach a roofline
    if not (math.isfinite(base.peak_flops) and base.peak_flops > 0) or not (
        math.isfinite(base.bandwidth) and base.bandwidth > 0
    ):
        raise ConfigError(
            f"device peak FLOP/s and bandwidth must be positive, got {base.peak_flops:g} and {base.bandwidth:g}.",
            field="device",
        )
    return base


def _device_file(path: str) -> Device:
    """A device file from `archbench calibrate --output`, every key checked (it may come from anywhere)."""
    from suite.safeio import InputError, check_name, expect_type, load_json

    data = expect_type(load_json(path, "device file"), dict, file=path, field="(top level)", what="device file:")
    for key in ("peak_flops", "bandwidth"):
        if key not in data:
            raise InputError(
                f"{path} is not a device file written by `archbench calibrate --output`: it has no '{key}'.",
                file=path,
                field=key,
            )
    values = {}
    for key, low, what in (("peak_flops", 0, "FLOP/s"), ("bandwidth", 0, "bytes/s"), ("memory", -1, "bytes")):
        value = expect_type(data.get(key, 0), (int, float), file=path, field=key)
        if not (math.isfinite(value) and low < value <= 2**60):
            least = "0 or more" if low < 0 else "a positive number"
            raise InputError(
                f"device file {path}: '{key}' must be {least} of {what} (at most 2^60), got {value!r}.",
                file=path,
                field=key,
            )
        values[key] = value
    name = check_name(data.get("name", Path(path).stem), file=path, field="name", what="device name")
    note = expect_type(data.get("note", f"calibrated ({path})"), str, file=path, field="note")
    return Device(name, float(values["peak_flops"]), float(values["bandwidth"]), int(values["memory"]), note)


def default_kv_dtype(dtype: str) -> str:
    """Weights stored as fp32 / bf16 / fp16 keep their cache in the same type; quantised weight
    formats (fp8, int8, int4, mxfp4) are served with a bf16 cache unless told otherwise."""
    return dtype if dtype in ("fp32", "bf16", "fp16") else "bf16"


# -------------------------------------------------------------- capacity
def max_context(
    cfg: ModelConfig, memory: int, *, dtype: str = "bf16", kv_dtype: str | None = None, batch: int = 1, reserve: int = 0
) -> dict:
    """The longest context `batch` sequences can hold in `memory` bytes next to the weights.

    max_context: min(memory limit, the model's context_length); memory_max_context: the memory
    limit alone (None when the cache is bounded: every layer sliding); limited_by: memory |
    trained_context | weights (the weights alone do not fit: 0).
    """
    if batch < 1:
        raise ConfigError(f"batch must be >= 1, got {batch}.", field="batch")
    kv_dtype = kv_dtype or default_kv_dtype(dtype)
    weights = costs.weights_bytes(cfg, dtype)
    free = memory - reserve - weights
    out = {
        "memory_budget": memory,
        "dtype": dtype,
        "kv_dtype": kv_dtype,
        "batch": batch,
        "reserve": reserve,
        "weights_bytes": weights,
        "free_for_cache": free,
    }

    def fits(L: int) -> bool:
        return costs.kv_cache_bytes(cfg, L, kv_dtype, batch) <= free

    if free < 0 or not fits(1):
        return {**out, "max_context": 0, "memory_max_context": 0, "limited_by": "weights"}
    # a bounded cache stops growing at the window (a pure-mixer model: at its first token)
    if costs.kv_cache_bounded(cfg) and fits(cfg.sliding_window or 1):
        mem_max = None
    else:
        lo, hi = 1, 2
        while fits(hi):
            lo, hi = hi, hi * 2
        while hi - lo > 1:  # fits(lo) and not fits(hi)
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        mem_max = lo
    limited = mem_max is not None and mem_max < cfg.context_length
    return {
        **out,
        "max_context": mem_max if limited else cfg.context_length,
        "memory_max_context": mem_max,
        "limited_by": "memory" if limited else "trained_context",
    }


def max_batch(
    cfg: ModelConfig, memory: int, context: int, *, dtype: str = "bf16", kv_dtype: str | None = None, reserve: int = 0
) -> int:
    """How many sequences of `context` tokens fit next to the weights (0: not even one)."""
    kv_dtype = kv_dtype or default_kv_dtype(dtype)
    free = memory - reserve - costs.weights_bytes(cfg, dtype)
    per_seq = costs.kv_cache_bytes(cfg, context, kv_dtype)
    return max(0, free // per_seq) if per_seq else 0


# -------------------------------------------------------------- roofline
def decode_roofline(
    cfg: ModelConfig, device: Device, *, context: int, batch: int = 1, dtype: str = "bf16", kv_dtype: str | None = None
) -> dict:
    """Tokens/s bound of one decode step at position `context` for `batch` sequences."""
    kv_dtype = kv_dtype or default_kv_dtype(dtype)
    weights = costs.weights_bytes_read_per_step(cfg, dtype, batch)
    cache = costs.kv_cache_bytes(cfg, context, kv_dtype, batch)
    flops = batch * costs.total(costs.decode_flops(cfg, context))
    t_bw, t_compute = (weights + cache) / device.bandwidth, flops / device.peak_flops
    return {
        "device": device.name,
        "peak_flops": device.peak_flops,
        "bandwidth": device.bandwidth,
        "context": context,
        "batch": batch,
        "dtype": dtype,
        "kv_dtype": kv_dtype,
        "weights_bytes_read": weights,
        "kv_cache_bytes_read": cache,
        "bytes_per_step": weights + cache,
        "flops_per_step": flops,
        "tokens_per_s_bandwidth": batch / t_bw,
        "tokens_per_s_compute": batch / t_compute,
        "tokens_per_s": batch / max(t_bw, t_compute),
        "tokens_per_s_per_sequence": 1 / max(t_bw, t_compute),
        "bound": "bandwidth" if t_bw >= t_compute else "compute",
        "arithmetic_intensity": flops / (weights + cache),
    }


def report(
    cfg: ModelConfig,
    *,
    memory: int | None,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    batch: int = 1,
    context: int | None = None,
    device: Device,
    reserve: int = 0,
) -> dict:
    """Everything `archbench budget` prints: fit at the budget, and the decode roofline."""
    memory = memory if memory is not None else device.memory
    if not memory:
        raise ConfigError("no memory budget: give --memory (e.g. 80GB) or a device preset with memory.", field="memory")
    if reserve >= memory:
        raise ConfigError(
            f"--reserve ({reserve:,} bytes) leaves nothing of the {memory:,}-byte memory budget; "
            "give a reserve smaller than --memory.",
            field="reserve",
        )
    fit = max_context(cfg, memory, dtype=dtype, kv_dtype=kv_dtype, batch=batch, reserve=reserve)
    ctx = context if context is not None else max(1, fit["max_context"])
    if ctx < 1:
        raise ConfigError(f"context must be >= 1, got {ctx}.", field="context")
    fits_batch = max_batch(cfg, memory, ctx, dtype=dtype, kv_dtype=fit["kv_dtype"], reserve=reserve)
    out = {
        "variant": cfg.name,
        **fit,
        "kv_cache_bytes_per_token": costs.kv_cache_bytes_per_token(cfg, fit["kv_dtype"]),
        "context": ctx,
        "context_length": cfg.context_length,
        "max_batch_at_context": fits_batch,
        "fits": fits_batch >= batch,
        "device": asdict(device),
        "decode": decode_roofline(cfg, device, context=ctx, batch=batch, dtype=dtype, kv_dtype=fit["kv_dtype"]),
    }
    out["decode_tokens_per_s"] = out["decode"]["tokens_per_s"]
    return out


def render(data: dict) -> None:
    from rich.table import Table

    from suite.safeio import escape_markup as escape
    from suite.term import console as term_console

    gb = 1e9
    d = data["decode"]
    table = Table(title=f"{escape(data['variant'])}: serving budget", header_style="bold", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    mem_max = data["memory_max_context"]
    rows = [
        ("memory budget", f"{data['memory_budget'] / gb:,.1f} GB"),
        (f"weights ({escape(data['dtype'])})", f"{data['weights_bytes'] / gb:,.2f} GB"),
        (f"KV cache per token ({escape(data['kv_dtype'])})", f"{data['kv_cache_bytes_per_token']:,} B"),
        (f"max context (batch {data['batch']})", f"{data['max_context']:,} tokens  [limited by {data['limited_by']}]"),
        ("memory-only max context", "unbounded (sliding cache)" if mem_max is None else f"{mem_max:,} tokens"),
        (f"max batch at context {data['context']:,}", f"{data['max_batch_at_context']:,}"),
        (
            f"decode bound on {escape(d['device'])} (batch {d['batch']}, context {d['context']:,})",
            f"{d['tokens_per_s']:,.1f} tokens/s  [{d['bound']}-bound]",
        ),
        ("  bandwidth limit / compute limit", f"{d['tokens_per_s_bandwidth']:,.1f} / {d['tokens_per_s_compute']:,.1f}"),
        ("  bytes / FLOPs per step", f"{d['bytes_per_step'] / gb:,.2f} GB / {d['flops_per_step']:.3g}"),
    ]
    for what, value in rows:
        table.add_row(what, value)
    console = term_console()
    console.print(table)
    if data["limited_by"] == "weights":
        console.print(
            f"[bold red]the {escape(data['dtype'])} weights alone do not fit in the budget[/bold red] "
            "(the roofline assumes they did)"
        )
    elif not data["fits"]:
        console.print(
            f"[bold red]{data['batch']} sequence(s) of {data['context']:,} tokens do not fit in the "
            "budget[/bold red] (the roofline assumes they did)"
        )


# ------------------------------------------------------------- calibrate
def calibrate(
    *, matmul_size: int = 2048, copy_bytes: int = 256 * 2**20, repeats: int = 5, threads: int | None = None
) -> dict:
    """Measure this machine with torch: best-of-`repeats` fp32 matmul FLOP/s and copy bandwidth
    (bytes read + written per second)."""
    import os

    import torch

    from suite.threads import pinned_threads

    n = matmul_size
    with pinned_threads(threads, unset="keep"):
        a, b = torch.randn(n, n), torch.randn(n, n)
        torch.mm(a, b)  # warm-up (allocations, thread pool)
        best_mm = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
        src = torch.empty(copy_bytes // 4, dtype=torch.float32).fill_(1.0)
        dst = torch.empty_like(src)
        dst.copy_(src)
        best_copy = min(_timed(lambda: dst.copy_(src)) for _ in range(repeats))
        used = torch.get_num_threads()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 0
    return {
        "name": "local",
        "peak_flops": 2 * n**3 / best_mm,
        "bandwidth": 2 * src.nbytes / best_copy,
        "memory": memory,
        "note": f"measured by archbench calibrate: fp32 {n}x{n} matmul, {copy_bytes / 2**20:.0f} MiB copy, "
        f"{used} threads",
        "threads": used,
        "matmul_seconds": best_mm,
        "copy_seconds": best_copy,
    }


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return max(time.perf_counter() - start, 1e-9)  # a zero reading would make an infinite rate
