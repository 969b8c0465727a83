"""The GPU this process sees, for the provenance of every row: name (with compute capability and
memory), NVIDIA driver, the CUDA version torch was built with, and the SDPA backends torch may pick.

Every field is an empty string on a machine without CUDA, so a CPU run's provenance has the same
columns. Nothing here may stop a run: a field that cannot be read says "unknown".
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

FIELDS = ("gpu_name", "gpu_driver", "cuda_version", "sdpa_backends")

# torch tries the enabled backends in this order and takes the first that supports the inputs
# (flash needs sm80+ and fp16/bf16), so the list says what was allowed, not which one ran.
SDPA_FLAGS = (
    ("flash", "flash_sdp_enabled"),
    ("mem_efficient", "mem_efficient_sdp_enabled"),
    ("cudnn", "cudnn_sdp_enabled"),
    ("math", "math_sdp_enabled"),
)


def sdpa_backends(torch: Any) -> str:
    """The enabled SDPA backends, comma-separated (a flag this torch lacks is left out)."""
    flags = torch.backends.cuda
    return ",".join(name for name, fn in SDPA_FLAGS if hasattr(flags, fn) and getattr(flags, fn)())


def driver_version() -> str:
    """The NVIDIA driver (e.g. 550.54.15) from nvidia-smi; torch does not expose it. One query of
    a few hundred ms per run, and "unknown" when the tool is missing, fails or hangs."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return "unknown"
    try:
        out = subprocess.run(
            [exe, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    lines = out.stdout.strip().splitlines()
    # one line per GPU; a machine has one driver, so the first line is the answer
    return lines[0].strip() if out.returncode == 0 and lines else "unknown"


def describe() -> dict[str, str]:
    """The provenance fields of `FIELDS` for the current CUDA device, or empty strings."""
    empty = dict.fromkeys(FIELDS, "")
    try:
        import torch
    except ImportError:
        return empty
    if not torch.cuda.is_available():
        return empty
    try:
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        name = f"{props.name} (sm_{props.major}{props.minor}, {props.total_memory / 2**30:.1f} GiB)"
    except (RuntimeError, AssertionError):  # a device that is listed but cannot be initialised
        name = "unknown"
    return dict(
        gpu_name=name,
        gpu_driver=driver_version(),
        cuda_version=torch.version.cuda or "unknown",
        sdpa_backends=sdpa_backends(torch),
    )
