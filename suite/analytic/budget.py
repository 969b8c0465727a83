"""Serving budget from the config alone: how long a context fits in memory, how many sequences fit at a
context, and the decode roofline (tokens/s bound by memory bandwidth and by compute) on a device.

Memory model: weights (in the model's released format unless told otherwise) + KV cache (batch x
per-sequence cache) + the engine's reserve (`suite.analytic.serving`: vLLM's 0.9 memory utilisation,
non-torch memory and one prefill chunk's activations; `reserve=0` for the bare arithmetic). With
`gpus` > 1, tensor parallelism: per GPU, weights / N and the KV heads it holds.

Roofline of one decode step at position L for a batch of B sequences:
  bytes  = weights read (MoE: only experts some sequence is routed to; not the unused embedding rows)
           + B x KV cache at L
  FLOPs  = B x analytic decode FLOPs ("useful" counting)
  tokens/s = B / (max(bytes / bandwidth, FLOPs / peak) + all-reduce time)   (per GPU under TP)
"""

from __future__ import annotations

import time
from dataclasses import asdict

from suite.analytic import costs, serving

# Device presets live in `devices`; re-exported here, where callers have always found them.
from suite.analytic.devices import DEVICES, Device, device_link, get_device  # noqa: F401 (re-exported)
from suite.config import ConfigError, ModelConfig


def default_kv_dtype(dtype: str) -> str:
    """Weights stored as fp32 / bf16 / fp16 keep their cache in the same type; quantised weight
    formats (fp8, int8, int4, mxfp4) are served with a bf16 cache unless told otherwise."""
    return dtype if dtype in ("fp32", "bf16", "fp16") else "bf16"


