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

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from suite.analysis.benchjson import entries_from_benchmark, is_benchmark_json
from suite.analysis.entries import Entry, _samples, entries_from_frame
from suite.analysis.ratio_stats import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, bootstrap_ratio, stats_ratio
from suite.config import ConfigError
from suite.metrics import metric_unit_and_direction

VERDICTS = ("failed", "regression", "improvement", "changed", "missing", "new", "same")  # display order
FAIL_ON = ("regression", "any", "never")
EXACT_TOLERANCE = 1e-9
DEFAULT_THRESHOLD = 0.05

# Probes whose numbers come from the config alone (the analytic family): deterministic, so any
# change is a change of the architecture or of the cost model, never noise.
EXACT_PROBES = frozenset({"analytic", "flop_check"})
# Metrics that describe the noise of another row (already used by its bootstrap): not compared
# unless asked for with --metrics.
NOISE_SUFFIX = "_cv"


# ------------------------------------------------------------------------ sides
def load_side(path: str | Path, side: str, *, benchmark: bool | None = None) -> tuple[str, list[Entry]]:
    """('results' | 'benchmark', entries) of one side; ConfigError naming the path when unusable."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(
            f"{side} not found: {path} does not exist (give a results folder from "
            f"`archbench run --out`, a results.jsonl file or a pytest-benchmark JSON file)."
        )
    if benchmark or (benchmark is None and is_benchmark_json(path)):
        from suite.safeio import load_json

        data = load_json(path, f"{side} (pytest-benchmark JSON)")
        if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
            raise ConfigError(f"{side} {path} is not pytest-benchmark JSON (no `benchmarks` list).", file=str(path))
        entries = entries_from_benchmark(data, path)
        if not entries:
            raise ConfigError(f"{side} {path} holds no benchmarks.")
        return "benchmark", entries
    from suite.results import load_results

    try:
        df = load_results(path, latest=False)
    except FileNotFoundError:
        raise ConfigError(
            f"{side} {path} has no results.jsonl or results.parquet (is it an `archbench run --out` folder?)."
        ) from None
    except ConfigError:
        raise
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{side} {path} is not readable: {exc}") from None
    entries = [e for e in entries_from_frame(df) if e.metric or e.status != "ok"]
    if not entries:
        raise ConfigError(f"{side} {path} holds no result rows.")
    return "results", entries


# -------------------------------------------------------------------- verdicts
@dataclass
class Comparison:
    """The verdict on one number. `ratio` is candidate / baseline; [ci_low, ci_high] its CI."""

    variant: str
    metric: str
    settings: dict[str, Any]
    verdict: str
    method: str = ""
    baseline: float | None = None
    candidate: float | None = None
    ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    lower_is_better: bool | None = None
    unit: str = ""
    scale: str = ""
    probe: str = ""
    note: str = ""
    baseline_failed: bool = False  # a failure that the baseline had too (not new in the candidate)

    def blocks(self, fail_on: str, allow_missing: bool = False) -> bool:
        """Does this verdict fail CI under the --fail-on policy? A number the candidate lost fails
        the default policy too (a candidate that drops rows must not pass), unless --allow-missing."""
        if fail_on == "never":
            return False
        if fail_on == "any":
            return self.verdict != "same"
        if self.verdict == "missing":
            return not allow_missing
        return self.verdict == "regression" or (self.verdict == "failed" and not self.baseline_failed)

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def _interval(entry: Entry) -> tuple[float, float] | None:
    lo, hi = entry.extra.get("ci_low"), entry.extra.get("ci_high")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and not (math.isnan(lo) or math.isnan(hi)):
        return float(lo), float(hi)
    return None


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _direction(worse: bool, lower: bool | None) -> str:
    if lower is None:
        return "changed"
    return "regression" if worse else "improvement"


def judge(
    base: Entry,
    cand: Entry,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Comparison:
    """The verdict on a number present on both sides, both ok."""
    # METRICS decides a known metric's direction; rows only for metrics it does not know (benchmarks)
    said = cand.lower_is_better if cand.lower_is_better is not None else base.lower_is_better
    _, lower = metric_unit_and_direction(cand.metric, "", said)
    b, c = base.value, cand.value
    impossible = _impossible(base, "baseline") or _impossible(cand, "candidate")
    if impossible:  # no NaN passes the gate, and a negative time is no improvement
        return Comparison(
            variant=cand.variant, metric=cand.metric, settings=cand.settings, verdict="failed", baseline=b,
            candidate=c, lower_is_better=lower, unit=cand.unit or base.unit, scale=cand.scale, probe=cand.probe,
            note=impossible, baseline_failed=_impossible(base, "baseline") is not None,
        )  # fmt: skip
    out = Comparison(
        variant=cand.variant,
        metric=cand.metric,
        settings=cand.settings,
        verdict="same",
        baseline=b,
        candidate=c,
        ratio=c / b if b else None,
        lower_is_better=lower,
        unit=cand.unit or base.unit,
        scale=cand.scale,
        probe=cand.probe,
    )
    if c == b:
        out.note = "identical"
        return out
    grew = c > b
    material = abs(c - b) > threshold * abs(b)
    xb, xc = _samples(base), _samples(cand)
    ib, ic = _interval(base), _interval(cand)
    stats_b, stats_c = base.extra.get("stats"), cand.extra.get("stats")
    if xb and xc:
        out.method = "bootstrap"
        out.ratio, out.ci_low, out.ci_high = bootstrap_ratio(
            xb, xc, resamples=resamples, confidence=confidence, seed=seed
        )
        grew = out.ratio > 1
        material = abs(out.ratio - 1) > threshold
        significant = out.ci_low > 1 or out.ci_high < 1
    elif (
        isinstance(stats_b, dict)
        and isinstance(stats_c, dict)
        and (approx := stats_ratio(stats_b, stats_c, confidence=confidence))
    ):
        out.method = "stats"
        out.ratio, out.ci_low, out.ci_high = approx
        significant = out.ci_low > 1 or out.ci_high < 1
    elif ib and ic:
        out.method = "interval"
        if ib[0] > 0 and ib[1] > 0:  # the widest ratio the two intervals allow
            out.ci_low, out.ci_high = ic[0] / ib[1], ic[1] / ib[0]
        significant = ic[0] > ib[1] or ic[1] < ib[0]
    elif cand.probe in EXACT_PROBES:
        out.method = "exact"
        significant = material = not math.isclose(c, b, rel_tol=EXACT_TOLERANCE, abs_tol=0.0)
    else:
        out.method = "threshold"
        significant = True
        out.note = "single measurement: threshold only"
    if base.attempts > 1 or cand.attempts > 1:
        out.note = _join(out.note, f"fastest of {base.attempts} / {cand.attempts} attempts")
    if significant and material:
        out.verdict = _direction(grew == bool(lower), lower)
    elif out.method == "exact":
        out.note = f"within {EXACT_TOLERANCE:g} relative"
    elif not significant:
        out.note = _join(
            out.note, "within noise" + (" (intervals overlap)" if out.method == "interval" else " (CI includes 1)")
        )
    else:
        out.note = _join(out.note, f"under the {threshold:.0%} threshold")
    return out


# Units of magnitudes, which cannot be negative (a ratio, an exponent or a log-likelihood can).
NONNEGATIVE_UNITS = frozenset(
    {
        "s",
        "ms",
        "us",
        "ns",
        "bytes",
        "b",
        "count",
        "flop",
        "flops",
        "params",
        "tokens",
        "tokens/s",
        "bits/byte",
        "fraction",
        "accuracy",
        "flop/s",
        "bytes/s",
    }
)


def _impossible(entry: Entry, side: str) -> str | None:
    """Why this side's number cannot be judged (non-finite, or a negative magnitude), else None."""
    value = entry.value
    if value is None or not math.isfinite(value):
        return f"{side} value is {value} (not a finite number)"
    unit = (entry.unit or "").lower()
    if value < 0 and (unit in NONNEGATIVE_UNITS or entry.probe == "pytest-benchmark"):
        return f"{side} value {value:g} {entry.unit} is negative, which a {unit or 'time'} cannot be"
    return None


