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

import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from suite.config import ConfigError
from suite.metrics import info

VERDICTS = ("failed", "regression", "improvement", "changed", "missing", "new", "same")   # display order
FAIL_ON = ("regression", "any", "never")
EXACT_TOLERANCE = 1e-9
DEFAULT_THRESHOLD = 0.05
DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95

# Probes whose numbers come from the config alone (the analytic family): deterministic, so any
# change is a change of the architecture or of the cost model, never noise.
EXACT_PROBES = frozenset({"analytic", "flop_check"})
# Metrics that describe the noise of another row (already used by its bootstrap): not compared
# unless asked for with --metrics.
NOISE_SUFFIX = "_cv"
BENCHMARK_PROBE = "pytest-benchmark"
BENCHMARK_METRIC = "median_time"


# ---------------------------------------------------------------------- entries
@dataclass
class Entry:
    """One number of one side, reduced to what comparing needs."""
    variant: str
    metric: str
    settings: dict[str, Any]
    value: float | None
    status: str = "ok"
    error: str = ""
    lower_is_better: bool | None = None
    unit: str = ""
    scale: str = ""
    probe: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1               # timed attempts this entry is the fastest of

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.value is not None

    def key(self) -> tuple:
        return (self.variant, self.scale, self.probe, self.metric, tuple(sorted(self.settings.items())))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _setting(value: Any) -> Any:
    """A settings value that compares equal across runs: 64 == 64.0 (a column with gaps is float)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (int, float)):
        return value
    return str(value)


def _bool_or_none(value: Any) -> bool | None:
    if _missing(value):
        return None
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _json(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    if _missing(text) or not text:
        return {}
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _kept_attempts(records: list[dict]) -> list[dict]:
    """Per cell: its latest attempt, plus earlier attempts whose rows are all ok. Those only add
    alternative timings (see `_pick`); a failure that a later attempt fixed is dropped, as the
    store does."""
    attempts: dict[Any, dict[Any, list[dict]]] = {}
    for r in records:
        attempts.setdefault(r.get("cell_id"), {}).setdefault(r.get("attempt"), []).append(r)
    keep: set[tuple] = set()
    for cell, by_attempt in attempts.items():
        *earlier, latest = by_attempt
        keep.add((cell, latest))
        keep.update((cell, a) for a in earlier if all(r.get("status") == "ok" for r in by_attempt[a]))
    return [r for r in records if (r.get("cell_id"), r.get("attempt")) in keep]


def _pick(entries: list[Entry]) -> Entry:
    """One entry per key out of several attempts (file order): the latest, except that timed rows
    take the fastest ok attempt. Contention on a shared machine only ever adds time, so re-running
    a flagged cell into the same folder (`archbench run --force`) confirms a real regression (every
    attempt is slow) and clears noise (one attempt is not)."""
    latest = entries[-1]
    timed = [e for e in entries if e.ok and _samples(e)]
    if not latest.ok or len(timed) < 2 or latest.lower_is_better is False:
        return latest
    best = min(timed, key=lambda e: e.value)
    best.attempts = len(timed)
    return best


def entries_from_frame(df) -> list[Entry]:
    """Tidy result rows (all attempts, `load_results(..., latest=False)`) -> one entry per key.
    A key seen more than once (a cell re-run with --force, or recomputed after a code change, which
    gives it a new cell_id) is resolved by `_pick`."""
    setting_cols = [c for c in df.columns if c.startswith("settings.")]
    seen: dict[tuple, list[Entry]] = {}
    for row in _kept_attempts(df.to_dict("records")):
        settings = {c.removeprefix("settings."): _setting(row[c]) for c in setting_cols if not _missing(row[c])}
        value = None if _missing(row.get("value")) else float(row["value"])
        entry = Entry(variant=str(row.get("variant")), metric=str(row.get("metric") or ""), settings=settings,
                      value=value, status=str(row.get("status") or "ok"), error=str(row.get("error") or ""),
                      lower_is_better=_bool_or_none(row.get("lower_is_better")), unit=str(row.get("unit") or ""),
                      scale=str(row.get("scale") or ""), probe=str(row.get("probe") or ""),
                      extra=_json(row.get("extra")))
        seen.setdefault(entry.key(), []).append(entry)
    return [_pick(entries) for entries in seen.values()]


def entries_from_benchmark(data: dict[str, Any]) -> list[Entry]:
    """pytest-benchmark JSON -> one entry per benchmark (by fullname): its median time in seconds,
    with the raw timings when it was saved with --benchmark-save-data, else its stats."""
    out = []
    for bench in data.get("benchmarks", []):
        stats = bench.get("stats") or {}
        extra: dict[str, Any] = {"stats": {k: v for k, v in stats.items() if k != "data"}}
        if isinstance(stats.get("data"), list):
            extra["samples"] = stats["data"]
        median = stats.get("median")
        out.append(Entry(variant=str(bench.get("fullname") or bench.get("name")), metric=BENCHMARK_METRIC,
                         settings={}, value=None if median is None else float(median), lower_is_better=True,
                         unit="s", probe=BENCHMARK_PROBE, extra=extra))
    return out


# ------------------------------------------------------------------------ sides
def is_benchmark_json(path: Path) -> bool:
    if not (path.is_file() and path.suffix == ".json"):
        return False
    try:
        return isinstance(json.loads(path.read_text()).get("benchmarks"), list)
    except (OSError, ValueError, AttributeError):
        return False


def load_side(path: str | Path, side: str, *, benchmark: bool | None = None) -> tuple[str, list[Entry]]:
    """('results' | 'benchmark', entries) of one side; ConfigError naming the path when unusable."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{side} not found: {path} does not exist (give a results folder from "
                          f"`archbench run --out`, a results.jsonl file or a pytest-benchmark JSON file).")
    if benchmark or (benchmark is None and is_benchmark_json(path)):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{side} {path} is not readable pytest-benchmark JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
            raise ConfigError(f"{side} {path} is not pytest-benchmark JSON (no `benchmarks` list).")
        entries = entries_from_benchmark(data)
        if not entries:
            raise ConfigError(f"{side} {path} holds no benchmarks.")
        return "benchmark", entries
    from suite.results import load_results
    try:
        df = load_results(path, latest=False)
    except FileNotFoundError:
        raise ConfigError(f"{side} {path} has no results.jsonl or results.parquet (is it an "
                          f"`archbench run --out` folder?).") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{side} {path} is not readable: {exc}") from None
    entries = [e for e in entries_from_frame(df) if e.metric or e.status != "ok"]
    if not entries:
        raise ConfigError(f"{side} {path} holds no result rows.")
    return "results", entries


