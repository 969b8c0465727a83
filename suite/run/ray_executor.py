"""`archbench run --executor ray`: cells as Ray tasks, for a suite that outgrows one machine.

Ray is an optional extra (`pip install -e ".[ray]"`). The executor only has to honour the runner's
interface (`run(cells)` yields `(cell, outcome)` as cells finish), so the results store, the cache
and resume are the runner's, unchanged. A task runs `run_cell` on a Ray worker, exactly as the
local executor does (memory-capped and isolated cells in their own subprocess there).

Each task asks for what its cell needs: CPUs (the probe's `threads` setting, else 1), one GPU when
the cell's `device` is cuda, and its memory cap as Ray `memory`. A request no node of the cluster
can meet fails that cell at once instead of waiting forever.

A worker that dies (killed, crashed, lost with its node, or stopped by Ray's memory monitor) costs
the cell one retry; a second death records the cell as failed (`error`, or `oom` when Ray's memory
monitor killed it) with the reason, and the run goes on. Retries are counted here rather than by
Ray's `max_retries`, so the log can say which cells were retried.

The workers must be able to import `suite` (a local cluster shares this Python; on a remote cluster
install archbench on the nodes), and probe module files (`--probe-module x.py`) must exist at the
same path there.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any, Iterator

from suite.config import ConfigError
from suite.run.executors import Cell, Outcome

INSTALL_HINT = "pip install 'archbench[ray]' (or: pip install -e '.[ray]' in a checkout)"
MAX_RETRIES = 1
# exceptions of ray.exceptions that mean the worker (or its node) died, not that the probe failed
_WORKER_DIED = frozenset(
    {"WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError", "ObjectLostError", "OwnerDiedError"}
)
_KILLED_FOR_MEMORY = "OutOfMemoryError"


def import_ray():
    """The `ray` module, or the one-paragraph error naming the extra."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            f"--executor ray needs Ray, which is an optional extra and is not installed here ({exc}). "
            f"Install it with {INSTALL_HINT}, or run without --executor ray (the default local executor)."
        ) from None
    return ray


_WORKER_PROVENANCE: dict[str, Any] = {}  # per worker process: its git call and torch import once


def _run_cell_task(fields: dict[str, Any]) -> dict[str, Any]:
    """What a Ray worker runs: one cell, its outcome as a plain dict, with the provenance of the node
    it ran on (on a cluster, not the driver's machine)."""
    from datetime import datetime, timezone

    from suite.results import provenance
    from suite.run.executors import run_cell

    outcome = run_cell(Cell(**fields))
    if not _WORKER_PROVENANCE:
        _WORKER_PROVENANCE.update(provenance())
    outcome.provenance = {**_WORKER_PROVENANCE, "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return asdict(outcome)


def resources(cell: Cell) -> dict[str, Any]:
    """The Ray resource request of one cell."""
    threads = cell.settings.get("threads")
    cpus = threads if isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1 else 1
    device = str(cell.settings.get("device") or "cpu").lower()
    request: dict[str, Any] = dict(num_cpus=cpus, num_gpus=1 if device.startswith("cuda") else 0)
    if cell.memory_cap:
        request["memory"] = int(cell.memory_cap)
    return request


_RAY_NAMES = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}


def _unmet(request: dict[str, Any], nodes: list[dict]) -> str:
    """Why no alive node can ever run `request` ('' when one can)."""
    alive = [n.get("Resources") or {} for n in nodes if n.get("Alive", True)]
    for have in alive:
        if all(have.get(_RAY_NAMES[k], 0) >= v for k, v in request.items() if v):
            return ""
    wanted = ", ".join(
        f"{v / 2**30:.1f} GiB memory" if k == "memory" else f"{v} {_RAY_NAMES[k]}" for k, v in request.items() if v
    )
    return f"no node of the Ray cluster ({len(alive)} alive) offers {wanted} at once; the cell cannot be scheduled"


def _died(exc: BaseException) -> str | None:
    """'oom' / 'error' when `exc` says the worker died (worth a retry), None when the task itself failed."""
    names = {k.__name__ for k in type(exc).__mro__}
    if "RayTaskError" in names:  # raised inside the task: deterministic, a retry would fail the same way
        return None
    if _KILLED_FOR_MEMORY in names:
        return "oom"
    return "error" if names & _WORKER_DIED else None


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:400]}" if text else type(exc).__name__


class RayExecutor:
    """Cells as Ray tasks on a local Ray (started here and stopped after the run) or the cluster at `address`."""

    def __init__(self, address: str | None = None, *, ray_module=None, log=None):
        self.ray = ray_module or import_ray()
        self.address = address
        self.log = log or sys.stderr
        self.retried: list[str] = []  # cell ids whose worker died once (bookkeeping for the log and tests)

    def _connect(self) -> bool:
        """Join the running Ray (tests, notebooks), or start / connect one; True when we started it."""
        if self.ray.is_initialized():
            return False
        options: dict[str, Any] = dict(log_to_driver=False)
        if self.address is None:
            options["include_dashboard"] = False
        try:
            self.ray.init(address=self.address, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
            raise ConfigError(
                f"--executor ray could not start or reach {where}: {_reason(exc)}. Check --address (e.g. auto, "
                "or ray://HOST:10001), or that `ray start --head` runs there."
            ) from None
        return True

    def _submit(self, task, cell: Cell):
        return task.options(**resources(cell), max_retries=0, retry_exceptions=False).remote(asdict(cell))

    def run(self, cells: list[Cell]) -> Iterator[tuple[Cell, Outcome]]:
        if not cells:
            return
        ray = self.ray
        started = self._connect()
        task = ray.remote(_run_cell_task)
        nodes = ray.nodes()
        pending: dict[Any, tuple[Cell, int]] = {}
        unfit: list[tuple[Cell, Outcome]] = []
        try:
            for cell in cells:
                why = _unmet(resources(cell), nodes)
                if why:
                    unfit.append((cell, Outcome("error", error=f"ray: {why}")))
                else:
                    pending[self._submit(task, cell)] = (cell, 0)
            print(
                f"archbench: ray: {len(pending)} cells sent as tasks to a cluster of {len(nodes)} node(s)",
                file=self.log,
            )
            yield from unfit
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                cell, retries = pending.pop(done[0])
                outcome = self._collect(done[0], cell, retries)
                if outcome is None:
                    pending[self._submit(task, cell)] = (cell, retries + 1)
                else:
                    yield cell, outcome
        finally:
            for ref in pending:  # interrupted: nothing may keep running on the cluster for this run
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - already finished or gone
                    pass
            if started:
                ray.shutdown()

    def _collect(self, ref, cell: Cell, retries: int) -> Outcome | None:
        """The cell's outcome, or None when its worker died and it gets its retry."""
        try:
            data = self.ray.get(ref)
        except Exception as exc:  # noqa: BLE001 - a task's failure is the cell's result, not the run's crash
            status = _died(exc)
            if status is None:
                return Outcome("error", error=f"ray: the task failed: {_reason(exc)}")
            if retries < MAX_RETRIES:
                self.retried.append(cell.cell_id)
                print(
                    f"archbench: ray: the worker running {cell.label()} died ({_reason(exc)}); retrying once",
                    file=self.log,
                )
                return None
            return Outcome(
                status,
                error=f"ray: the worker died running this cell, and again on its retry: {_reason(exc)}",
            )
        return Outcome(**data)
