"""Plan the variant × probe × settings matrix, cache, resume, report progress, `archbench run`.

Running a cell (subprocesses, timeouts, memory caps) lives in `suite.run.executors`; probes stay
plain functions `(config, settings) -> rows`.

Cells and the cache
    A cell is one (variant at a scale, probe, settings) combination. Its `cell_id` is a content
    hash of the resolved config, the probe name, its resolved settings and the code version
    (archbench's version plus a hash of the probe's own file and of the `suite/` modules it
    imports, found statically). Before running, the runner reads `DIR/results.jsonl`: a cell
    whose latest attempt there is `ok` is skipped, so re-running any command only computes new or
    changed cells (failed cells are retried); `--force` recomputes everything.

Resume
    Rows are appended (and fsync'ed) cell by cell, so a killed run loses at most the cells in flight.
    Because of the cache, simply re-running the same command already continues where it stopped.
    `--resume` additionally reuses the interrupted run's arguments and run id (stored in
    `DIR/run.json`), so the finished run reads as one run, and within it cells that already ended in
    error/oom/timeout are not retried (a resumed `--force` run does not redo what it already forced).

Isolation
    Cells of probes registered with `isolate=True` run in a fresh subprocess with a timeout and an
    optional address-space cap; others in-process. With `--jobs N > 1` every cell runs in its own
    subprocess, N at a time (concurrent cells disturb each other's timings: use it for analytic and
    quality work, not for latency numbers). See `suite.run.executors`.
"""
from __future__ import annotations

import ast
import fnmatch
import hashlib
import importlib.util
import itertools
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from suite.config import ConfigError
from suite.run.executors import (DEFAULT_TIMEOUT_S, IMPORT_FAILURES, Cell, Executor, Outcome, ProcessPoolExecutor,
                        SequentialExecutor, _import_failures_text, kill_workers, load_probes, make_executor,
                        probe_module_refs)
from suite.registry import data_dir
from suite.results import ResultStore, make_row, new_attempt, new_run_id, provenance, read_jsonl

SUITES_DIR = data_dir("suites")
DEFAULT_SUITE = "quick"
RUN_FILE = "run.json"

__all__ = ["Cell", "Outcome", "Executor", "SequentialExecutor", "ProcessPoolExecutor", "make_executor",
           "load_suite", "make_plan", "run_cells", "run_command", "parse_bytes"]


# ----------------------------------------------------------------------- sizes
def parse_bytes(text: str | int | float | None) -> int | None:
    """'512MB', '2GiB', 1e9 -> bytes; None stays None (one size parser: budget.parse_size)."""
    from suite.analytic.budget import parse_size
    return None if text is None else parse_size(text)


# ---------------------------------------------------------------------- suites
@dataclass
class ProbeEntry:
    """One `probes:` item of a suite: a probe (or every probe of a family) and its settings."""
    name: str
    by_family: bool = False
    settings: dict[str, Any] = field(default_factory=dict)       # the same for every cell
    grid: dict[str, list[Any]] = field(default_factory=dict)     # one cell per combination
    optional: bool = False      # skip (with a note) when no such probe is registered
    timeout: float | None = None
    memory_cap: int | None = None
    scale: str | None = None    # run this probe at this scale whatever the variants' (e.g. analytic: full)
    variants: list[str] | None = None  # run on these (names or globs like `ladder/*`), not the suite's list


