"""`archbench` command line: thin; every command delegates to a module.

Each command is one `_add_<name>(subparsers)` function that sets `func`. Errors that users can
fix (bad YAML, unknown variant, bad flag values, unreadable files) are printed as one paragraph,
exit code 2. Anything else is a bug: one line and exit code 3 (`--debug` shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys

from suite.cli.catalogue import _add_budget, _add_calibrate, _add_import, _add_list, _add_show
from suite.cli.compare import _add_compare
from suite.cli.learn import _add_eval, _add_train
from suite.cli.runs import _add_report, _add_run, _add_table
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
    parser.add_argument(
        "--debug", action="store_true", help="show the Python traceback of an unexpected error (anywhere on the line)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


INTERNAL_ERROR = 3  # exit status of the last-resort handler: a bug in archbench, never a user error


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug anywhere on the line (or ARCHBENCH_DEBUG=1): show the traceback of an unexpected error
    debug = "--debug" in argv or os.environ.get("ARCHBENCH_DEBUG") == "1"
    argv = [a for a in argv if a != "--debug"]
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
    except (Exception, MemoryError, RecursionError) as exc:  # noqa: BLE001 - the last resort: one line, not a traceback
        if debug:
            raise
        text = " ".join(str(exc).split())[:300]
        print(
            f"archbench: internal error: {type(exc).__name__}: {text} "
            f"(this is a bug in archbench; re-run with --debug for the traceback)",
            file=sys.stderr,
        )
        return INTERNAL_ERROR
