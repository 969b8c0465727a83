"""Running planned cells: the results store, the cache, resume; `run_suite` is `archbench run` as a library call.

Running one cell (subprocesses, timeouts, memory caps) lives in `suite.run.executors`; suite files in
`suite_file`, planning in `plan`, cell ids in `versioning`, progress in `progress`. Writing the report
is the caller's business (`suite.cli`).

Cache
    Before running, the runner reads `DIR/results.jsonl`: a cell whose latest attempt there is `ok`
    is skipped, so re-running any command only computes new or changed cells (failed cells are
    retried); `force` recomputes everything.

Folder
    `--out` is checked writable before any work and locked (flock) while a run writes it; run.json is
    read strictly and written atomically (`suite.run.folder`).

Resume
    Rows are appended (and fsync'ed) cell by cell, so a killed run loses at most the cells in flight.
    Because of the cache, simply re-running the same command already continues where it stopped.
    `resume` additionally reuses the interrupted run's arguments and run id (stored in
    `DIR/run.json`), so the finished run reads as one run, and within it cells that already ended in
    error/oom/timeout are not retried (a resumed forced run does not redo what it already forced).
    An argument given with `resume` must equal the recorded one (only `jobs` may differ; the executor
    and its address are how, not what: they are the ones given now). `changed_since` is recorded as
    the commit it named, so a resumed run compares with the same commit.

Changed variants
    `changed_since=REF` keeps the planned cells of the variants whose resolved definition (or
    component code) changed in git since REF (`suite.run.changes`); the selection and why are told
    on stderr and recorded in run.json (`selection`).

Isolation
    Cells of probes registered with `isolate=True` run in a fresh subprocess with a timeout and an
    optional address-space cap; others in-process, unless they have a cap (a limit of a whole
    process). With `jobs > 1` every cell runs in its own subprocess, N at a time (concurrent cells
    disturb each other's timings: use it for analytic and quality work, not for latency numbers).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from suite.isolation import kill_all
from suite.metrics import metric_unit_and_direction
from suite.results import ResultStore, make_row, new_attempt, new_run_id, provenance, read_jsonl, write_parquet
from suite.run.changes import changed_variants, narrow, repository, resolve_ref
from suite.run.executors import Cell, Executor, Outcome, SequentialExecutor, make_executor
from suite.run.folder import (
    FolderLock,
    prepare,
    read_run_file,
    resumed_args,
    write_run_file,
)
from suite.run.plan import make_plan
from suite.run.progress import make_progress
from suite.run.suite_file import DEFAULT_SUITE, load_suite, parse_bytes


@dataclass
class RunSummary:
    run_id: str
    out: Path
    planned: int
    cached: int
    ran: int
    statuses: dict[str, int]
    seconds: float
    notes: list[str] = field(default_factory=list)

    def failures(self) -> int:
        return sum(n for s, n in self.statuses.items() if s != "ok")


def _point_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Cell settings a row inherits: scalars. A list is a sweep the probe expands itself, and each
    of its rows records its own point (e.g. contexts [64, 128] -> context=64 on one row)."""
    return {k: v for k, v in settings.items() if not isinstance(v, (list, tuple, dict))}


def outcome_rows(cell: Cell, outcome: Outcome, *, run_id: str, prov: dict) -> list[dict]:
    """Tidy rows of one finished cell. A probe can mark a row of an ok cell as failed with its
    `status` ("oom" | "error" | "timeout") and `error` (e.g. one context out of a sweep)."""
    cell_cols = dict(
        run_id=run_id,
        cell_id=cell.cell_id,
        variant=cell.variant,
        family=cell.family,
        scale=cell.scale,
        probe=cell.probe,
    )
    items: list[dict] = []
    if outcome.status == "ok":
        inherited = _point_settings(cell.settings)
        for r in outcome.rows:
            unit, lower = metric_unit_and_direction(r["metric"], r.get("unit") or "", r.get("lower_is_better"))
            status = r.get("status") or "ok"
            items.append(
                dict(
                    metric=r["metric"],
                    value=r.get("value"),
                    unit=unit,
                    lower_is_better=lower,
                    status=status,
                    error=str(r.get("error") or "") if status != "ok" else "",
                    settings={**inherited, **(r.get("settings") or {})},
                    extra=dict(r.get("extra") or {}),
                )
            )
        if not items:  # keeps the cell cached although the probe had nothing to say about it
            items.append(dict(metric="", value=None, settings=inherited, extra={"note": "probe returned no rows"}))
    else:
        items.append(dict(metric="", value=None, status=outcome.status, error=outcome.error, settings=cell.settings))
    book = dict(attempt=new_attempt(), cell_rows=len(items), cell_seconds=round(outcome.seconds, 4))
    return [make_row(cell=cell_cols, bookkeeping=book, prov=prov, **item) for item in items]


def _done_cells(store: ResultStore, run_id: str) -> tuple[set[str], set[str]]:
    """(cells whose latest attempt is ok, cells already attempted in run `run_id`)."""
    ok, this_run = set(), set()
    for r in store.records():
        if r.get("status") == "ok":
            ok.add(r.get("cell_id"))
    for r in read_jsonl(store.path, latest=False):
        if r.get("run_id") == run_id:
            this_run.add(r.get("cell_id"))
    return ok, this_run


