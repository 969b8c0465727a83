"""`python -m suite.run.worker TASK.json RESULT.json`: run one cell in a fresh process.

The runner starts one of these per isolated cell. It imports the probe modules, then applies the
optional address-space cap (RLIMIT_AS, measured from this process's size after the imports, so the
cap is what the probe itself may add), runs the probe and writes its outcome to RESULT.json
(atomically). A crash, a kill or a timeout leaves no result file; the parent records that.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def _vm_size() -> int:
    """Current virtual size of this process in bytes (what RLIMIT_AS limits)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cap_memory(extra_bytes: int) -> None:
    import resource
    limit = _vm_size() + int(extra_bytes)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def main(argv: list[str]) -> int:
    task_path, result_path = Path(argv[0]), Path(argv[1])
    payload = json.loads(task_path.read_text())
    from suite.run.executors import Outcome, call_probe, ensure_probe
    outcome = None
    try:
        ensure_probe(payload)
    except Exception as exc:  # noqa: BLE001 - recorded as the cell's error
        outcome = Outcome("error", error=f"loading probes failed: {type(exc).__name__}: {exc}")
    if outcome is None:
        if payload.get("memory_cap"):
            try:   # import before the cap: torch's import reserves address space the probe did not ask for
                import torch  # noqa: F401
            except ImportError:
                pass
            cap_memory(payload["memory_cap"])
        outcome = call_probe(payload)
    data = dict(status=outcome.status, rows=outcome.rows, error=outcome.error, seconds=outcome.seconds)
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
