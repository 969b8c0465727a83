"""The one subprocess-isolation helper: call `module:qualname` in a fresh Python, with a timeout and a memory cap.

`call_isolated(target, payload)` writes the payload to a task file and starts `python -m suite.isolation`,
which imports the target, optionally calls a `setup` function first (imports that must not count
against the cap), applies the address-space cap, calls `target(payload)` and writes its JSON-able
return value back (atomically). The caller gets that value, or an `IsolationFailure` whose `kind` is

- `error`: the function raised (the message is `Type: text`, a traceback is in `.details`);
- `oom`: it raised MemoryError or an allocator's out-of-memory error, or the process was killed by
  SIGKILL (what the kernel's OOM killer sends);
- `timeout`: it ran past the timeout and was killed;
- `crashed`: it exited without a result (another signal, a non-zero exit, `os._exit`).

The cap (RLIMIT_AS) is measured from the child's virtual size after its imports, so the cap is what
the work itself may add. Live children are tracked so an interrupted parent can kill them all
(`kill_all`). No torch here: the child imports only what its target needs.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
# Lower-case substrings of error messages that mean the allocator ran out (torch's CPU allocator
# says "can't allocate memory", CUDA "out of memory", C++ "bad_alloc").
OOM_MARKERS = ("out of memory", "can't allocate", "cannot allocate memory", "bad_alloc")
FAILURE_KINDS = ("error", "oom", "timeout", "crashed")
_IN_CHILD = False  # set in the child process, before the target runs


class IsolationFailure(RuntimeError):
    """The isolated call gave no result; `kind` is error | oom | timeout | crashed (see the module doc)."""

    def __init__(self, message: str, kind: str = "error", details: str = ""):
        super().__init__(message)
        self.kind = kind
        self.details = details  # the child's traceback, or the tail of its output


def is_oom_text(text: str) -> bool:
    return any(m in text.lower() for m in OOM_MARKERS)


# ---------------------------------------------------------------- parent side
_LIVE: dict[subprocess.Popen, bool] = {}  # running children -> started in their own group (to kill on interrupt)
_LIVE_LOCK = threading.Lock()


def _kill(proc: subprocess.Popen, group: bool) -> None:
    try:
        if group:
            os.killpg(proc.pid, signal.SIGKILL)  # the child's session: its own children die too
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def kill_all() -> None:
    """Kill every isolated child this process started that is still running."""
    with _LIVE_LOCK:
        procs = list(_LIVE.items())
    for proc, group in procs:
        _kill(proc, group)


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return ""
    return text[-limit:]


def call_isolated(
    target: str,
    payload: Any,
    *,
    timeout: float | None = None,
    memory_cap: int | None = None,
    setup: str | None = None,
    env: dict[str, str] | None = None,
    label: str = "subprocess",
    own_group: bool = False,
) -> Any:
    """`target(payload)` ("module:qualname") in a fresh interpreter; returns what it returned.

    `setup(payload)` runs first, before the `memory_cap` (bytes the work may add to the address
    space). `env` adds environment variables. `own_group` starts the child in its own session so
    that killing it also kills what it started (the run's cell workers); otherwise it stays in the
    caller's group and dies with it (a measurement inside a worker). `label` names the child in
    messages. Raises IsolationFailure.
    """
    with tempfile.TemporaryDirectory(prefix="archbench-iso-") as tmp:
        task, result, log = Path(tmp, "task.json"), Path(tmp, "result.json"), Path(tmp, "child.log")
        task.write_text(
            json.dumps(dict(target=target, payload=payload, setup=setup, memory_cap=memory_cap), default=str)
        )
        child_env = {**os.environ, **(env or {})}
        child_env["PYTHONPATH"] = os.pathsep.join(
            [str(_PACKAGE_ROOT)] + [p for p in child_env.get("PYTHONPATH", "").split(os.pathsep) if p]
        )
        with open(log, "wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-m", "suite.isolation", str(task), str(result)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=child_env,
                start_new_session=own_group,
            )
        with _LIVE_LOCK:
            _LIVE[proc] = own_group
        try:
            proc.wait(timeout=timeout or None)
        except subprocess.TimeoutExpired:
            _kill(proc, own_group)
            raise IsolationFailure(f"{label} exceeded {timeout:g} s", "timeout") from None
        except BaseException:
            _kill(proc, own_group)
            raise
        finally:
            with _LIVE_LOCK:
                _LIVE.pop(proc, None)
        if result.exists():
            data = json.loads(result.read_text())
            if "error" in data:
                raise IsolationFailure(data["error"], data.get("kind", "error"), data.get("traceback", ""))
            return data["result"]
        raise _no_result(proc.returncode, _tail(log), label)


def _no_result(rc: int, tail: str, label: str) -> IsolationFailure:
    log = f"; log: {tail}" if tail else ""
    if rc in (-signal.SIGKILL, 128 + signal.SIGKILL):
        return IsolationFailure(f"{label} killed by SIGKILL (most likely the out-of-memory killer){log}", "oom", tail)
    if rc < 0:
        try:
            name = signal.Signals(-rc).name
        except ValueError:
            name = f"signal {-rc}"
        return IsolationFailure(f"{label} killed by {name}{log}", "oom" if is_oom_text(tail) else "crashed", tail)
    return IsolationFailure(f"{label} exited with status {rc}{log}", "crashed", tail)


# ---------------------------------------------------------------- child side
def _vm_size() -> int:
    """Current virtual size of this process in bytes (what RLIMIT_AS limits)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cap_address_space(extra_bytes: int) -> None:
    """Let this process's address space grow by at most `extra_bytes` from now on."""
    import resource

    limit = _vm_size() + int(extra_bytes)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _resolve(ref: str):
    module, _, qualname = ref.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def retain_freed_memory() -> bool:
    """In an isolated child only (it changes the whole process's allocator, for good): have glibc malloc
    keep freed memory for reuse instead of handing it back to the OS at each free, so a training loop
    reuses its buffers instead of faulting in fresh zeroed pages every step (a recall training step:
    1,200-1,800 page faults -> 30-60, 1-3% faster). Never where memory is measured in the same
    process: its resident size would then keep the peak. Returns whether it applied."""
    if not _IN_CHILD or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    # 32 MiB: glibc's largest mmap threshold on 64-bit; smaller blocks come from the heap, trimmed only past 1 GiB
    return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))


def _child(task_path: str, result_path: str) -> int:
    # `python -m` runs this file as __main__: the flag is set on the module the target imports
    importlib.import_module("suite.isolation")._IN_CHILD = True
    task = json.loads(Path(task_path).read_text())
    try:
        fn = _resolve(task["target"])
        if task.get("setup"):
            _resolve(task["setup"])(task["payload"])
        if task.get("memory_cap"):
            cap_address_space(task["memory_cap"])
        out: dict[str, Any] = {"result": fn(task["payload"])}
    except MemoryError as exc:  # includes RLIMIT_AS refusals and torch's CPU "can't allocate"
        out = {"error": f"{type(exc).__name__}: {exc}", "kind": "oom"}
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
        text = f"{type(exc).__name__}: {exc}"
        out = {
            "error": text,
            "kind": "oom" if is_oom_text(text) else "error",
            "traceback": traceback.format_exc()[-3000:],
        }
    tmp = Path(result_path).with_suffix(".tmp")
    tmp.write_text(json.dumps(out, default=str))
    os.replace(tmp, result_path)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], sys.argv[2]))
