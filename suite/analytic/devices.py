"""Device presets for the serving budget: data-sheet peak FLOP/s, memory bandwidth, memory (in the
binary units GPUs are sold in) and the link tensor parallelism uses; files from `archbench calibrate`.

Each preset's figures carry their source beside them. A device without a GPU-to-GPU link (Apple
unified memory) only runs alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from suite.analytic import serving
from suite.config import ConfigError


@dataclass(frozen=True)
class Device:
    name: str
    peak_flops: float  # dense matmul FLOP/s (bf16 tensor cores on GPUs)
    bandwidth: float  # memory bandwidth, bytes/s
    memory: int  # bytes of device memory
    note: str = ""
    # GPU-to-GPU link for tensor parallelism (suite.analytic.serving.LINKS); None: a single device that
    # cannot be ganged (Apple silicon), so --gpus above 1 is refused rather than given an invented link
    link: str | None = "pcie4"


# Vendor data-sheet peaks (dense, no sparsity). Quantised weights are assumed to be de-quantised to
# bf16 for the product (weight-only quantisation), so the bf16 peak applies to every format.
_APPLE = "unified; fp32 GPU peak (no bf16 figure published); macOS lets the GPU wire ~3/4 of it by default"
DEVICES: dict[str, Device] = {
    "h100": Device("h100", 989.4e12, 3.35e12, 80 * 2**30, "H100 SXM5 80GB: bf16 dense, HBM3", "nvlink4"),
    "a100": Device("a100", 312e12, 2.039e12, 80 * 2**30, "A100 SXM4 80GB: bf16 dense, HBM2e", "nvlink3"),
    "a100-40": Device("a100-40", 312e12, 1.555e12, 40 * 2**30, "A100 SXM4 40GB: bf16 dense, HBM2", "nvlink3"),
    "h200": Device("h200", 989.4e12, 4.8e12, 141 * 10**9, "H200 SXM 141GB: bf16 dense, HBM3e", "nvlink4"),
    "b200": Device("b200", 2.25e15, 8e12, 180 * 10**9, "B200 (HGX, 180GB): bf16 dense, HBM3e", "nvlink5"),
    "mi300x": Device(
        "mi300x", 1307.4e12, 5.3e12, 192 * 2**30, "AMD Instinct MI300X 192GB: bf16 dense, HBM3", "infinity-fabric"
    ),
    "l40s": Device("l40s", 362.05e12, 864e9, 48 * 2**30, "L40S 48GB: bf16 dense, GDDR6"),
    "l4": Device("l4", 121e12, 300e9, 24 * 2**30, "L4 24GB: bf16 dense, GDDR6"),
    "rtx4090": Device(
        "rtx4090", 165.2e12, 1.008e12, 24 * 2**30, "GeForce RTX 4090: bf16 tensor (fp32 accumulate) dense, GDDR6X"
    ),
    # 32 GB GDDR7, 1,792 GB/s, PCIe 5.0 x16 (no NVLink): https://www.spheron.network/blog/nvidia-rtx-5090-specs/
    # 209.5 TFLOPS dense 16-bit tensor, fp32 accumulate (the 838 TFLOPS headline is fp16-accumulate with 2:4
    # sparsity, 4x this): https://www.codesota.com/hardware/rtx-5090
    "rtx5090": Device(
        "rtx5090", 209.5e12, 1.792e12, 32 * 2**30, "GeForce RTX 5090: bf16 tensor (fp32 acc) dense, GDDR7", "pcie5"
    ),
    # Apple silicon: the whole unified memory (binary GB as sold); macOS lets the GPU wire only ~3/4 of it by
    # default (Metal's recommendedMaxWorkingSetSize; `sudo sysctl iogpu.wired_limit_mb=...` raises it:
    # https://github.com/AlexsJones/llmfit/pull/754), so give --memory for that. No bf16 figure is published:
    # the peak is the fp32 GPU figure (fp16 runs at the same rate). No link: no tensor parallelism over Macs.
    # M4 Max 16-core CPU / 40-core GPU, up to 128 GB, 546 GB/s:
    #   http://www.notebookcheck.net/Apple-M4-Max-official-with-incremental-upgrades-over-the-M3-Max.911098.0.html
    # 18.4 TFLOPS fp32 (40 cores) from Hugging Face's hardware table; Apple gives no TFLOPS for the M4 family:
    #   https://github.com/huggingface/huggingface.js/pull/1044
    "m4-max": Device("m4-max", 18.4e12, 546e9, 128 * 2**30, f"Apple M4 Max 40-core GPU, 128GB: {_APPLE}", None),
    # M2 Ultra 76-core GPU: 27.2 TFLOPS and up to 192 GB (Apple, Mac Pro page:
    # https://www.apple.com/pl/mac-pro/, stored at https://nakenako.serv00.net/https-www.apple.com/pl/mac-pro);
    # 800 GB/s: https://propakistani.pk/2023/06/06/apple-m2-ultra-chip-unveiled-for-mac-pro-and-mac-studio/
    "m2-ultra": Device("m2-ultra", 27.2e12, 800e9, 192 * 2**30, f"Apple M2 Ultra 76-core GPU, 192GB: {_APPLE}", None),
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
            base.link,  # new numbers for the chip do not change how it is wired to the next one
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


def device_link(device: Device, gpus: int) -> serving.Link | None:
    """The link tensor parallelism all-reduces over; a device without one only runs alone."""
    if device.link is None:
        if gpus > 1:
            raise ConfigError(
                f"device {device.name} cannot be ganged: it has no GPU-to-GPU link for tensor parallelism, "
                f"so --gpus {gpus} cannot be modelled on it; use --gpus 1.",
                field="gpus",
            )
        return None
    return serving.get_link(device.link)
