"""Running one cell, and executors that run many (processes are started by `suite.isolation`).

A cell runs in-process (`run_in_process`, timeout by SIGALRM, best effort: it cannot interrupt a
long C call) or, for probes registered with `isolate=True` and always under `ProcessPoolExecutor`,
in a fresh subprocess (`run_in_subprocess`: `suite.isolation` calling `suite.run.worker`) with a
wall-clock timeout and an optional address-space cap. Whatever happens to the probe (exception, MemoryError,
SIGKILL from the OOM killer, timeout) becomes an `Outcome` with a status; the run goes on.

An executor is anything with `run(cells) -> iterator of (cell, outcome)`: a distributed engine
only has to provide that, and never needs to know what a probe does (`suite.run.ray_executor`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import signal
import sys
import threading
import time
from concurrent import futures
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Protocol

from suite.config import ConfigError
from suite.isolation import IsolationFailure, call_isolated, is_oom_text, kill_all

DEFAULT_TIMEOUT_S = 600.0
PROBE_MODULES_ENV = "ARCHBENCH_PROBE_MODULES"  # extra probe modules (plugins, test fakes), os.pathsep-separated


@dataclass
class Cell:
    """One (variant at a scale, probe, settings) combination: everything a worker needs."""

    variant: str
    family: str
    scale: str
    probe: str
    settings: dict[str, Any]
    config: dict[str, Any]  # ModelConfig.to_dict() of the (proxied) variant
    isolate: bool = False
    timeout: float | None = DEFAULT_TIMEOUT_S
    memory_cap: int | None = None
    probe_modules: tuple[str, ...] = ()
    module: str = ""  # the module that registers the probe (workers import only it)
    cell_id: str = ""
    given: tuple[str, ...] = ()  # settings the suite / grid chose (shown in progress lines)
    # configs the probe `needs`, resolved by the planner (ModelConfig.to_dict()), given to it as keywords;
    # derived from the cell's config and settings, so not part of cell_id
    context: dict[str, dict] = field(default_factory=dict)

    def label(self) -> str:
        shown = ", ".join(f"{k}={self.settings[k]}" for k in self.given)
        return f"{self.variant}@{self.scale} {self.probe}" + (f" [{shown}]" if shown else "")


# ------------------------------------------------------------- probe modules
def import_probe_module(ref: str) -> None:
    """Import a module that registers probes: a dotted name or a path to a .py file."""
    if ref.endswith(".py") or os.sep in ref:
        path = Path(ref).resolve()
        name = f"archbench_probes_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}_{path.stem}"
        if name in sys.modules:
            return
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None or not path.exists():
            raise ConfigError(f"probe module file not found: {ref}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    else:
        importlib.import_module(ref)


def probe_module_refs(extra: Iterable[str] = ()) -> list[str]:
    """`--probe-module` values plus $ARCHBENCH_PROBE_MODULES; file paths made absolute."""
    refs = [r for r in os.environ.get(PROBE_MODULES_ENV, "").split(os.pathsep) if r] + list(extra)
    return [str(Path(r).resolve()) if r.endswith(".py") else r for r in dict.fromkeys(refs)]


IMPORT_FAILURES: dict[str, str] = {}  # built-in probe module -> why it failed to import


def load_probes(modules: Iterable[str] = ()) -> dict:
    """Register the built-in probe modules and `modules`. A built-in module that fails to import
    (e.g. half-written) is recorded in IMPORT_FAILURES rather than stopping probes that work;
    asking for one of its probes then fails with that reason. Extra modules must import."""
    from suite import probes

    for name in probes.PROBE_MODULES:
        module = f"{probes.__name__}.{name}"
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                IMPORT_FAILURES[name] = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - reported with the plan and with any cell that needs it
            IMPORT_FAILURES[name] = f"{type(exc).__name__}: {exc}"
    for ref in modules:
        import_probe_module(ref)
    return probes.PROBES


def ensure_probe(payload: dict) -> dict:
    """Register the probe a cell needs, importing as little as possible (a worker then pays only
    for its own probe family's imports)."""
    from suite import probes

    for ref in payload.get("probe_modules", ()):
        import_probe_module(ref)
    module = payload.get("module") or ""
    if payload["probe"] not in probes.PROBES and module.startswith(probes.__name__ + "."):
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - reported as the cell's error below
            IMPORT_FAILURES[module.rpartition(".")[2]] = f"{type(exc).__name__}: {exc}"
    if payload["probe"] not in probes.PROBES:
        load_probes()
    return probes.PROBES


def _import_failures_text() -> str:
    if not IMPORT_FAILURES:
        return ""
    return (
        " Probe modules that failed to import: "
        + "; ".join(f"{name} ({why})" for name, why in sorted(IMPORT_FAILURES.items()))
        + "."
    )


# -------------------------------------------------------------------- executing
@dataclass
class Outcome:
    status: str  # ok | error | oom | timeout
    rows: list[dict] = field(default_factory=list)  # Row fields as dicts (status ok)
    error: str = ""
    seconds: float = 0.0
    # where the cell ran when that is not this process's machine (a Ray worker): overrides the run's provenance
    provenance: dict[str, Any] = field(default_factory=dict)


class CellTimeout(Exception):
    pass


def _jsonable(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def _classify(exc: BaseException) -> str:
    return "oom" if isinstance(exc, MemoryError) or is_oom_text(str(exc)) else "error"


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def call_probe(payload: dict) -> Outcome:
    """Run one cell's probe in this process. Exceptions become an error/oom outcome."""
    from suite.config import ModelConfig

    start = time.perf_counter()
    try:
        registered = ensure_probe(payload)
        if payload["probe"] not in registered:
            raise KeyError(f"probe '{payload['probe']}' is not registered in this process.{_import_failures_text()}")
        spec = registered[payload["probe"]]
        cfg = ModelConfig.from_dict(dict(payload["config"]))
        context = {k: ModelConfig.from_dict(dict(v)) for k, v in (payload.get("context") or {}).items()}
        rows = spec.fn(cfg, dict(payload["settings"]), **context)
        if not isinstance(rows, (list, tuple)):
            raise TypeError(f"probe '{spec.name}' returned {type(rows).__name__}, expected a list of Row")
        out = []
        for row in rows:
            if not is_dataclass(row) or not hasattr(row, "metric"):
                raise TypeError(f"probe '{spec.name}' returned {row!r}, expected Row objects")
            out.append(json.loads(json.dumps(asdict(row), default=_jsonable)))
        return Outcome("ok", out, seconds=time.perf_counter() - start)
    except CellTimeout as exc:
        return Outcome("timeout", error=str(exc), seconds=time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - a probe's failure is a result, not the runner's crash
        return Outcome(_classify(exc), error=_error_text(exc), seconds=time.perf_counter() - start)


def run_in_process(cell: Cell) -> Outcome:
    """Non-isolated cells: in this process, with a SIGALRM timeout when on the main thread."""
    payload = _payload(cell)
    use_alarm = (
        bool(cell.timeout) and threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    )
    if not use_alarm:
        return call_probe(payload)

    def on_alarm(signum, frame):
        raise CellTimeout(f"exceeded the per-cell timeout of {cell.timeout:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, float(cell.timeout))
    try:
        return call_probe(payload)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _payload(cell: Cell) -> dict:
    return dict(
        probe=cell.probe,
        config=cell.config,
        settings=cell.settings,
        module=cell.module,
        probe_modules=list(cell.probe_modules),
        memory_cap=cell.memory_cap,
        context=cell.context,
    )


def run_in_subprocess(cell: Cell) -> Outcome:
    """A fresh Python running `suite.run.worker`; crashes, kills and timeouts become outcomes."""
    start = time.perf_counter()
    try:
        data = call_isolated(
            "suite.run.worker:run",
            _payload(cell),
            setup="suite.run.worker:prepare",
            timeout=cell.timeout,
            memory_cap=cell.memory_cap,
            label="worker",
            own_group=True,
        )
    except IsolationFailure as exc:
        seconds = time.perf_counter() - start
        if exc.kind == "timeout":
            return Outcome("timeout", error=f"exceeded the per-cell timeout of {cell.timeout:g} s", seconds=seconds)
        return Outcome("error" if exc.kind == "crashed" else exc.kind, error=str(exc), seconds=seconds)
    return Outcome(data["status"], data.get("rows", []), data.get("error", ""), time.perf_counter() - start)


def run_cell(cell: Cell, *, subprocess_always: bool = False) -> Outcome:
    """A cell with a memory cap runs in a subprocess even if its probe is not isolated: RLIMIT_AS can
    only be set on a whole process, and a cap that silently did nothing would be worse than none."""
    try:
        isolated = cell.isolate or subprocess_always or bool(cell.memory_cap)
        return run_in_subprocess(cell) if isolated else run_in_process(cell)
    except Exception as exc:  # noqa: BLE001 - e.g. no process could be started: one cell fails, not the run
        return Outcome("error", error=f"runner: {_error_text(exc)}")


class Executor(Protocol):
    """Runs cells and yields (cell, outcome) as they finish. The only thing a distributed engine
    has to provide; it never needs to know what a probe does."""

    def run(self, cells: list[Cell]) -> Iterator[tuple[Cell, Outcome]]: ...


class SequentialExecutor:
    def run(self, cells: list[Cell]) -> Iterator[tuple[Cell, Outcome]]:
        for cell in cells:
            yield cell, run_cell(cell)


class ProcessPoolExecutor:
    """Up to `jobs` cells at once, each in its own worker subprocess (threads only babysit)."""

    def __init__(self, jobs: int):
        self.jobs = max(1, int(jobs))

    def run(self, cells: list[Cell]) -> Iterator[tuple[Cell, Outcome]]:
        pool = futures.ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="archbench-cell")
        pending = {pool.submit(run_cell, cell, subprocess_always=True): cell for cell in cells}
        try:
            for done in futures.as_completed(pending):
                yield pending[done], done.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            kill_all()


EXECUTORS = ("local", "ray")


def make_executor(jobs: int = 1, kind: str = "local", address: str | None = None) -> Executor:
    """`local`: in this process, or `jobs` subprocesses at once; `ray`: Ray tasks (the optional extra),
    on a local Ray or the cluster at `address`."""
    if kind == "ray":
        from suite.run.ray_executor import RayExecutor

        return RayExecutor(address)
    if kind != "local":
        raise ConfigError(f"unknown executor '{kind}'; choose one of: {', '.join(EXECUTORS)}.")
    if address:
        raise ConfigError("--address names a Ray cluster; give it with --executor ray.")
    return SequentialExecutor() if jobs <= 1 else ProcessPoolExecutor(jobs)