@dataclass
class Suite:
    name: str
    file: str = ""
    description: str = ""
    scale: str = "tiny"
    timeout: float = DEFAULT_TIMEOUT_S
    memory_cap: int | None = None
    variants: list[tuple[str, str]] = field(default_factory=list)   # (name or path or "all", scale)
    probes: list[ProbeEntry] = field(default_factory=list)


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def load_suite(spec: str | Path) -> Suite:
    """A shipped suite by name (`quick`, `standard`, `full`) or a suite YAML file."""
    path = Path(spec)
    if not path.exists():
        path = SUITES_DIR / f"{spec}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown suite '{spec}'; shipped suites: {', '.join(suite_names())} "
                              f"(or give the path of a suite YAML file).")
    file = str(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML syntax error: {exc}", file=file) from None
    if not isinstance(data, dict):
        raise ConfigError("a suite file is a mapping with `variants:` and `probes:`.", file=file)
    known = {"description", "scale", "timeout", "memory_cap", "variants", "probes"}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown suite key; known: {', '.join(sorted(known))}.", file=file, field=str(key))
    suite = Suite(name=path.stem, file=file, description=str(data.get("description", "")),
                  scale=str(data.get("scale", "tiny")),
                  timeout=float(data.get("timeout", DEFAULT_TIMEOUT_S)),
                  memory_cap=parse_bytes(data.get("memory_cap")))
    for item in data.get("variants") or []:
        if isinstance(item, str):
            suite.variants.append((item, suite.scale))
        elif isinstance(item, dict) and "name" in item and set(item) <= {"name", "scale"}:
            suite.variants.append((str(item["name"]), str(item.get("scale", suite.scale))))
        else:
            raise ConfigError(f"a variant is a name or {{name: ..., scale: ...}}, got {item!r}.",
                              file=file, field="variants")
    for item in data.get("probes") or []:
        suite.probes.append(_probe_entry(item, file))
    return suite


def _probe_entry(item: Any, file: str) -> ProbeEntry:
    if isinstance(item, str):
        return ProbeEntry(name=item)
    if not isinstance(item, dict) or ("probe" in item) == ("family" in item):
        raise ConfigError(f"a probes item is a name or a mapping with exactly one of `probe:` / `family:`, "
                          f"got {item!r}.", file=file, field="probes")
    known = {"probe", "family", "settings", "grid", "optional", "timeout", "memory_cap", "scale", "variants"}
    for key in item:
        if key not in known:
            raise ConfigError(f"unknown key in a probes item; known: {', '.join(sorted(known))}.",
                              file=file, field=f"probes.{key}")
    grid = item.get("grid") or {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"a grid axis is a non-empty list of values, got {values!r}.",
                              file=file, field=f"probes.grid.{key}")
    return ProbeEntry(name=str(item.get("probe") or item.get("family")), by_family="family" in item,
                      settings=dict(item.get("settings") or {}), grid=dict(grid),
                      optional=bool(item.get("optional", False)),
                      timeout=None if item.get("timeout") is None else float(item["timeout"]),
                      memory_cap=parse_bytes(item.get("memory_cap")),
                      scale=None if item.get("scale") is None else str(item["scale"]),
                      variants=_name_list(item.get("variants"), file))


def _name_list(value: Any, file: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"expected a list of variant names or globs, got {value!r}.", file=file,
                          field="probes.variants")
    return value


# ---------------------------------------------------------------- code version
def _module_file(name: str) -> tuple[Path | None, bool]:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None, False
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None, False
    return Path(spec.origin), bool(spec.submodule_search_locations)


def _suite_imports(path: Path, package: str) -> set[str]:
    """Modules of `suite` that a file imports anywhere (also inside functions), by static reading."""
    names: set[str] = set()
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError):
        return names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "suite")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "suite":
                continue
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)   # `from . import attention`
    return names


# Modules that run, store or present results; they cannot change a probe's numbers (settings are
# hashed separately), so a probe importing e.g. `runner.parse_bytes` is not invalidated by a report edit.
_NOT_PROBE_CODE = {"suite.run.runner", "suite.run.executors", "suite.run.worker", "suite.results", "suite.analysis.aggregate",
                   "suite.report.terminal", "suite.report.html", "suite.cli"}


def source_files(module: str) -> list[Path]:
    """The file of `module` and every `suite/` module it imports, transitively. A package counts
    as its `__init__.py` (which imports what the package exposes, e.g. suite.model's decoder)."""
    seen: set[str] = set()
    files: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or (name in _NOT_PROBE_CODE and name != module):
            continue
        seen.add(name)
        path, is_package = _module_file(name)
        if path is None:
            mod = sys.modules.get(name)          # a probe module loaded from a file path
            if not getattr(mod, "__file__", None):
                continue
            path = Path(mod.__file__)
        files.add(path)
        package = name if is_package else name.rpartition(".")[0]
        todo.extend(_suite_imports(path, package) - seen)
    return sorted(files)


_CODE_VERSIONS: dict[str, str] = {}


def code_version(module: str) -> str:
    """archbench version + hash of the probe module's source and what it imports from suite/."""
    if module not in _CODE_VERSIONS:
        from suite import __version__
        h = hashlib.sha256()
        for path in source_files(module):
            h.update(path.name.encode())
            h.update(path.read_bytes())
        _CODE_VERSIONS[module] = f"{__version__}+{h.hexdigest()[:12]}"
    return _CODE_VERSIONS[module]


# ------------------------------------------------------------------------- plan
# fields that describe a variant without changing its math: not part of the cache key
_IDENTITY_ONLY = ("description", "source")


