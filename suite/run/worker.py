"""The child side of an isolated cell: what `suite.isolation` calls in a fresh Python for one cell.

`prepare` runs before the optional address-space cap: it imports the probe modules (and torch,
whose import reserves address space the probe did not ask for), so the cap is what the probe
itself may add. `run` then runs the probe and returns its outcome as a dict; a crash, a kill or a
timeout returns nothing, and the parent records that.
"""

from __future__ import annotations

from typing import Any

_LOAD_ERROR: list[str] = []  # why `prepare` could not load the probes (reported by `run`)


def prepare(payload: dict[str, Any]) -> None:
    from suite.run.executors import ensure_probe

    try:
        ensure_probe(payload)
    except Exception as exc:  # noqa: BLE001 - recorded as the cell's error
        _LOAD_ERROR.append(f"loading probes failed: {type(exc).__name__}: {exc}")
        return
    if payload.get("memory_cap"):
        try:
            import torch  # noqa: F401
        except ImportError:
            pass


def run(payload: dict[str, Any]) -> dict[str, Any]:
    from suite.run.executors import Outcome, call_probe

    outcome = Outcome("error", error=_LOAD_ERROR[0]) if _LOAD_ERROR else call_probe(payload)
    return dict(status=outcome.status, rows=outcome.rows, error=outcome.error, seconds=outcome.seconds)
