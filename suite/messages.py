"""How a value and an OS error read inside a one-paragraph error: one definition for every layer."""

from __future__ import annotations

import errno
from typing import Any

_OS_REASONS = {
    errno.ENOENT: "it does not exist",
    errno.EISDIR: "it is a directory, not a file",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ELOOP: "it is a symbolic link loop",
    errno.ENOSPC: "the disk is full",
    errno.EROFS: "the file system is read-only",
    errno.ENAMETOOLONG: "the path is too long",
}


def os_reason(exc: OSError) -> str:
    """'the disk is full', 'permission denied'...; the OS's own words for the rest."""
    return _OS_REASONS.get(exc.errno, exc.strerror or type(exc).__name__)


def shown(value: Any, n: int = 60) -> str:
    """`repr(value)`, cut to `n` characters: a 100 KB value must not become a 100 KB message."""
    text = repr(value)
    return text if len(text) <= n else text[: n - 1] + "…"