def cell_id(config: dict, probe: str, settings: dict, scale: str, code: str) -> str:
    payload = dict(config={k: v for k, v in config.items() if k not in _IDENTITY_ONLY},
                   probe=probe, settings=settings, scale=scale, code=code)
    blob = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass
class Plan:
    cells: list[Cell]
    notes: list[str]                    # e.g. optional probes skipped because not registered


def _grid_points(grid: dict[str, list]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))] or [{}]


def _select(entry: ProbeEntry, probes: dict, where: str) -> list:
    if entry.by_family:
        found = [p for p in probes.values() if p.family == entry.name]
    else:
        found = [probes[entry.name]] if entry.name in probes else []
    if not found and not entry.optional:
        families = sorted({p.family for p in probes.values()})
        what = "probe family" if entry.by_family else "probe"
        raise ConfigError(f"unknown {what} '{entry.name}'{where}. Available probes: "
                          f"{', '.join(sorted(probes)) or '(none registered)'}; families: "
                          f"{', '.join(families) or '(none)'}. Mark the entry `optional: true` to skip "
                          f"it while it is not installed.{_import_failures_text()}")
    return sorted(found, key=lambda p: p.name)


def make_plan(suite: Suite, *, variants: Iterable[str] | None = None, probes: Iterable[str] | None = None,
              scale: str | None = None, registry_dirs: Iterable[str] = (), timeout: float | None = None,
              memory_cap: int | None = None, probe_modules: Iterable[str] = ()) -> Plan:
    """Expand a suite (optionally narrowed to some variants / probes) into cells."""
    from suite.hf.resolve import resolve_any
    from suite.registry import Registry, proxy

    modules = tuple(probe_module_refs(probe_modules))
    registered = load_probes(modules)
    notes: list[str] = [f"warning: probe module suite.probes.{name} failed to import: {why}"
                        for name, why in sorted(IMPORT_FAILURES.items())]
    where = f" in suite '{suite.name}' ({suite.file})"

    entries = suite.probes
    if probes:   # each named probe or family takes the suite's settings for it, else its defaults
        entries = []
        for name in probes:
            same = [e for e in suite.probes if e.name == name]
            family = registered[name].family if name in registered else None
            parent = [e for e in suite.probes if e.by_family and e.name == family]
            if same:
                entries.extend(ProbeEntry(**{**asdict(e), "optional": False}) for e in same)
            elif parent:   # one probe out of a family entry
                entries.extend(ProbeEntry(**{**asdict(e), "name": name, "by_family": False,
                                             "optional": False}) for e in parent)
            else:
                is_family = any(p.family == name for p in registered.values()) and name not in registered
                entries.append(ProbeEntry(name=name, by_family=is_family))
        where = ""

    selected: list[tuple[ProbeEntry, Any]] = []
    for entry in entries:
        found = _select(entry, registered, where)
        if not found:
            notes.append(f"skipped optional {'family' if entry.by_family else 'probe'} '{entry.name}': "
                         f"not registered")
        selected.extend((entry, spec) for spec in found)

    registry = Registry(list(registry_dirs))

    def expand(names: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        out = []
        for name, sc in names:
            if name == "all":
                out += [(n, sc) for n in registry.names()]
            elif any(ch in name for ch in "*?[") and name not in registry.entries:
                matched = [n for n in registry.names() if fnmatch.fnmatchcase(n, name)]
                if not matched:
                    raise ConfigError(f"variant pattern '{name}' matches no registered variant{where}.")
                out += [(n, sc) for n in matched]
            else:
                out.append((name, sc))
        return out

    if variants:   # named on the command line: every selected probe runs on exactly these
        suite_wanted = expand((v, scale or suite.scale) for v in variants)
        per_entry = {id(entry): suite_wanted for entry, _ in selected}
    else:          # an entry's own `variants:` replaces the suite's list for that entry
        suite_wanted = expand((v, scale or s) for v, s in suite.variants)
        per_entry = {id(entry): (expand((v, scale or suite.scale) for v in entry.variants)
                                 if entry.variants is not None else suite_wanted) for entry, _ in selected}
    wanted = list(dict.fromkeys(pair for entry, _ in selected for pair in per_entry[id(entry)])) or suite_wanted
    if not wanted:
        raise ConfigError(f"no variants to run: suite '{suite.name}' lists none and none were given.")
    cells: list[Cell] = []
    seen: set[str] = set()
    configs: dict[tuple[str, str], tuple[Any, dict]] = {}
    for name, variant_scale in wanted:
        base = registry.get(name) if name in registry.entries else resolve_any(name, registry_dirs)
        for entry, spec in selected:
            if (name, variant_scale) not in per_entry[id(entry)]:
                continue
            sc = entry.scale or variant_scale
            if (name, sc) not in configs:
                cfg = proxy(base, sc) if sc != "full" else base
                configs[(name, sc)] = (cfg, cfg.to_dict())
            cfg, config = configs[(name, sc)]
            code = code_version(spec.fn.__module__)
            for point in _grid_points(entry.grid):
                settings = {**spec.defaults, **entry.settings, **point}
                cid = cell_id(config, spec.name, settings, sc, code)
                if cid in seen:
                    continue
                seen.add(cid)
                cells.append(Cell(
                    variant=base.name, family=cfg.family, scale=sc, probe=spec.name, settings=settings,
                    config=config, isolate=spec.isolate,
                    timeout=timeout or entry.timeout or suite.timeout,
                    memory_cap=memory_cap or entry.memory_cap or suite.memory_cap,
                    probe_modules=modules, module=spec.fn.__module__, cell_id=cid,
                    given=tuple(dict.fromkeys([*entry.settings, *point]))))
    return Plan(cells=cells, notes=notes)


# --------------------------------------------------------------------- progress
class PlainProgress:
    """One log line per finished cell: what CI logs want."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def start(self, total: int, cached: int) -> None:
        self.total, self.done, self.t0 = total, 0, time.perf_counter()
        print(f"archbench: {total} cell(s) to run, {cached} cached", file=self.stream, flush=True)

    def advance(self, cell: Cell, outcome: Outcome) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.done * (self.total - self.done)
        msg = f" - {outcome.error}" if outcome.status != "ok" else ""
        print(f"[{self.done}/{self.total}] {cell.label()}: {outcome.status} ({outcome.seconds:.1f}s, "
              f"eta {_clock(eta)}){msg}", file=self.stream, flush=True)

    def close(self) -> None:
        pass


class RichProgress:
    """A progress bar with ETA for terminals; failures are printed above the bar."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)
        self.console = Console()
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                            console=self.console, transient=False)

    def start(self, total: int, cached: int) -> None:
        self.console.print(f"archbench: {total} cell(s) to run, {cached} cached")
        self.bar.start()
        self.task = self.bar.add_task("running", total=total)

    def advance(self, cell: Cell, outcome: Outcome) -> None:
        if outcome.status != "ok":
            self.console.print(f"[red]{outcome.status}[/red] {cell.label()}: {outcome.error}", markup=True,
                               highlight=False)
        self.bar.update(self.task, advance=1, description=cell.label()[:60])

    def close(self) -> None:
        self.bar.stop()