# -------------------------------------------------------------- capacity
def max_context(
    cfg: ModelConfig,
    memory: int,
    *,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    batch: int = 1,
    reserve: int = 0,
    gpus: int = 1,
) -> dict:
    """The longest context `batch` sequences can hold in `memory` bytes next to the weights.

    max_context: min(memory limit, the model's context_length); memory_max_context: the memory
    limit alone (None when the cache is bounded: every layer sliding); limited_by: memory |
    trained_context | weights (the weights alone do not fit: 0). With `gpus` > 1, `memory` and
    `reserve` are per GPU, which holds 1/gpus of the weights and its share of the KV heads.
    """
    if batch < 1:
        raise ConfigError(f"batch must be >= 1, got {batch}.", field="batch")
    kv_dtype = kv_dtype or default_kv_dtype(dtype)
    weights = costs.weights_bytes(cfg, dtype)
    split = serving.kv_split(cfg, gpus)
    free = memory - reserve - -(-weights // gpus)  # each GPU's share of the weights, rounded up
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
        return costs.kv_cache_bytes(cfg, L, kv_dtype, batch) * split <= free

    if free < 0 or not fits(1):
        # the weights alone fit, but not with the engine's reserve: say which
        short = "reserve" if reserve and memory - weights / gpus >= 0 else "weights"
        return {**out, "max_context": 0, "memory_max_context": 0, "limited_by": short}
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
    cfg: ModelConfig,
    memory: int,
    context: int,
    *,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    reserve: int = 0,
    gpus: int = 1,
) -> int:
    """How many sequences of `context` tokens fit next to the weights (0: not even one)."""
    kv_dtype = kv_dtype or default_kv_dtype(dtype)
    free = memory - reserve - -(-costs.weights_bytes(cfg, dtype) // gpus)
    per_seq = costs.kv_cache_bytes(cfg, context, kv_dtype) * serving.kv_split(cfg, gpus)
    return max(0, int(free // per_seq)) if per_seq else 0


# -------------------------------------------------------------- roofline
def decode_roofline(
    cfg: ModelConfig,
    device: Device,
    *,
    context: int,
    batch: int = 1,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    gpus: int = 1,
    efficiency: float = 1.0,
) -> dict:
    """Tokens/s bound of one decode step at position `context` for `batch` sequences; with `gpus`
    > 1 each GPU reads its share and the step pays the all-reduces over the device's link;
    `efficiency` scales peak and bandwidth (1.0: the bound)."""
    kv_dtype = kv_dtype or default_kv_dtype(dtype)
    # per GPU (integers: bytes and FLOPs are counts)
    weights = -(-costs.weights_bytes_read_per_step(cfg, dtype, batch) // gpus)
    cache = round(costs.kv_cache_bytes(cfg, context, kv_dtype, batch) * serving.kv_split(cfg, gpus))
    flops = -(-batch * costs.total(costs.decode_flops(cfg, context)) // gpus)
    t_bw = (weights + cache) / (device.bandwidth * efficiency)
    t_compute = flops / (device.peak_flops * efficiency)
    t_comm = serving.allreduce_seconds(cfg, batch, gpus, device_link(device, gpus))
    step = max(t_bw, t_compute) + t_comm
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
        "tokens_per_s": batch / step,
        "tokens_per_s_per_sequence": 1 / step,
        "bound": "bandwidth" if t_bw >= t_compute else "compute",
        "arithmetic_intensity": flops / (weights + cache),
        "gpus": gpus,
        "link": device.link if gpus > 1 else None,
        "allreduce_seconds_per_step": t_comm,
        "efficiency": efficiency,
    }


def report(
    cfg: ModelConfig,
    *,
    memory: int | None,
    memory_spelled: str = "",
    dtype: str | None = None,
    kv_dtype: str | None = None,
    batch: int = 1,
    context: int | None = None,
    device: Device,
    reserve: int | None = None,
    gpus: int = 1,
    prompt: int | None = None,
    efficiency: float = 1.0,
    price: float | None = None,
) -> dict:
    """Everything `archbench budget` prints: fit at the budget, the decode roofline, time to first
    token. `dtype` None: the model's released format; `reserve` None: the engine reserve
    (`suite.analytic.serving`); `memory` and `reserve` are per GPU."""
    memory = int(memory) if memory is not None else device.memory
    if not memory:
        raise ConfigError("no memory budget: give --memory (e.g. 80GB) or a device preset with memory.", field="memory")
    dtype_source = "--dtype" if dtype else ("the released format" if cfg.weight_format else "default (bf16)")
    dtype = dtype or cfg.weight_format or "bf16"
    reserve_parts = serving.engine_reserve(cfg, memory) if reserve is None else {"total": reserve, "given": reserve}
    reserve = reserve_parts["total"]
    if "given" in reserve_parts and reserve >= memory:  # an automatic reserve past the budget is a result
        raise ConfigError(
            f"--reserve ({reserve:,} bytes) leaves nothing of the {memory:,}-byte memory budget; "
            "give a reserve smaller than --memory.",
            field="reserve",
        )
    fit = max_context(cfg, memory, dtype=dtype, kv_dtype=kv_dtype, batch=batch, reserve=reserve, gpus=gpus)
    ctx = context if context is not None else max(1, fit["max_context"])
    if ctx < 1:
        raise ConfigError(f"context must be >= 1, got {ctx}.", field="context")
    kv = fit["kv_dtype"]
    fits_batch = max_batch(cfg, memory, ctx, dtype=dtype, kv_dtype=kv, reserve=reserve, gpus=gpus)
    roof = dict(context=ctx, dtype=dtype, kv_dtype=kv, gpus=gpus, efficiency=efficiency)
    out = {
        "variant": cfg.name,
        **fit,
        "dtype_source": dtype_source,
        "weights_format": costs.WEIGHT_FORMATS[dtype].note,
        "reserve_parts": reserve_parts,
        "gpus": gpus,
        "kv_cache_bytes_per_token": costs.kv_cache_bytes_per_token(cfg, kv),
        # what one more token costs once the context is past every sliding window (sliding layers: 0)
        "kv_cache_bytes_per_token_marginal": costs.kv_cache_bytes_per_token_long(cfg, kv),
        "context": ctx,
        "context_length": cfg.context_length,
        "max_batch_at_context": fits_batch,
        "fits": fits_batch >= batch,
        "device": asdict(device),
        "decode": decode_roofline(cfg, device, batch=batch, **roof),
    }
    out["decode_tokens_per_s"] = out["decode"]["tokens_per_s"]
    if fits_batch >= 1:
        at_max = decode_roofline(cfg, device, batch=fits_batch, **roof)
        out["decode_at_max_batch"] = {k: at_max[k] for k in ("batch", "tokens_per_s", "tokens_per_s_per_sequence")}
        if price is not None:  # $ per GPU-hour -> $ per million generated tokens at the max batch
            out["price_per_gpu_hour"] = price
            out["cost_per_million_tokens"] = price * gpus / 3600 / at_max["tokens_per_s"] * 1e6
    link = device_link(device, gpus)
    out["ttft"] = serving.time_to_first_token(
        cfg,
        prompt=min(prompt or ctx, cfg.context_length),
        peak=device.peak_flops * efficiency,
        bandwidth=device.bandwidth * efficiency,
        dtype=dtype,
        gpus=gpus,
        link=link,
    )
    out["assumptions"] = _assumptions(out, device, efficiency)
    if memory_spelled:  # how the budget was read: GB as on the card (binary), said first
        out["assumptions"].insert(
            0,
            f"memory {memory_spelled} = {memory:,} bytes per GPU (GPU memory is sold in "
            "binary units, as the device presets; give a plain number of bytes, e.g. 16e9, for a decimal budget)",
        )
    return out


def _assumptions(out: dict, device: Device, efficiency: float) -> list[str]:
    """The conditions every figure of the report holds under, said beside them."""
    said = [
        f"weights in {out['dtype']} ({out['dtype_source']}): {out['weights_format']}",
        f"KV cache in {out['kv_dtype']}; batch {out['batch']}; memory and reserve per GPU",
        f"device {device.name}: {device.note}; peak and bandwidth are data-sheet figures",
        "decode and time-to-first-token are rooflines (upper bounds on speed)"
        + (f", scaled by efficiency {efficiency:g}" if efficiency != 1.0 else ""),
    ]
    if "unused_fraction" in out["reserve_parts"]:
        said.append(
            f"engine reserve: {1 - serving.GPU_MEMORY_UTILIZATION:.0%} of memory unused (vLLM's default "
            f"gpu_memory_utilization), {serving.NON_TORCH_BYTES // 2**20} MiB non-torch memory, activations of "
            f"one {serving.PREFILL_CHUNK:,}-token prefill chunk; --reserve 0 for the bare arithmetic"
        )
    if out["gpus"] > 1:
        said.append(
            f"tensor parallel over {out['gpus']} GPUs: weights split, KV heads split (replicated below "
            f"{out['gpus']} heads), two all-reduces per layer over {serving.get_link(device.link).note}"
        )
    return said


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