def _failed(cand: Entry, base: Entry | None) -> Comparison:
    return Comparison(
        variant=cand.variant,
        metric=cand.metric,
        settings=cand.settings,
        verdict="failed",
        baseline=base.value if base and base.ok else None,
        lower_is_better=cand.lower_is_better,
        unit=cand.unit,
        scale=cand.scale,
        probe=cand.probe,
        note=f"{cand.status}: {cand.error}".rstrip(": ") if cand.status != "ok" else "no value",
        baseline_failed=base is not None and not base.ok,
    )


def _only(entry: Entry, verdict: str, note: str = "") -> Comparison:
    side = "candidate" if verdict == "new" else "baseline"
    return Comparison(
        variant=entry.variant,
        metric=entry.metric,
        settings=entry.settings,
        verdict=verdict,
        lower_is_better=entry.lower_is_better,
        unit=entry.unit,
        scale=entry.scale,
        probe=entry.probe,
        note=note,
        **{side: entry.value},
    )


def compare_entries(
    base: list[Entry],
    cand: list[Entry],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    metrics: Iterable[str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
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
            out.append(judge(b, c, threshold=threshold, resamples=resamples, confidence=confidence, seed=seed))
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
        return f"{counts}; threshold {self.threshold:.0%}; {result}" + self.blocking_list()

    def blocking_list(self, limit: int = 8) -> str:
        """What fails the gate, named: 'variant / probe / metric: verdict (note)', then 'and K more'."""
        blocking = self.blocking()
        if not blocking:
            return ""
        lines = [
            f"  {c.variant} / {c.probe or '-'} / {c.metric or '(whole cell)'}: {c.verdict}"
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
            comparisons=[
                dict(c.to_dict(), blocking=c.blocks(self.fail_on, self.allow_missing)) for c in self.comparisons
            ],
        )


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
) -> CompareReport:
    """Load both sides and judge every number. Raises ConfigError for unusable inputs."""
    if not (threshold >= 0):
        raise ConfigError(f"--threshold must be a relative change >= 0 (e.g. 0.05 for 5%), got {threshold}.")
    if fail_on not in FAIL_ON:
        raise ConfigError(f"--fail-on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}.")
    kind_b, base = load_side(baseline, "baseline", benchmark=benchmark)
    kind_c, cand = load_side(candidate, "candidate", benchmark=benchmark)
    if kind_b != kind_c:
        raise ConfigError(
            f"cannot compare a {kind_b} side ({baseline}) with a {kind_c} side ({candidate}): "
            f"give two results folders or two pytest-benchmark JSON files."
        )
    rows = compare_entries(
        base, cand, threshold=threshold, metrics=metrics, resamples=resamples, confidence=confidence, seed=seed
    )
    return CompareReport(str(baseline), str(candidate), kind_b, threshold, fail_on, rows, allow_missing)
