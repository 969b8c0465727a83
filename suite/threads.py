"""The one thread-pinning helper: how many intra-op threads torch uses while some work runs."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator


def default_threads() -> int:
    """All cores this process may use (affinity-aware where the OS tells us)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextmanager
def pinned_threads(n: int | None, *, unset: str = "all") -> Iterator[int]:
    """Run with exactly n intra-op threads, restored afterwards; yields the number in effect.

    With n None, `unset` says what happens: "all" (every core this process may use: what the
    measured probes want) or "keep" (leave torch's current number alone).
    """
    import torch  # here, not at the top: the define layer does not import torch

    if unset not in ("all", "keep"):
        raise ValueError(f"unset is 'all' or 'keep', got {unset!r}")
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    elif unset == "all":
        torch.set_num_threads(default_threads())
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