def make_progress(stream=None):
    stream = stream or sys.stdout
    return RichProgress() if stream.isatty() else PlainProgress(stream)


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# -------------------------------------------------------------------------- run
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
    """Tidy rows of one finished cell. A probe can mark a row of an ok cell as failed with
    `extra={"status": "oom" | "error" | "timeout", "error": why}` (e.g. one context out of a sweep)."""
    from suite.metrics import info
    from suite.results import STATUSES
    cell_cols = dict(run_id=run_id, cell_id=cell.cell_id, variant=cell.variant, family=cell.family,
                     scale=cell.scale, probe=cell.probe)
    items: list[dict] = []
    if outcome.status == "ok":
        inherited = _point_settings(cell.settings)
        for r in outcome.rows:
            meta = info(r["metric"])
            extra = dict(r.get("extra") or {})
            status = extra.pop("status", "ok") if extra.get("status") in STATUSES else "ok"
            error = str(extra.pop("error", "")) if status != "ok" else ""
            lower = r.get("lower_is_better")
            items.append(dict(metric=r["metric"], value=r.get("value"), unit=r.get("unit") or meta.unit,
                              lower_is_better=meta.lower_is_better if lower is None else lower,
                              status=status, error=error,
                              settings={**inherited, **(r.get("settings") or {})}, extra=extra))
        if not items:   # keeps the cell cached although the probe had nothing to say about it
            items.append(dict(metric="", value=None, settings=inherited, extra={"note": "probe returned no rows"}))
    else:
        items.append(dict(metric="", value=None, status=outcome.status, error=outcome.error,
                          settings=cell.settings))
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


