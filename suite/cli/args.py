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


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive number, got {text!r}")
    return value


def unit_interval(text: str) -> float:
    value = _number(text, float)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def fraction(text: str) -> float:
    value = _number(text, float)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value


def memory_size(text: str) -> int:
    """'80GB', '8GiB', '24e9' -> bytes (at least 1 byte, at most 1 EiB)."""
    from suite.config import ConfigError
    from suite.units import parse_size

    try:
        return parse_size(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(exc.reason) from None


def reserve_size(text: str) -> int:
    """A memory size, or 0 (nothing kept back)."""
    return 0 if text.strip() in ("0", "0B", "0GB") else memory_size(text)
