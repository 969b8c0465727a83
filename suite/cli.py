"""`archbench` command line: thin; every command delegates to a module.

Each command is one `_add_<name>(subparsers)` function that sets `func`. Errors that users can
fix (bad YAML, unknown variant, bad flag values) are printed as one paragraph, exit code 2.
"""
from __future__ import annotations

import argparse
import json
import sys

from .config import ConfigError


def _registry_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--registry", action="append", default=[], metavar="DIR",
                   help="extra folder of variant YAML files (repeatable); same checks as the built-in ones")


def _scale_arg(p: argparse.ArgumentParser, default: str | None = None) -> None:
    p.add_argument("--scale", default=default, choices=["full", "tiny", "small", "base"],
                   help="analyse the full published size (default) or a CPU-runnable proxy (see README: proxy rule)")


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


# ---------------------------------------------------------------- list / show
def _add_list(sub) -> None:
    p = sub.add_parser("list", help="table of registered variants",
                       description="List every registered variant: family, parameters (total/active), context, key components.")
    _registry_arg(p)
    _scale_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--family", help="only this family")
    p.set_defaults(func=_cmd_list)


def _cmd_list(args) -> int:
    from .inspect import list_rows, render_list
    rows = list_rows(args.registry, family=args.family, scale=args.scale)
    if args.json:
        _print_json(rows)
    else:
        render_list(rows)
    return 0


def _add_show(sub) -> None:
    p = sub.add_parser("show", help="one variant: resolved config, field origins, parameter breakdown",
                       description="Show a variant (name, variant YAML path, HF config.json or checkpoint folder).")
    p.add_argument("name", nargs="?", help="variant name or path")
    _registry_arg(p)
    _scale_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--fields", action="store_true", help="list every config field with its default and exit")
    p.set_defaults(func=_cmd_show)


def _cmd_show(args) -> int:
    from .inspect import render_fields, render_show, show_data
    if args.fields:
        render_fields()
        return 0
    if not args.name:
        raise ConfigError("`archbench show` needs a variant name or path (see `archbench list`).")
    data = show_data(args.name, args.registry, scale=args.scale)
    if args.json:
        _print_json(data)
    else:
        render_show(data)
    return 0


COMMANDS = [_add_list, _add_show]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="archbench",
        description="archbench: measure what each decoder-only architecture choice buys "
                    "(parameters, FLOPs, memory, latency, context scaling, quality).",
        epilog="Start with `archbench list`, then `archbench show gpt2-small`, then `archbench run`.")
    from . import __version__
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


if __name__ == "__main__":
    sys.exit(main())
