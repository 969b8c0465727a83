"""Terminal output shared by the commands."""

from __future__ import annotations

import sys


def console():
    """A rich console that does not wrap tables to 80 columns when piped (CI logs, `| less`)."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)
