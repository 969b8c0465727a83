"""Numbers as people read them and sizes as people write them: the one formatter and the one size parser."""

from __future__ import annotations

import math
import re
from typing import Any

from suite.config import ConfigError

_BINARY = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))
_SI = (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3))
_SI_FLOP = (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3))


def format_value(value: Any, unit: str = "", *, trim: bool = False) -> str:
    """A number as a person reads it: '1.50 GiB', '124M', '12.3 ms', '87.5%', '2.10 GFLOP'.
    With `trim`, trailing zeros go ('2 GiB'): used for axis ticks."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "—"
    if math.isinf(x):
        return "∞"
    digits = (lambda v: sig(v, trim=True)) if trim else sig
    unit = unit or ""
    u = unit.lower()
    if u in ("bytes", "byte", "b"):
        for name, size in _BINARY:
            if abs(x) >= size:
                return f"{digits(x / size)} {name}"
        return f"{x:.0f} B"
    if u in ("flop", "flops"):
        for name, size in _SI_FLOP:
            if abs(x) >= size:
                return f"{digits(x / size)} {name}FLOP"
        return f"{digits(x)} FLOP"
    if u in ("fraction", "accuracy", "acc"):
        return f"{x * 100:.0f}%" if trim else f"{x * 100:.1f}%"
    if u in ("ratio", "x", "×"):
        return f"{digits(x)}×"
    if u in ("exponent", "bits/byte"):
        return digits(x)
    if u in ("count", "params", "parameters", "tokens", ""):
        for name, size in _SI:
            if abs(x) >= size:
                return f"{digits(x / size)}{name}" + (f" {unit}" if u == "tokens" and not trim else "")
        text = f"{x:.0f}" if x.is_integer() else digits(x)
        return text + (f" {unit}" if u == "tokens" and not trim else "")
    return f"{digits(x)} {unit}"


def sig(x: float, digits: int = 3, trim: bool = False) -> str:
    """`digits` significant figures without scientific notation for everyday magnitudes."""
    if x == 0:
        return "0"
    if abs(x) >= 10**digits:
        return f"{x:,.0f}"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(x)))))
    text = f"{x:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if trim and "." in text else text


_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


MAX_SIZE = 2**60


# GPU memory is sold in binary units (JEDEC): an "80GB" H100 has 80 GiB, a "16 GB" card 16 GiB, as
# the device presets hold. With `jedec`, a size written 16GB means 16 GiB; decimal bytes are written 16e9.
_JEDEC_POWER = {"k": 1, "kb": 1, "m": 2, "mb": 2, "g": 3, "gb": 3, "t": 4, "tb": 4}


# a number and a unit; signs, inf and nan are read so that the range check can say what is wrong with them
_SIZE_TEXT = re.compile(r"\s*([+-]?(?:[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?|inf|infinity|nan))\s*([a-z]*)\s*", re.IGNORECASE)


def jedec_reading(text) -> str:
    """How `parse_size(text, jedec=True)` reads a size whose unit is a decimal letter ('16GB read as 16 GiB'),
    '' when it reads it as written (binary units, plain bytes)."""
    m = _SIZE_TEXT.fullmatch(str(text))
    power = _JEDEC_POWER.get(m.group(2).lower()) if m else None
    return f"{str(text).strip()} read as {m.group(1)} {'KMGT'[power - 1]}iB" if power else ""


def parse_size(text, *, allow_zero: bool = False, jedec: bool = False) -> int:
    """'80GB' / '80G' (10^9), '8GiB' (2^30), '24e9', 24e9 -> bytes; `allow_zero` also takes 0 (a reserve);
    `jedec` reads the decimal letters as GPU makers do (16GB = 16 GiB, see `jedec_reading`).

    No pandas or torch here: the analytic figures import this and must come back in well under a second."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        size = float(text)
    else:
        m = _SIZE_TEXT.fullmatch(str(text))
        unit = m.group(2).lower() if m else None
        if unit not in _SIZE_UNITS:
            raise ConfigError(
                f"cannot read a memory size from {text!r}; write e.g. 80GB, 8GiB or 24e9.", field="memory"
            )
        power = _JEDEC_POWER.get(unit) if jedec else None
        size = float(m.group(1)) * (2 ** (10 * power) if power else _SIZE_UNITS[unit])
    if allow_zero and size == 0:
        return 0
    # 1e400GB is inf, 0 is nothing: a size must be positive and less than an exbibyte
    if not (math.isfinite(size) and 1 <= size <= MAX_SIZE):
        least = "0 or at least 1 byte" if allow_zero else "at least 1 byte"
        raise ConfigError(
            f"a memory size must be {least} and at most 1 EiB, got {text!r}; write e.g. 80GB or 8GiB.",
            field="memory",
        )
    return int(size)
