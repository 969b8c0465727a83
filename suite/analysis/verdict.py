"""The verdict on one number present on both sides (`judge`), and on numbers only one side has or
that failed; the methods are described in `suite.analysis.compare`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from suite.analysis.entries import Entry, _samples
from suite.analysis.noise import NoiseTable
from suite.analysis.ratio_stats import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, bootstrap_ratio_groups, stats_ratio
from suite.metrics import metric_unit_and_direction

EXACT_TOLERANCE = 1e-9
DEFAULT_THRESHOLD = 0.05
# Probes whose numbers come from the config alone (the analytic family): deterministic, so any
# change is a change of the architecture or of the cost model, never noise.
EXACT_PROBES = frozenset({"analytic", "flop_check"})


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
    floor: float | None = None  # the smallest relative change that counted (timed rows: threshold or noise floor)
    # a timed verdict judged with noise figures not measured on this machine (the shipped table): shown,
    # never blocking: shared machines vary x2-x6 between runs of the same code (README: CI gate)
    advisory: bool = False
    attempts: list[int] | None = None  # attempts pooled on [baseline, candidate]

    def blocks(self, fail_on: str, allow_missing: bool = False) -> bool:
        """Does this verdict fail CI under the --fail-on policy? A number the candidate lost fails
        the default policy too (a candidate that drops rows must not pass), unless --allow-missing."""
        if fail_on == "never":
            return False
        if fail_on == "any":
            return self.verdict != "same"
        if self.verdict == "missing":
            return not allow_missing
        if self.verdict == "regression" and self.advisory:
            return False
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
    noise: NoiseTable | None = None,
) -> Comparison:
    """The verdict on a number present on both sides, both ok. A timed change must also clear the
    metric's run-to-run noise floor (`noise`; without one, the threshold alone)."""
    # METRICS decides a known metric's direction; rows only for metrics it does not know (benchmarks)
    said = cand.lower_is_better if cand.lower_is_better is not None else base.lower_is_better
    _, lower = metric_unit_and_direction(cand.metric, "", said)
    b, c = base.value, cand.value
    xb, xc = _samples(base), _samples(cand)
    impossible = _impossible(base, "baseline", bool(xb)) or _impossible(cand, "candidate", bool(xc))
    if impossible:  # no NaN passes the gate, and a negative time is no improvement
        return Comparison(
            variant=cand.variant, metric=cand.metric, settings=cand.settings, verdict="failed", baseline=b,
            candidate=c, lower_is_better=lower, unit=cand.unit or base.unit, scale=cand.scale, probe=cand.probe,
            note=impossible, baseline_failed=_impossible(base, "baseline", bool(xb)) is not None,
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
        attempts=[base.attempts, cand.attempts],
    )
    pooled = ""
    if base.attempts > 1 or cand.attempts > 1 or base.set_aside or cand.set_aside:
        pooled = f"pooled {base.attempts} / {cand.attempts} attempts" + _set_aside(base, cand)
    if c == b:
        out.note = _join("identical", pooled)
        return out
    grew = c > b
    material = abs(c - b) > threshold * abs(b)
    ib, ic = _interval(base), _interval(cand)
    stats_b, stats_c = base.extra.get("stats"), cand.extra.get("stats")
    timed = None
    if xb and xc:
        out.method = "bootstrap"
        timed = bootstrap_ratio_groups(
            base.groups or [xb], cand.groups or [xc], resamples=resamples, confidence=confidence, seed=seed
        )
    elif (
        isinstance(stats_b, dict)
        and isinstance(stats_c, dict)
        and (timed := stats_ratio(stats_b, stats_c, confidence=confidence))
    ):
        out.method = "stats"
    if timed is not None:
        out.ratio, out.ci_low, out.ci_high = timed
        if not all(math.isfinite(x) for x in timed):
            out.verdict, out.note = "failed", f"no finite ratio of the two sides' timings ({_ratio_text(timed)})"
            return out
        floor = noise.floor(cand.probe, cand.metric, threshold, base.attempts, cand.attempts) if noise else threshold
        out.floor = floor
        out.advisory = noise is not None and noise.source == "shipped"
        grew = out.ratio > 1
        material = abs(out.ratio - 1) > floor
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
    out.note = _join(out.note, pooled)
    if significant and material:
        out.verdict = _direction(grew == bool(lower), lower)
        if out.advisory and out.verdict == "regression":
            out.note = _join(out.note, "advisory: timings block only with --noise calibrated on this machine")
    elif out.method == "exact":
        out.note = f"within {EXACT_TOLERANCE:g} relative"
    elif not significant:
        out.note = _join(
            out.note, "within noise" + (" (intervals overlap)" if out.method == "interval" else " (CI includes 1)")
        )
    elif out.floor is not None and out.floor > threshold:
        sigma = noise.sigma(cand.probe, cand.metric) if noise else 0.0
        out.note = _join(
            out.note,
            f"under the {out.floor:.1%} noise floor ({cand.probe}/{cand.metric} varies {sigma:.1%} run to run)",
        )
    else:
        out.note = _join(out.note, f"under the {threshold:.0%} threshold")
    return out


def _ratio_text(timed: tuple[float, float, float]) -> str:
    return f"ratio {timed[0]:g}, CI {timed[1]:g}-{timed[2]:g}"


def _set_aside(base: Entry, cand: Entry) -> str:
    n = base.set_aside + cand.set_aside
    return f", {n} contended attempt(s) set aside" if n else ""


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


def _impossible(entry: Entry, side: str, timed: bool = False) -> str | None:
    """Why this side's number cannot be judged (non-finite, a negative magnitude, a zero time), else None."""
    value = entry.value
    if value is None or not math.isfinite(value):
        return f"{side} value is {value} (not a finite number)"
    if timed and value == 0:
        return f"{side} median time is 0 {entry.unit}, which a measured time cannot be"
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
