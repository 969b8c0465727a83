"""`archbench` command line: thin; every command delegates to a module.

Each command is one `_add_<name>(subparsers)` function that sets `func`. Errors that users can
fix (bad YAML, unknown variant, bad flag values) are printed as one paragraph, exit code 2.
"""

from __future__ import annotations

import argparse
import sys

from suite.cli.catalogue import _add_budget, _add_calibrate, _add_import, _add_list, _add_show
from suite.cli.learn import _add_eval, _add_train
from suite.cli.runs import _add_compare, _add_report, _add_run, _add_table
from suite.config import ConfigError

COMMANDS = [
    _add_list,
    _add_show,
    _add_run,
    _add_table,
    _add_report,
    _add_budget,
    _add_calibrate,
    _add_import,
    _add_train,
    _add_eval,
    _add_compare,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archbench",
        description="archbench: measure what each decoder-only architecture choice buys "
        "(parameters, FLOPs, memory, latency, context scaling, quality).",
        epilog="Start with `archbench list`, then `archbench show gpt2-small`, then `archbench run`.",
    )
    from suite import __version__

    parser.add_argument("--version", action="version", version=f"archbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"archbench: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `archbench list | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("archbench: interrupted", file=sys.stderr)
        return 130