def run_cells(
    cells: list[Cell],
    out: str | Path,
    *,
    executor: Executor | None = None,
    force: bool = False,
    run_id: str | None = None,
    progress=None,
    notes: list[str] | None = None,
) -> RunSummary:
    """Run the cells that are not cached in `out`, appending their rows as each finishes.

    With a given `run_id` (a resumed run), cells already attempted in that run are not repeated.
    """
    start = time.perf_counter()
    store = ResultStore(out)
    run_id = run_id or new_run_id()
    ok, this_run = _done_cells(store, run_id)
    skip = this_run if force else ok | this_run
    todo = [c for c in cells if c.cell_id not in skip]
    progress = progress or make_progress()
    executor = executor or SequentialExecutor()
    prov = provenance()
    statuses: dict[str, int] = {}
    progress.start(len(todo), len(cells) - len(todo))
    try:
        for cell, outcome in executor.run(todo):
            store.append(outcome_rows(cell, outcome, run_id=run_id, prov={**prov, **outcome.provenance}))
            statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
            progress.advance(cell, outcome)
    finally:
        progress.close()
        kill_all()
    return RunSummary(
        run_id=run_id,
        out=Path(out),
        planned=len(cells),
        cached=len(cells) - len(todo),
        ran=len(todo),
        statuses=statuses,
        seconds=time.perf_counter() - start,
        notes=list(notes or []),
    )


# ------------------------------------------------------------------ a whole run
# run.json keeps the arguments under the command line's names, so a resumed run reads older files too
_RESUMABLE = (
    "suite",
    "variants",
    "probes",
    "scale",
    "timeout",
    "memory_cap",
    "registry",
    "probe_module",
    "match_params",
    "changed_since",
    "force",
    "jobs",
)


def run_suite(
    suite: str | None = None,
    *,
    variants: Iterable[str] = (),
    probes: Iterable[str] | None = None,
    out: str | Path | None = None,
    scale: str | None = None,
    force: bool = False,
    resume: bool = False,
    jobs: int | None = None,
    timeout: float | None = None,
    memory_cap: str | int | None = None,
    probe_modules: Iterable[str] = (),
    registry_dirs: Iterable[str] = (),
    match_params: int | None = None,
    changed_since: str | None = None,
    executor: str = "local",
    address: str | None = None,
    progress=None,
) -> RunSummary:
    """Plan a suite (default: quick), run what is not cached into `out` (default results/<suite>),
    write the parquet copy; returns the summary. Planning notes and an interruption are told on stderr.

    With `resume`, what is not given here is taken from the interrupted run in `out`, and its run id too.
    `executor` is `local` (jobs) or `ray` (at `address`, default: a local Ray started for the run).
    """
    out = Path(out) if out else Path("results") / (suite or DEFAULT_SUITE)
    args = dict(
        suite=suite,
        variants=list(variants),
        probes=list(probes) if probes else None,
        scale=scale,
        timeout=timeout,
        memory_cap=memory_cap,
        registry=list(registry_dirs),
        probe_module=list(probe_modules),
        match_params=match_params,
        changed_since=resolve_ref(changed_since, repository()) if changed_since else None,
        force=force,
        jobs=jobs,
        executor=executor,
        address=address,
    )
    run_id = None
    if resume:
        previous = read_run_file(out)
        run_id = previous["run_id"]
        args = resumed_args(previous, args, _RESUMABLE, out)
    runner = make_executor(args["jobs"] or 1, executor, address)  # before any work: a missing Ray is exit 2
    prepare(out)
    with FolderLock(out):
        return _run_locked(out, args, run_id, progress, runner)


def _select_changed(plan, args: dict[str, Any]) -> dict[str, Any]:
    """Narrow the plan to the changed variants; what run.json records about the selection."""
    selection = changed_variants(args["changed_since"], args["registry"] or ())
    plan.cells, lines = narrow(plan.cells, selection)
    plan.notes.extend(lines)
    ran = sorted({c.variant for c in plan.cells})
    return dict(
        commit=selection.commit,
        variants=ran,
        new=[v for v in ran if v in selection.new],
        why={v: selection.changed[v] for v in ran},
        code=selection.code,
    )


def _run_locked(out: Path, args: dict[str, Any], run_id: str | None, progress, runner: Executor) -> RunSummary:
    plan = make_plan(
        load_suite(args["suite"] or DEFAULT_SUITE),
        variants=args["variants"] or None,
        probes=args["probes"] or None,
        scale=args["scale"],
        registry_dirs=args["registry"] or (),
        timeout=args["timeout"],
        memory_cap=parse_bytes(args["memory_cap"]),
        probe_modules=args["probe_module"] or (),
        match_params=args.get("match_params"),
    )
    selection = _select_changed(plan, args) if args.get("changed_since") else None
    moved = sum(1 for c in plan.cells if c.memory_cap and not c.isolate)
    if moved and (args["jobs"] or 1) <= 1:
        plan.notes.append(
            f"a memory cap applies only to a whole process: {moved} cell(s) of in-process probes run in a "
            "subprocess each so that it holds (slower to start)"
        )
    for note in plan.notes:
        print(f"archbench: {note}", file=sys.stderr)
    run_id = run_id or new_run_id()
    record = dict(
        run_id=run_id, status="running", started=time.strftime("%Y-%m-%dT%H:%M:%S%z"), args=args, cells=len(plan.cells)
    )
    if selection is not None:
        record["selection"] = selection
    write_run_file(out, record)
    try:
        summary = run_cells(
            plan.cells,
            out,
            executor=runner,
            force=bool(args["force"]),
            run_id=run_id,
            progress=progress,
            notes=plan.notes,
        )
    except KeyboardInterrupt:
        write_run_file(out, {**record, "status": "interrupted"})
        print(
            f"archbench: interrupted; finished cells are saved. Continue with: archbench run --out {out} --resume",
            file=sys.stderr,
        )
        raise
    write_run_file(out, {**record, "status": "finished"})
    if (out / "results.jsonl").exists():
        write_parquet(out)
    return summary
