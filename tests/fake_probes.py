"""Fake probes for the runner's tests: well-behaved, raising, memory-hungry, killed, slow.

Imported only by tests (`--probe-module tests/fake_probes.py` or `probe_modules=[...]`), so they
never appear in the real registry.
"""

from __future__ import annotations

import os
import signal
import time

from suite.probes import Row, probe


@probe("fake_ok", family="fake", defaults={"x": 1})
def fake_ok(config, settings):
    """A number that depends on the config and the settings."""
    return [
        Row(
            "fake_metric",
            float(config.d_model * config.n_layers * settings["x"]),
            unit="count",
            lower_is_better=True,
            extra={"samples": [1.0, 2.0]},
        )
    ]


@probe("fake_isolated", family="fake", isolate=True, defaults={"x": 1})
def fake_isolated(config, settings):
    return [
        Row("fake_metric", float(config.d_model * settings["x"]), unit="count", lower_is_better=True),
        Row("fake_pid", float(os.getpid()), settings={"row_level": "yes"}),
    ]


@probe("fake_raise", family="fake")
def fake_raise(config, settings):
    raise ValueError("boom from the fake probe")


@probe("fake_oom", family="fake", isolate=True, defaults={"bytes": 4 * 10**9})
def fake_oom(config, settings):
    """Touches more memory than the cell's cap allows (RLIMIT_AS): a MemoryError in the worker."""
    block = bytearray(settings["bytes"])
    block[::4096] = b"x" * len(block[::4096])
    return [Row("fake_metric", float(len(block)))]


@probe("fake_killed", family="fake", isolate=True)
def fake_killed(config, settings):
    """What the kernel's OOM killer does to a process."""
    os.kill(os.getpid(), signal.SIGKILL)


@probe("fake_sleep", family="fake", isolate=True, defaults={"seconds": 60.0})
def fake_sleep(config, settings):
    time.sleep(settings["seconds"])
    return [Row("fake_metric", 1.0)]


@probe("fake_slow", family="fake_slow", defaults={"seconds": 0.5, "x": 1})
def fake_slow(config, settings):
    """In-process and slow enough to be killed mid-run."""
    time.sleep(settings["seconds"])
    return [Row("fake_metric", float(config.d_model * settings["x"]), lower_is_better=True)]


@probe("fake_empty", family="fake")
def fake_empty(config, settings):
    return []


def retain_in_child(_payload):
    """For test_recall: whether `retain_freed_memory` applies in an isolated child (it should)."""
    from suite.isolation import retain_freed_memory

    return retain_freed_memory()
