"""Arguments and output helpers shared by the commands."""

from __future__ import annotations

import argparse
import json
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
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