def run_cells(cells: list[Cell], out: str | Path, *, executor: Executor | None = None, force: bool = False,
              run_id: str | None = None, progress=None, notes: list[str] | None = None) -> RunSummary:
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
            store.append(outcome_rows(cell, outcome, run_id=run_id, prov=prov))
            statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
            progress.advance(cell, outcome)
    finally:
        progress.close()
        kill_workers()
    return RunSummary(run_id=run_id, out=Path(out), planned=len(cells), cached=len(cells) - len(todo),
                      ran=len(todo), statuses=statuses, seconds=time.perf_counter() - start,
                      notes=list(notes or []))


# ------------------------------------------------------------------ the command
_RESUMABLE = ("suite", "variants", "probes", "scale", "timeout", "memory_cap", "registry", "probe_module",
              "force", "jobs")


def _write_run_file(out: Path, data: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    os.replace(tmp, out / RUN_FILE)


def run_command(args) -> int:
    """`archbench run`: plan, run, write parquet and the report, print where it is.

    Exit status 1 when a cell ended in `error` (a crash is a bug to look at); oom and timeout
    are measurements, not failures of the run.
    """
    from suite.results import write_parquet

    out = Path(args.out) if args.out else Path("results") / (args.suite or DEFAULT_SUITE)
    run_id = None
    if args.resume:
        run_file = out / RUN_FILE
        if not run_file.exists():
            raise ConfigError(f"nothing to resume in {out}: no {RUN_FILE} there (give the --out of the "
                              f"interrupted run).")
        previous = json.loads(run_file.read_text())
        run_id = previous["run_id"]
        for key in _RESUMABLE:   # what the command line does not say, the interrupted run said
            if getattr(args, key, None) in (None, [], False) and previous.get("args", {}).get(key) is not None:
                setattr(args, key, previous["args"][key])
    suite = load_suite(args.suite or DEFAULT_SUITE)
    plan = make_plan(suite, variants=args.variants or None, probes=args.probes or None, scale=args.scale,
                     registry_dirs=args.registry or (), timeout=args.timeout,
                     memory_cap=parse_bytes(args.memory_cap), probe_modules=args.probe_module or ())
    for note in plan.notes:
        print(f"archbench: {note}", file=sys.stderr)
    run_id = run_id or new_run_id()
    record = dict(run_id=run_id, status="running", started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  args={k: getattr(args, k, None) for k in _RESUMABLE}, cells=len(plan.cells))
    _write_run_file(out, record)
    try:
        summary = run_cells(plan.cells, out, executor=make_executor(args.jobs or 1), force=bool(args.force),
                            run_id=run_id, notes=plan.notes)
    except KeyboardInterrupt:
        _write_run_file(out, {**record, "status": "interrupted"})
        print(f"archbench: interrupted; finished cells are saved. Continue with: "
              f"archbench run --out {out} --resume", file=sys.stderr)
        raise
    _write_run_file(out, {**record, "status": "finished"})
    if (out / "results.jsonl").exists():
        write_parquet(out)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items())) or "nothing new"
    print(f"archbench: {summary.planned} cells: {summary.cached} cached, {summary.ran} run ({counts}) "
          f"in {summary.seconds:.1f}s -> {out / 'results.jsonl'}")
    if not args.no_report:
        report = write_any_report([out], out / "report.html")
        print(f"archbench: report: {report}")
    errors = summary.statuses.get("error", 0)
    return 1 if errors else 0


def write_any_report(dirs: list[Path], out: Path) -> Path:
    """The real report when `suite.report.html` is there, else a minimal HTML leaderboard."""
    try:
        from suite.report.html import write_report
    except ImportError:
        write_report = None
    if write_report is not None:
        try:
            return Path(write_report(list(dirs), out, fmt="html"))
        except Exception as exc:  # noqa: BLE001 - a report bug must not lose the run's results
            print(f"archbench: the report failed ({type(exc).__name__}: {exc}); writing a minimal one",
                  file=sys.stderr)
    return minimal_report(dirs, out)


def minimal_report(dirs: list[Path], out: Path) -> Path:
    import html

    from suite.analysis.aggregate import leaderboard
    from suite.results import load_results
    df = load_results(*dirs)
    board = leaderboard(df)
    failed = df[df["status"] != "ok"][["variant", "probe", "status", "error"]]
    parts = ["<!doctype html><meta charset='utf-8'><title>archbench results</title>",
             "<h1>archbench results</h1>", f"<p>{html.escape(', '.join(map(str, dirs)))}</p>",
             "<h2>Leaderboard</h2>", board.to_html(na_rep="", float_format=lambda v: f"{v:.4g}"),
             "<h2>Failed cells</h2>", failed.to_html(index=False) if len(failed) else "<p>none</p>"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts))
    return out
