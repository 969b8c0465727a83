"""Re-measuring what the gate is unsure about, in this process, before it fails a build.

A timed verdict that flags a change (or a regression close to its noise floor) rests on one attempt
per side; one busy minute on a shared machine can make it. When the candidate is a results folder
written by `archbench run` and this checkout can plan its cells again, the flagged cells are re-run
`rounds` times. A cell's id hashes its config, settings and the code version of its probe and of
everything the probe imports (`suite.run.versioning`), so:

- both sides' cell ids are cells this checkout plans (the same code measured both): baseline and
  candidate cells are re-run alternately, A B A B ..., so drift of the machine hits both alike;
- only the candidate's is (the code changed, which is what a pull request does): the candidate
  alone is re-run, and the output says so.

The new samples are pooled with the old attempts (`suite.analysis.entries`) and every number is
judged again. The candidate's new rows are appended to its folder as new attempts (the store is
append-only; nothing is lost); the baseline's stay in memory, since a baseline is a reference
(often a CI cache) that a comparison should not change.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from suite.analysis.entries import Entry
from suite.analysis.verdict import Comparison

MAX_CELLS = 12  # a gate that re-runs the whole suite is a second run, not a re-check


@dataclass
class Remeasured:
    notes: list[str] = field(default_factory=list)
    base_rows: list[dict] = field(default_factory=list)  # in memory only
    cand_rows: list[dict] = field(default_factory=list)  # those that could not be appended to the folder
    keys: set[tuple] = field(default_factory=set)  # the comparisons that were unsure
    ran: bool = False

    def changes(self, before: list[Comparison], after: list[Comparison]) -> list[str]:
        """One line per unsure number: its verdict and ratio before and after re-measuring."""
        old = {_key(c): c for c in before}
        lines = []
        for c in after:
            if _key(c) in self.keys and (was := old.get(_key(c))) is not None:
                lines.append(
                    f"  {c.variant}@{c.scale} / {c.probe} / {c.metric}{_settings(c)}: "
                    f"{was.verdict} {_ratio(was)} -> {c.verdict} {_ratio(c)}"
                    + (f" (pooled {c.attempts[0]} / {c.attempts[1]} attempts)" if c.attempts else "")
                )
        return lines


def _key(c: Comparison) -> tuple:
    return (c.variant, c.scale, c.probe, c.metric, tuple(sorted(c.settings.items())))


def _ratio(c: Comparison) -> str:
    return "" if c.ratio is None else f"x{c.ratio:.3f}"


def _settings(c: Comparison) -> str:
    return f" [{', '.join(f'{k}={v}' for k, v in sorted(c.settings.items()))}]" if c.settings else ""


def unsure(c: Comparison) -> bool:
    """A timed verdict worth a second look: a flagged change, or a significant slowdown past half
    its floor (a real regression measured a little low)."""
    if c.method != "bootstrap" or c.ratio is None or c.ci_low is None or c.ci_high is None:
        return False
    if c.verdict in ("regression", "improvement"):
        return True
    worse = c.ci_low > 1 if c.lower_is_better is not False else c.ci_high < 1
    return c.verdict == "same" and worse and abs(c.ratio - 1) > 0.5 * (c.floor or 0)


def _plan(candidate: Path):
    """This checkout's cells for the candidate's run (its run.json arguments), by cell id."""
    from suite.config import ConfigError
    from suite.run.folder import read_run_file
    from suite.run.plan import make_plan
    from suite.run.suite_file import DEFAULT_SUITE, load_suite, parse_bytes

    if not (candidate / "run.json").is_file():
        raise ConfigError(f"{candidate} has no run.json (it was not written by `archbench run`)")
    args = read_run_file(candidate)["args"]
    plan = make_plan(
        load_suite(args.get("suite") or DEFAULT_SUITE),
        variants=args.get("variants") or None,
        probes=args.get("probes") or None,
        scale=args.get("scale"),
        registry_dirs=args.get("registry") or (),
        timeout=args.get("timeout"),
        memory_cap=parse_bytes(args.get("memory_cap")),
        probe_modules=args.get("probe_module") or (),
        match_params=args.get("match_params"),  # a matched run's cells are matched proxies
    )
    return {cell.cell_id: cell for cell in plan.cells}


def remeasure_unsure(
    baseline: str | Path,
    candidate: str | Path,
    base: list[Entry],
    cand: list[Entry],
    comparisons: list[Comparison],
    *,
    rounds: int,
) -> Remeasured:
    """Re-run the cells of the unsure comparisons `rounds` times; what ran and why not, in `notes`."""
    from suite.config import ConfigError

    done = Remeasured()
    flagged = [c for c in comparisons if unsure(c)]
    if not flagged or rounds <= 0:
        return done
    done.keys = {_key(c) for c in flagged}
    base_by, cand_by = {e.key(): e for e in base}, {e.key(): e for e in cand}
    why_not = f"not re-measured ({len(flagged)} unsure timed number(s))"
    try:
        cells = _plan(Path(candidate))
    except (ConfigError, OSError) as exc:
        done.notes.append(f"{why_not}: cannot plan the candidate's cells again: {' '.join(str(exc).split())}")
        return done
    pairs: dict[str, tuple] = {}  # candidate cell id -> (baseline cell or None, candidate cell)
    stale = 0
    for c in flagged:
        e_cand, e_base = cand_by.get(_key(c)), base_by.get(_key(c))
        cell = cells.get(e_cand.cell_id) if e_cand else None
        if cell is None:
            stale += 1
            continue
        base_cell = cells.get(e_base.cell_id) if e_base else None
        if cell.cell_id not in pairs or pairs[cell.cell_id][0] is None:
            pairs[cell.cell_id] = (base_cell, cell)
    if not pairs:
        done.notes.append(
            f"{why_not}: the candidate's rows are from other code or settings than this checkout's "
            "(their cell ids are not in its plan); run compare where the candidate was measured"
        )
        return done
    todo = sorted(pairs.values(), key=lambda p: (p[1].variant, p[1].probe))[:MAX_CELLS]
    left = len(pairs) - len(todo)
    both = [p for p in todo if p[0] is not None]
    print(
        f"archbench compare: re-measuring {len(todo)} cell(s) x {rounds} round(s)"
        + (" interleaved with the baseline" if both else " (candidate only)"),
        file=sys.stderr,
    )
    saved = _run_rounds(Path(candidate), todo, rounds, done)
    done.ran = True
    how = (
        "interleaved baseline/candidate (both sides' rows are from this checkout's code)"
        if len(both) == len(todo)
        else "candidate only: the baseline's rows are from other code, which this checkout cannot re-run"
        if not both
        else f"interleaved for {len(both)}, candidate only for {len(todo) - len(both)} (baseline from other code)"
    )
    done.notes.append(
        f"re-measured {len(todo)} cell(s) x {rounds} round(s), {how}; the candidate's new attempts "
        + (f"were appended to {candidate}" if saved else "could not be saved (kept for this comparison only)")
        + (f"; {left} more unsure cell(s) not re-measured (at most {MAX_CELLS})" if left else "")
        + (f"; {stale} unsure number(s) from cells this checkout does not plan" if stale else "")
        + ":"
    )
    return done


def _run_rounds(candidate: Path, todo: list[tuple], rounds: int, done: Remeasured) -> bool:
    """Run A B A B ...; each candidate attempt is appended to its folder as it finishes (under the
    folder's lock, as a run would), or kept in memory when the folder cannot be locked or written."""
    from suite.config import ConfigError
    from suite.results import ResultStore, new_run_id, provenance
    from suite.run.executors import run_cell
    from suite.run.folder import FolderLock
    from suite.run.runner import outcome_rows

    run_id, prov = f"remeasure-{new_run_id()}", provenance()
    store, lock = ResultStore(candidate), FolderLock(candidate)
    try:
        lock.__enter__()
    except (ConfigError, OSError) as exc:
        lock = None
        print(f"archbench compare: the re-measured rows are not saved: {' '.join(str(exc).split())}", file=sys.stderr)
    saved = lock is not None
    try:
        for _ in range(rounds):
            for base_cell, cand_cell in todo:
                if base_cell is not None:
                    done.base_rows += outcome_rows(base_cell, run_cell(base_cell), run_id=run_id, prov=prov)
                rows = outcome_rows(cand_cell, run_cell(cand_cell), run_id=run_id, prov=prov)
                if saved:
                    try:
                        store.append(rows)
                        continue
                    except ConfigError as exc:
                        saved = False
                        print(f"archbench compare: the re-measured rows are not saved: {exc}", file=sys.stderr)
                done.cand_rows += rows
    finally:
        if lock is not None:
            lock.__exit__(None, None, None)
    return saved
