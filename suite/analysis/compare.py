"""`archbench compare BASELINE CANDIDATE`: two runs -> a noise-aware verdict per number, and an
exit code for CI ("fail on a real regression, not on noise").

Each side is a results folder (or a results.jsonl / parquet file) or a pytest-benchmark JSON file.
Numbers are matched by (variant, scale, probe, metric, settings); each match gets one verdict:

    regression / improvement   a real change in the metric's bad / good direction
    changed                    a real change of a metric with no direction (e.g. total parameters)
    same                       no change, or a change within noise or under the threshold
    new / missing              only in the candidate / only in the baseline
    failed                     the candidate's row (or its whole cell) has a status other than ok

How a change is judged depends on what the rows carry (first match wins):

    bootstrap  raw timing samples on both sides (`extra.samples`, pytest-benchmark `stats.data`):
               a seeded bootstrap CI of the ratio of medians; a change is real when the CI excludes
               1 *and* the ratio is beyond the threshold.
    stats      pytest-benchmark stats without raw data: the same rule with a normal-approximation
               CI of the ratio of medians from each side's IQR and rounds.
    interval   a confidence interval across seeds on both sides (`extra.ci_low/ci_high`, quality):
               real when the intervals do not overlap *and* the change is beyond the threshold.
    exact      numbers computed from the config alone (analytic probes): any change beyond 1e-9
               relative is real.
    threshold  a single measurement with no noise information: real when beyond the threshold.

The significance test keeps noise from failing CI; the threshold keeps tiny but real changes
(e.g. 1% from a different BLAS path) from failing it.

Out: `to_pytest_benchmark` writes a run's timed rows as pytest-benchmark JSON (samples in
seconds) for dashboards that read that format, and for `compare` itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from suite.analysis.entries import Entry
from suite.analysis.noise import NoiseTable, load_noise, shipped
from suite.analysis.ratio_stats import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, bootstrap_ratio  # noqa: F401 - re-exported
from suite.analysis.sides import load_side
from suite.analysis.verdict import (  # noqa: F401 - re-exported: the public face of compare
    DEFAULT_THRESHOLD,
    EXACT_PROBES,
    EXACT_TOLERANCE,
    NONNEGATIVE_UNITS,
    Comparison,
    _failed,
    _only,
    judge,
)
from suite.config import ConfigError

VERDICTS = ("failed", "regression", "improvement", "changed", "missing", "new", "same")  # display order
FAIL_ON = ("regression", "any", "never")
DEFAULT_REMEASURE = 3  # rounds when the candidate is a results folder this checkout can re-run
# Metrics that describe the noise of another row (already used by its bootstrap): not compared
# unless asked for with --metrics.
NOISE_SUFFIX = "_cv"


def compare_entries(
    base: list[Entry],
    cand: list[Entry],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    metrics: Iterable[str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    noise: NoiseTable | None = None,
) -> list[Comparison]:
    """A verdict for every number on either side, most severe first."""
    wanted = set(metrics or ())
    if wanted:
        present = {e.metric for e in base + cand if e.metric}
        unknown = sorted(wanted - present)
        if unknown:
            raise ConfigError(
                f"no rows of metric(s) {', '.join(unknown)} on either side; metrics present: "
                f"{', '.join(sorted(present)) or '(none)'}."
            )

    def keep(e: Entry) -> bool:  # a failed whole cell (metric "") is kept: it explains missing rows
        if not e.metric:
            return e.status != "ok"
        return e.metric in wanted if wanted else not e.metric.endswith(NOISE_SUFFIX)

    base_by = {e.key(): e for e in base if keep(e) and e.metric}
    cand_by = {e.key(): e for e in cand if keep(e) and e.metric}
    # whole cells that failed (no metric rows): the baseline rows of that cell are "failed", not "missing"
    failed_cells = {(e.variant, e.scale, e.probe): e for e in cand if not e.metric and keep(e)}
    base_failed_cells = {(e.variant, e.scale, e.probe) for e in base if not e.metric and e.status != "ok"}
    explained: set[tuple] = set()
    out: list[Comparison] = []
    for key, c in cand_by.items():
        b = base_by.get(key)
        if not c.ok:
            out.append(_failed(c, b))
        elif b is None:
            out.append(_only(c, "new"))
        elif not b.ok:
            out.append(_only(c, "new", f"baseline {b.status}: {b.error}".rstrip(": ")))
        else:
            out.append(
                judge(b, c, threshold=threshold, resamples=resamples, confidence=confidence, seed=seed, noise=noise)
            )
    for key, b in base_by.items():
        if key in cand_by:
            continue
        cell = failed_cells.get((b.variant, b.scale, b.probe))
        if cell is not None:
            explained.add((b.variant, b.scale, b.probe))
            failed = _failed(Entry(**{**asdict(b), "status": cell.status, "error": cell.error, "value": None}), b)
            out.append(failed)
        else:
            out.append(_only(b, "missing"))
    for cell_key, cell in failed_cells.items():
        # a crashed cell that no wanted baseline row explains: reported, unless --metrics narrowed
        # the comparison (which metrics it would have produced is unknown)
        if cell_key not in explained and not wanted:
            out.append(
                Comparison(
                    variant=cell.variant,
                    metric="",
                    settings={},
                    verdict="failed",
                    scale=cell.scale,
                    probe=cell.probe,
                    note=f"{cell.status}: {cell.error}".rstrip(": "),
                    baseline_failed=cell_key in base_failed_cells,
                )
            )
    order = {v: i for i, v in enumerate(VERDICTS)}
    return sorted(out, key=lambda r: (order[r.verdict], r.variant, r.probe, r.metric, str(sorted(r.settings.items()))))


# --------------------------------------------------------------------- a report
@dataclass
class CompareReport:
    baseline: str
    candidate: str
    kind: str  # results | benchmark
    threshold: float
    fail_on: str
    comparisons: list[Comparison]
    allow_missing: bool = False
    noise: NoiseTable | None = None
    remeasured: list[str] = field(default_factory=list)  # what re-measuring did (or why it did not)

    def counts(self) -> dict[str, int]:
        counts = {v: 0 for v in VERDICTS}
        for c in self.comparisons:
            counts[c.verdict] += 1
        return counts

    def blocking(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.blocks(self.fail_on, self.allow_missing)]

    def exit_code(self) -> int:
        return 1 if self.blocking() else 0

    def summary(self) -> str:
        counts = ", ".join(f"{n} {v}" for v, n in self.counts().items() if n) or "nothing to compare"
        blocking = self.blocking()
        result = (
            f"FAIL ({len(blocking)} blocking under --fail-on {self.fail_on})"
            if blocking
            else f"PASS (--fail-on {self.fail_on})"
        )
        noise = (
            f"; noise floors: {self.noise.source} table, k={self.noise.k:g}" if self.noise and self.noise.sigmas else ""
        )
        told = "".join(f"\n{line}" for line in self.remeasured)
        return f"{counts}; threshold {self.threshold:.0%}{noise}; {result}" + told + self.blocking_list()

    def blocking_list(self, limit: int = 8) -> str:
        """What fails the gate, named: 'variant / probe / metric: verdict (note)', then 'and K more'."""
        blocking = self.blocking()
        if not blocking:
            return ""
        lines = [
            f"  {c.variant} / {c.probe or '-'} / {c.metric or '(whole cell)'}{_where(c)}: {c.verdict}"
            + (f" ({c.note})" if c.note else "")
            for c in blocking[:limit]
        ]
        more = f"\n  and {len(blocking) - limit} more" if len(blocking) > limit else ""
        hint = ""
        if any(c.verdict == "missing" for c in blocking):
            hint = "\n  (numbers the candidate no longer has fail the gate; --allow-missing accepts dropped rows)"
        return "\nblocking:\n" + "\n".join(lines) + more + hint

    def to_dict(self) -> dict[str, Any]:
        return dict(
            baseline=self.baseline,
            candidate=self.candidate,
            kind=self.kind,
            threshold=self.threshold,
            fail_on=self.fail_on,
            counts=self.counts(),
            exit_code=self.exit_code(),
            allow_missing=self.allow_missing,
            noise=self.noise.to_dict() | {"source": self.noise.source} if self.noise else None,
            remeasured=self.remeasured,
            comparisons=[
                dict(c.to_dict(), blocking=c.blocks(self.fail_on, self.allow_missing)) for c in self.comparisons
            ],
        )


def _where(c: Comparison) -> str:
    """The settings that tell apart rows of one metric (context, phase...), for naming a row."""
    shown = {k: v for k, v in sorted(c.settings.items()) if k in ("context", "phase", "batch", "dtype", "tokens")}
    return f" [{', '.join(f'{k}={v}' for k, v in shown.items())}]" if shown else ""


def noise_table(noise: NoiseTable | str | Path | None) -> NoiseTable:
    """The table a comparison uses: a given one, a file (`--noise`), or the shipped one."""
    if isinstance(noise, NoiseTable):
        return noise
    return load_noise(noise) if noise else shipped()


def compare(
    baseline: str | Path,
    candidate: str | Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    metrics: Iterable[str] | None = None,
    fail_on: str = "regression",
    benchmark: bool | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    allow_missing: bool = False,
    noise: NoiseTable | str | Path | None = None,
    remeasure: int | None = 0,
) -> CompareReport:
    """Load both sides and judge every number. Raises ConfigError for unusable inputs.

    `remeasure` rounds (None: DEFAULT_REMEASURE when the candidate is a results folder) re-run the
    timed cells the verdict is unsure about, interleaved with the baseline's when both sides' rows
    come from this checkout's code (`suite.analysis.remeasure`), and judge again with the new samples.
    """
    if not (threshold >= 0):
        raise ConfigError(f"--threshold must be a relative change >= 0 (e.g. 0.05 for 5%), got {threshold}.")
    if fail_on not in FAIL_ON:
        raise ConfigError(f"--fail-on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}.")
    table = noise_table(noise)
    kind_b, base = load_side(baseline, "baseline", benchmark=benchmark)
    kind_c, cand = load_side(candidate, "candidate", benchmark=benchmark)
    if kind_b != kind_c:
        raise ConfigError(
            f"cannot compare a {kind_b} side ({baseline}) with a {kind_c} side ({candidate}): "
            f"give two results folders or two pytest-benchmark JSON files."
        )
    options = dict(threshold=threshold, metrics=metrics, resamples=resamples, confidence=confidence, seed=seed)
    rows = compare_entries(base, cand, noise=table, **options)
    report = CompareReport(str(baseline), str(candidate), kind_b, threshold, fail_on, rows, allow_missing, table)
    rounds = (DEFAULT_REMEASURE if Path(candidate).is_dir() else 0) if remeasure is None else remeasure
    if rounds and kind_b == "results":
        from suite.analysis.remeasure import remeasure_unsure

        done = remeasure_unsure(baseline, candidate, base, cand, rows, rounds=rounds)
        report.remeasured = done.notes
        if done.ran:
            _, base = load_side(baseline, "baseline", extra_rows=done.base_rows)
            _, cand = load_side(candidate, "candidate", extra_rows=done.cand_rows)
            report.comparisons = compare_entries(base, cand, noise=table, **options)
            report.remeasured += done.changes(rows, report.comparisons)
    return report
