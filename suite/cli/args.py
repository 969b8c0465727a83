"""Arguments and output helpers shared by the commands."""

from __future__ import annotations

import argparse
import math
import sys


def _registry_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--registry",
        action="append",
        default=[],
        metavar="DIR",
        help="extra folder of variant YAML files (repeatable); same checks as the built-in ones",
    )


def _scale_arg(p: argparse.ArgumentParser, default: str | None = None) -> None:
    p.add_argument(
        "--scale",
        default=default,
        choices=["full", "tiny", "small", "base"],
        help="analyse the full published size (default) or a CPU-runnable proxy (see README: proxy rule)",
    )


_COUNT_UNITS = {"k": 10**3, "m": 10**6, "b": 10**9}


def param_count(text: str) -> int:
    """'1500000', '1.5M', '2e6', '800k' -> a whole number of parameters (1 to 10^10)."""
    raw = text.strip().lower().replace("_", "").replace(",", "")
    unit = _COUNT_UNITS.get(raw[-1:], 1)
    value = _number(raw[:-1] if unit != 1 else raw, float) * unit
    if not 1 <= value <= 10**10:
        raise argparse.ArgumentTypeError(f"must be between 1 and 10,000,000,000 parameters, got {text!r}")
    return int(round(value))


def _match_params_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--match-params",
        type=param_count,
        metavar="N",
        help="scale the proxy's width (then its MLP hidden size) so that its non-embedding active "
        "parameters are N within 5%% (e.g. 1.5M; implies --scale tiny unless another proxy scale is given)",
    )


def _print_json(obj) -> None:
    """Strict JSON on stdout: a non-finite number is null, never a bare NaN."""
    from suite.safeio import dumps

    sys.stdout.write(dumps(obj, indent=2) + "\n")


# ---------------------------------------------------------------- argument types
# argparse turns their ArgumentTypeError into "argument --jobs: must be ...", exit 2.
def _number(text: str, kind):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        wanted = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _ranged(kind, allowed, rule: str):
    """An argparse type: a finite `kind` for which `allowed(value)` holds, else 'must be <rule>'."""

    def check(text: str):
        value = _number(text, kind)
        if not allowed(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text!r}")
        return value

    return check


positive_int = _ranged(int, lambda v: v >= 1, "a positive integer")
nonnegative_int = _ranged(int, lambda v: v >= 0, "0 or a positive integer")
positive_float = _ranged(float, lambda v: v > 0, "a positive number")
nonnegative_float = _ranged(float, lambda v: v >= 0, "0 or a positive number")
unit_interval = _ranged(float, lambda v: 0 <= v <= 1, "between 0 and 1")
_efficiency = _ranged(float, lambda v: 0 < v <= 1, "above 0 and at most 1")


def at_most(limit: int, why: str, base=positive_int):
    """`base` with a ceiling: a value past it cannot be meant (and would run out of memory or time)."""

    def check(text: str) -> int:
        value = base(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"must be at most {limit:,} ({why}), got {text!r}")
        return value

    return check


def memory_size(text: str, *, allow_zero: bool = False, jedec: bool = False) -> int:
    """'80GB', '8GiB', '24e9' -> bytes (at least 1 byte, at most 1 EiB); `jedec`: see `units.parse_size`."""
    from suite.config import ConfigError
    from suite.units import parse_size

    try:
        return parse_size(text, allow_zero=allow_zero, jedec=jedec)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(exc.reason) from None


class GpuMemory(int):
    """A GPU memory budget in bytes that remembers how it was written (said beside the figures)."""

    spelled: str = ""


def gpu_memory(text: str) -> GpuMemory:
    """'16GB' -> 16 GiB (JEDEC, as GPU makers and the device presets), '16GiB' alike, '16e9' -> bytes."""
    from suite.units import jedec_reading

    size = GpuMemory(memory_size(text, jedec=True))
    size.spelled = jedec_reading(text)
    return size


def reserve_size(text: str) -> int | None:
    """A memory size, 0 in any spelling (0, 0B, 0GiB: nothing kept back), or 'auto' (None: the engine reserve)."""
    if text.strip().lower() == "auto":
        return None
    if memory_size(text, allow_zero=True) == 0:
        return 0
    return int(gpu_memory(text))  # per GPU, in the card's binary units like --memory
