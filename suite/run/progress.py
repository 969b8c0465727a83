"""Progress of a run: a rich bar with ETA on a terminal, one log line per finished cell otherwise."""

from __future__ import annotations

import sys
import time

from suite.run.executors import Cell, Outcome
from suite.safeio import escape_markup


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
        print(
            f"[{self.done}/{self.total}] {cell.label()}: {outcome.status} ({outcome.seconds:.1f}s, "
            f"eta {_clock(eta)}){msg}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        pass


class RichProgress:
    """A progress bar with ETA for terminals; failures are printed above the bar."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console()
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )

    def start(self, total: int, cached: int) -> None:
        self.console.print(f"archbench: {total} cell(s) to run, {cached} cached")
        self.bar.start()
        self.task = self.bar.add_task("running", total=total)

    def advance(self, cell: Cell, outcome: Outcome) -> None:
        # labels (settings from suite files) and errors (probe exceptions) are printed, never read as markup
        if outcome.status != "ok":
            self.console.print(
                f"[red]{outcome.status}[/red] {escape_markup(cell.label())}: {escape_markup(outcome.error)}",
                markup=True,
                highlight=False,
            )
        self.bar.update(self.task, advance=1, description=escape_markup(cell.label()[:60]))

    def close(self) -> None:
        self.bar.stop()


def make_progress(stream=None):
    stream = stream or sys.stdout
    return RichProgress() if stream.isatty() else PlainProgress(stream)


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
