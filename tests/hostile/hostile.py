"""The hostile-input corpus harness: run the CLI in-process and assert the exact outcome.

Every corpus module (`test_hostile_*.py`) exposes `CASES`, a list of `pytest.param(...)`; its cases
either are accepted (exit 0) or are refused with exit 2 and one paragraph that names the file and
field. No case may reach the CLI's last-resort handler ("internal error", exit 3), print a
traceback, exit non-zero silently, or change files it was not asked to write.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path

from suite.cli import INTERNAL_ERROR, main


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out[-2000:]}\n--- stderr\n{self.err[-2000:]}"


def cli(*argv: str, cwd: str | os.PathLike | None = None) -> Outcome:
    """`archbench ARGV` in this process; argparse's SystemExit is an exit code like any other."""
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in argv])
            except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        os.chdir(old)
    return Outcome(int(code), out.getvalue(), err.getvalue())


def _no_crash(o: Outcome) -> None:
    assert o.code != INTERNAL_ERROR and "internal error" not in o.err, f"reached the last-resort handler:\n{o}"
    assert "Traceback (most recent call last)" not in o.err + o.out, f"printed a traceback:\n{o}"


def assert_rejected(o: Outcome, *needles: str) -> None:
    """Exit 2 with an error message that contains every needle (file name, field, expected value)."""
    _no_crash(o)
    assert o.code == 2, f"expected exit 2 (a clear error), got:\n{o}"
    message = o.err.strip()
    assert message, f"exit 2 without a message:\n{o}"
    assert "error" in message.lower(), f"the message does not say it is an error:\n{o}"
    for needle in needles:
        assert str(needle) in message, f"the error does not name {needle!r}:\n{o}"


def assert_accepted(o: Outcome) -> None:
    _no_crash(o)
    assert o.code == 0, f"expected exit 0, got:\n{o}"


def assert_exit(o: Outcome, code: int, *needles: str) -> None:
    """A specific non-zero exit (1: a gate failed) that must still say why."""
    _no_crash(o)
    assert o.code == code, f"expected exit {code}, got:\n{o}"
    assert o.err.strip() or o.out.strip(), f"exit {code} without a message:\n{o}"
    for needle in needles:
        assert str(needle) in o.err + o.out, f"the output does not name {needle!r}:\n{o}"


def snapshot(folder: str | os.PathLike) -> dict[str, str]:
    """Relative path -> sha256 of every file under `folder` (to check nothing was written or lost)."""
    root = Path(folder)
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