# ------------------------------------------------------------------- statistics
def bootstrap_ratio(base: Iterable[float], cand: Iterable[float], *, resamples: int = DEFAULT_RESAMPLES,
                    confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> tuple[float, float, float]:
    """(median(cand) / median(base), CI low, CI high): percentile bootstrap, each side resampled
    with replacement on its own, seeded so that the same inputs always give the same verdict."""
    b, c = np.asarray(list(base), float), np.asarray(list(cand), float)
    rng = np.random.default_rng(seed)
    mb = np.median(b[rng.integers(0, len(b), (resamples, len(b)))], axis=1)
    mc = np.median(c[rng.integers(0, len(c), (resamples, len(c)))], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = mc / mb
    alpha = (1.0 - confidence) / 2
    low, high = np.nanquantile(ratios, [alpha, 1.0 - alpha])
    return float(np.median(c) / np.median(b)), float(low), float(high)


def _median_se(stats: dict[str, Any]) -> float | None:
    """Standard error of a median from pytest-benchmark stats: 1.2533 sigma / sqrt(n), sigma
    estimated robustly from the IQR (stddev when the IQR is 0)."""
    n = stats.get("rounds") or 0
    sigma = (stats.get("iqr") or 0) / 1.349 or stats.get("stddev") or 0
    if n < 2 or not sigma:
        return None if n < 2 else 0.0
    return 1.2533 * sigma / math.sqrt(n)


def stats_ratio(base: dict[str, Any], cand: dict[str, Any], *,
                confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float, float] | None:
    """Ratio of medians and a normal-approximation CI on the log scale, from summary stats only."""
    mb, mc = base.get("median"), cand.get("median")
    sb, sc = _median_se(base), _median_se(cand)
    if not mb or not mc or sb is None or sc is None:
        return None
    ratio = mc / mb
    se_log = math.sqrt((sb / mb) ** 2 + (sc / mc) ** 2)
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    return ratio, ratio * math.exp(-z * se_log), ratio * math.exp(z * se_log)


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
    baseline_failed: bool = False     # a failure that the baseline had too (not new in the candidate)

    def blocks(self, fail_on: str) -> bool:
        """Does this verdict fail CI under the --fail-on policy?"""
        if fail_on == "never":
            return False
        if fail_on == "any":
            return self.verdict != "same"
        return self.verdict == "regression" or (self.verdict == "failed" and not self.baseline_failed)

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def _samples(entry: Entry) -> list[float] | None:
    xs = entry.extra.get("samples")
    if not isinstance(xs, list):
        return None
    xs = [float(x) for x in xs if isinstance(x, (int, float)) and not math.isnan(x)]
    return xs if len(xs) >= 3 else None   # fewer: no spread to resample


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


def judge(base: Entry, cand: Entry, *, threshold: float = DEFAULT_THRESHOLD, resamples: int = DEFAULT_RESAMPLES,
          confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> Comparison:
    """The verdict on a number present on both sides, both ok."""
    lower = cand.lower_is_better if cand.lower_is_better is not None else base.lower_is_better
    if lower is None:
        lower = info(cand.metric).lower_is_better
    b, c = base.value, cand.value
    out = Comparison(variant=cand.variant, metric=cand.metric, settings=cand.settings, verdict="same",
                     baseline=b, candidate=c, ratio=c / b if b else None, lower_is_better=lower,
                     unit=cand.unit or base.unit, scale=cand.scale, probe=cand.probe)
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
        out.ratio, out.ci_low, out.ci_high = bootstrap_ratio(xb, xc, resamples=resamples, confidence=confidence,
                                                             seed=seed)
        grew = out.ratio > 1
        material = abs(out.ratio - 1) > threshold
        significant = out.ci_low > 1 or out.ci_high < 1
    elif isinstance(stats_b, dict) and isinstance(stats_c, dict) and (
            approx := stats_ratio(stats_b, stats_c, confidence=confidence)):
        out.method = "stats"
        out.ratio, out.ci_low, out.ci_high = approx
        significant = out.ci_low > 1 or out.ci_high < 1
    elif ib and ic:
        out.method = "interval"
        if ib[0] > 0 and ib[1] > 0:   # the widest ratio the two intervals allow
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
        out.note = _join(out.note, "within noise" + (" (intervals overlap)" if out.method == "interval"
                                                      else " (CI includes 1)"))
    else:
        out.note = _join(out.note, f"under the {threshold:.0%} threshold")
    return out


def _failed(cand: Entry, base: Entry | None) -> Comparison:
    return Comparison(variant=cand.variant, metric=cand.metric, settings=cand.settings, verdict="failed",
                      baseline=base.value if base and base.ok else None, lower_is_better=cand.lower_is_better,
                      unit=cand.unit, scale=cand.scale, probe=cand.probe,
                      note=f"{cand.status}: {cand.error}".rstrip(": ") if cand.status != "ok" else "no value",
                      baseline_failed=base is not None and not base.ok)


def _only(entry: Entry, verdict: str, note: str = "") -> Comparison:
    side = "candidate" if verdict == "new" else "baseline"
    return Comparison(variant=entry.variant, metric=entry.metric, settings=entry.settings, verdict=verdict,
                      lower_is_better=entry.lower_is_better, unit=entry.unit, scale=entry.scale,
                      probe=entry.probe, note=note, **{side: entry.value})


def compare_entries(base: list[Entry], cand: list[Entry], *, threshold: float = DEFAULT_THRESHOLD,
                    metrics: Iterable[str] | None = None, resamples: int = DEFAULT_RESAMPLES,
                    confidence: float = DEFAULT_CONFIDENCE, seed: int = 0) -> list[Comparison]:
    """A verdict for every number on either side, most severe first."""
    wanted = set(metrics or ())
    if wanted:
        present = {e.metric for e in base + cand if e.metric}
        unknown = sorted(wanted - present)
        if unknown:
            raise ConfigError(f"no rows of metric(s) {', '.join(unknown)} on either side; metrics present: "
                              f"{', '.join(sorted(present)) or '(none)'}.")

    def keep(e: Entry) -> bool:   # a failed whole cell (metric "") is kept: it explains missing rows
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
            out.append(Comparison(variant=cell.variant, metric="", settings={}, verdict="failed", scale=cell.scale,
                                  probe=cell.probe, note=f"{cell.status}: {cell.error}".rstrip(": "),
                                  baseline_failed=cell_key in base_failed_cells))
    order = {v: i for i, v in enumerate(VERDICTS)}
    return sorted(out, key=lambda r: (order[r.verdict], r.variant, r.probe, r.metric, str(sorted(r.settings.items()))))


# --------------------------------------------------------------------- a report
@dataclass
class CompareReport:
    baseline: str
    candidate: str
    kind: str                       # results | benchmark
    threshold: float
    fail_on: str
    comparisons: list[Comparison]

    def counts(self) -> dict[str, int]:
        counts = {v: 0 for v in VERDICTS}
        for c in self.comparisons:
            counts[c.verdict] += 1
        return counts

    def blocking(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.blocks(self.fail_on)]

    def exit_code(self) -> int:
        return 1 if self.blocking() else 0

    def summary(self) -> str:
        counts = ", ".join(f"{n} {v}" for v, n in self.counts().items() if n) or "nothing to compare"
        blocking = self.blocking()
        result = (f"FAIL ({len(blocking)} blocking under --fail-on {self.fail_on})" if blocking
                  else f"PASS (--fail-on {self.fail_on})")
        return f"{counts}; threshold {self.threshold:.0%}; {result}"

    def to_dict(self) -> dict[str, Any]:
        return dict(baseline=self.baseline, candidate=self.candidate, kind=self.kind, threshold=self.threshold,
                    fail_on=self.fail_on, counts=self.counts(), exit_code=self.exit_code(),
                    comparisons=[dict(c.to_dict(), blocking=c.blocks(self.fail_on)) for c in self.comparisons])


def compare(baseline: str | Path, candidate: str | Path, *, threshold: float = DEFAULT_THRESHOLD,
            metrics: Iterable[str] | None = None, fail_on: str = "regression", benchmark: bool | None = None,
            resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
            seed: int = 0) -> CompareReport:
    """Load both sides and judge every number. Raises ConfigError for unusable inputs."""
    if not (threshold >= 0):
        raise ConfigError(f"--threshold must be a relative change >= 0 (e.g. 0.05 for 5%), got {threshold}.")
    if fail_on not in FAIL_ON:
        raise ConfigError(f"--fail-on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}.")
    kind_b, base = load_side(baseline, "baseline", benchmark=benchmark)
    kind_c, cand = load_side(candidate, "candidate", benchmark=benchmark)
    if kind_b != kind_c:
        raise ConfigError(f"cannot compare a {kind_b} side ({baseline}) with a {kind_c} side ({candidate}): "
                          f"give two results folders or two pytest-benchmark JSON files.")
    rows = compare_entries(base, cand, threshold=threshold, metrics=metrics, resamples=resamples,
                           confidence=confidence, seed=seed)
    return CompareReport(str(baseline), str(candidate), kind_b, threshold, fail_on, rows)


# ------------------------------------------------------------------ rendering
_STYLE = {"failed": "bold red", "regression": "red", "improvement": "green", "changed": "magenta",
          "missing": "yellow", "new": "cyan", "same": "dim"}
_MARK = {"failed": "❌ failed", "regression": "🔴 regression", "improvement": "🟢 improvement",
         "changed": "🟣 changed", "missing": "🟡 missing", "new": "🆕 new", "same": "same"}


def _num(value: float | None) -> str:
    from suite.report.terminal import fmt
    return "" if value is None else fmt(value)


def _varying_settings(rows: list[Comparison]) -> dict[str, set[str]]:
    """Per metric, the settings that differ between its rows: the ones worth showing."""
    by_metric: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_metric.setdefault(r.metric, []).append(r.settings)
    out: dict[str, set[str]] = {}
    for metric, settings in by_metric.items():
        keys = {k for s in settings for k in s}
        out[metric] = {k for k in keys if len({repr(s.get(k)) for s in settings}) > 1}
    return out


def _cells(report: CompareReport, rows: list[Comparison]) -> tuple[list[str], list[list[str]]]:
    shown = _varying_settings(report.comparisons)
    headers = ["verdict", "variant", "metric", "settings", "baseline", "candidate", "ratio", "CI", "note"]
    body = []
    for r in rows:
        name = info(r.metric).display_name if r.metric else f"({r.probe} cell)"
        unit = r.unit or info(r.metric).unit
        where = ", ".join(f"{k}={r.settings[k]}" for k in sorted(r.settings) if k in shown.get(r.metric, ()))
        variant = r.variant + (f"@{r.scale}" if r.scale and report.kind == "results" else "")
        ci = "" if r.ci_low is None or r.ci_high is None else f"{r.ci_low:.3f}–{r.ci_high:.3f}"
        body.append([r.verdict, variant, name + (f" ({unit})" if unit else ""), where, _num(r.baseline),
                     _num(r.candidate), "" if r.ratio is None else f"×{r.ratio:.3f}", ci,
                     " ".join(x for x in (r.method, r.note) if x)])
    return headers, body


def render(report: CompareReport, *, show_all: bool = False, console=None) -> None:
    """A rich table of the verdicts (all of them with show_all, else everything but `same`)."""
    from suite.term import console as term_console
    from rich.markup import escape
    from rich.table import Table
    console = console or term_console()
    rows = report.comparisons if show_all else [c for c in report.comparisons if c.verdict != "same"]
    if rows:
        headers, body = _cells(report, rows)
        table = Table(title=f"archbench compare: {report.baseline} → {report.candidate}")
        for i, h in enumerate(headers):
            table.add_column(h, justify="right" if h in ("baseline", "candidate", "ratio", "CI") else "left",
                             overflow="fold")
        for r, cells in zip(rows, body):   # escaped: "[context=64]" would read as rich markup
            table.add_row(*(escape(c) for c in cells), style=_STYLE[r.verdict])
        console.print(table)
    hidden = 0 if show_all else report.counts()["same"]
    if hidden:
        console.print(f"{hidden} comparison(s) the same within noise (--all shows them).", highlight=False)
    console.print(report.summary(), style="bold red" if report.exit_code() else "bold green", highlight=False)


def markdown(report: CompareReport) -> str:
    """A PR comment: summary, the changes, and every comparison folded away."""
    def table(rows: list[Comparison]) -> list[str]:
        headers, body = _cells(report, rows)
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join("---:" if h in ("baseline", "candidate", "ratio", "CI") else "---" for h in headers) + "|"]
        for r, cells in zip(rows, body):
            cells = [_MARK[r.verdict]] + cells[1:]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        return lines

    status = "❌ **FAIL**" if report.exit_code() else "✅ **PASS**"
    parts = [f"### archbench compare: {status}", "",
             f"`{report.baseline}` → `{report.candidate}`: {report.summary()}", ""]
    changes = [c for c in report.comparisons if c.verdict != "same"]
    if changes:
        parts += table(changes) + [""]
    else:
        parts += ["No change beyond noise.", ""]
    if report.comparisons:
        parts += [f"<details><summary>All {len(report.comparisons)} comparisons</summary>", ""]
        parts += table(report.comparisons) + ["", "</details>", ""]
    parts.append("Ratio = candidate / baseline; CI: 95% bootstrap of the ratio of medians (timed rows) or "
                 "the ratio bounds of the seed intervals (quality rows).")
    return "\n".join(parts) + "\n"


# --------------------------------------------------------- pytest-benchmark out
def _bench_stats(xs: list[float]) -> dict[str, Any]:
    s = sorted(xs)
    n = len(s)
    q1, median, q3 = (float(q) for q in np.quantile(s, [0.25, 0.5, 0.75]))   # linear, as suite.probes.timing
    iqr = q3 - q1
    mean = statistics.fmean(s)
    std = statistics.stdev(s) if n > 1 else 0.0
    lo15, hi15 = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    inside = [x for x in s if lo15 <= x <= hi15] or s
    return dict(min=s[0], max=s[-1], mean=mean, stddev=std, rounds=n, median=median, iqr=iqr, q1=q1, q3=q3,
                iqr_outliers=n - len(inside), stddev_outliers=sum(abs(x - mean) > std for x in s),
                outliers=f"{sum(abs(x - mean) > std for x in s)};{n - len(inside)}", ld15iqr=inside[0],
                hd15iqr=inside[-1], ops=1.0 / mean if mean else 0.0, total=sum(s), iterations=1, data=s)


def to_pytest_benchmark(df) -> dict[str, Any]:
    """A run's rows with raw timing samples as pytest-benchmark JSON (seconds), one benchmark per
    (variant, scale, probe, metric, settings): name `variant@scale::metric[k=v,...]`, group = metric."""
    from suite import __version__
    benches = []
    for e in sorted(entries_from_frame(df), key=lambda e: (e.variant, e.scale, e.metric, str(e.key()))):
        xs = _samples(e) if e.ok else None
        if not xs:
            continue
        to_s = 1e-3 if e.unit == "ms" else 1.0
        params = ",".join(f"{k}={v}" for k, v in sorted(e.settings.items()))
        name = f"{e.variant}@{e.scale}::{e.metric}[{params}]"
        benches.append(dict(group=e.metric, name=name, fullname=name, params=dict(e.settings), param=params,
                            extra_info=dict(variant=e.variant, scale=e.scale, probe=e.probe, unit=e.unit),
                            options={}, stats=_bench_stats([x * to_s for x in xs])))
    first = df.iloc[0] if len(df) else {}
    get = (lambda k: None if _missing(first.get(k)) else first.get(k)) if len(df) else (lambda k: None)
    return dict(machine_info=dict(node="", processor=get("cpu_model"), machine=get("device"),
                                  python_version=get("python_version"), torch_version=get("torch_version")),
                commit_info=dict(id=get("git_sha")), benchmarks=benches, datetime=get("date"),
                version=f"archbench {__version__}")


# ------------------------------------------------------------------ the command
def compare_command(args) -> int:
    report = compare(args.baseline, args.candidate, threshold=args.threshold, metrics=args.metrics or None,
                     fail_on=args.fail_on, benchmark=True if args.benchmark else None)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        render(report, show_all=args.all)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(markdown(report))
    if args.export_benchmark:
        if report.kind != "results":
            raise ConfigError("--export-benchmark writes a results folder as pytest-benchmark JSON; "
                              "the candidate is already pytest-benchmark JSON.")
        from suite.results import load_results
        out = Path(args.export_benchmark)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(to_pytest_benchmark(load_results(args.candidate)), indent=2, default=str))
    return report.exit_code()
