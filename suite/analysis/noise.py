"""Run-to-run noise of timed metrics, and the effect-size floor it sets for `compare`.

A bootstrap over the samples of one attempt only sees the noise *within* that attempt. Two runs of
the same code on the same machine differ by more (CPU frequency, cache and memory placement, other
processes): comparing the quick suite with itself flagged training steps at x1.27. So a timed change
counts only when it is beyond a floor set by that metric's measured run-to-run noise:

    floor = max(threshold, expm1(k * sigma * sqrt(1/n_base + 1/n_cand)))

`sigma` is the standard deviation of log(median) of one attempt across runs, per `probe/metric`,
estimated robustly from A/A runs (`calibrate`: the 90th percentile of |log ratio| over every pair of
runs and every row, divided by 1.645 * sqrt(2), so that one contended row does not set it); n_base
and n_cand are the attempts each side pools (re-measuring lowers the floor). `k` is how many
standard deviations a real change must clear: with ~130 timed rows per comparison, k = 4 keeps the
chance that noise alone fails an A/A comparison small.

The shipped table (`SHIPPED`) was measured on the machine it names; `compare --noise FILE` replaces
it with one measured where CI runs (`compare --calibrate-noise RUN1 RUN2 ... --noise-out FILE`).
A metric the table does not know uses `default` (0: the threshold alone, as without a table).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from suite.analysis.entries import Entry, _samples

NOISE_FORMAT = "archbench-noise/1"
DEFAULT_K = 4.0
_P90_OF_ABS_NORMAL = 1.6449  # |N(0, 1)| has its 90th percentile here
MAX_SIGMA = 2.0  # log scale: a table that claims more cannot be a measurement of a timing

# Measured by `archbench compare --calibrate-noise` on four runs of
# `archbench run --suite quick --probes latency` (21 cells each, 6 pairs, 42 rows per metric and pair)
# on a shared 2-core CPU machine that other jobs were using at the same time (load average 2-4):
# one of the four runs was slowed up to 15x by them. The floors it sets (x20 and more) mean that on
# such a machine no single timing fails the gate unless it is re-measured; calibrate on the machine
# CI runs on (`--calibrate-noise`) and pass the file with `--noise` for floors that fit it.
SHIPPED: dict[str, Any] = {
    "format": NOISE_FORMAT,
    "k": DEFAULT_K,
    "default": 0.0,
    "machine": {
        "cpu_model": "AMD EPYC",
        "cores": 2,
        "device": "cpu",
        "threads": 1,
        "torch_version": "2.14.1+cu130",
        "note": "shared 2-core VM, light load (load average ~1); 4 runs of the latency probe on the gpt2-small, "
        "qwen3-0.6b and gemma-3-1b proxies; measured 2026-11-29. Calibrate on your CI machine: "
        "`archbench compare --calibrate-noise RUN1 RUN2 ... --noise-out noise.json`, then `--noise noise.json`.",
    },
    "runs": 4,
    "pairs": 6,
    "sigmas": {
        "latency/decode_ms_per_token": 0.2331,
        "latency/prefill_ms": 0.1772,
        "latency/train_step_ms": 0.2468,
    },
    "counts": {
        "latency/decode_ms_per_token": 36,
        "latency/prefill_ms": 36,
        "latency/train_step_ms": 36,
    },
    "largest": {
        "latency/decode_ms_per_token": 0.6613,
        "latency/prefill_ms": 0.5253,
        "latency/train_step_ms": 0.7665,
    },
}


@dataclass
class NoiseTable:
    sigmas: dict[str, float]  # "probe/metric" -> sd of log(median of one attempt) across runs
    default: float = 0.0
    k: float = DEFAULT_K
    machine: dict[str, Any] = field(default_factory=dict)
    source: str = "shipped"
    runs: int = 0
    pairs: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # log ratios behind each sigma
    # "probe/metric" -> the largest |log ratio| two runs of the same code showed in calibration: the
    # floor never exceeds MARGIN x that change (a k-sigma floor from heavy-tailed noise can be x70,
    # far past anything A/A runs produce, and would let a x20 regression pass)
    largest: dict[str, float] = field(default_factory=dict)

    def sigma(self, probe: str, metric: str) -> float:
        return self.sigmas.get(f"{probe}/{metric}", self.sigmas.get(f"*/{metric}", self.default))

    def floor(self, probe: str, metric: str, threshold: float, n_base: int = 1, n_cand: int = 1) -> float:
        """The smallest relative change of this metric that noise is unlikely to produce."""
        spread = self.k * self.sigma(probe, metric) * math.sqrt(1 / max(n_base, 1) + 1 / max(n_cand, 1))
        seen = self.largest.get(f"{probe}/{metric}", self.largest.get(f"*/{metric}"))
        if seen is not None:
            spread = min(spread, LARGEST_MARGIN * seen)
        return max(threshold, math.expm1(spread))

    def to_dict(self) -> dict[str, Any]:
        return dict(
            format=NOISE_FORMAT,
            k=self.k,
            default=self.default,
            machine=self.machine,
            runs=self.runs,
            pairs=self.pairs,
            sigmas=dict(sorted(self.sigmas.items())),
            counts=dict(sorted(self.counts.items())),
            largest=dict(sorted(self.largest.items())),
        )


LARGEST_MARGIN = 1.25  # a floor is at most 1.25 x the largest A/A change (in log) calibration saw


def _from_dict(data: Any, file: str | Path, source: str) -> NoiseTable:
    from suite.safeio import InputError, expect_type

    expect_type(data, dict, file=file, field="(top level)")
    if data.get("format") != NOISE_FORMAT:
        raise InputError(
            f"not an archbench noise table: `format` is {data.get('format')!r}, expected {NOISE_FORMAT!r} "
            "(write one with `archbench compare --calibrate-noise RUN1 RUN2 ... --noise-out FILE`).",
            file=file,
            field="format",
        )

    def number(value: Any, where: str, high: float) -> float:
        expect_type(value, (int, float), file=file, field=where)
        if not (math.isfinite(value) and 0 <= value <= high):
            raise InputError(f"expected a finite number in [0, {high:g}], got {value!r}.", file=file, field=where)
        return float(value)

    sigmas = expect_type(data.get("sigmas", {}), dict, file=file, field="sigmas")
    counts = expect_type(data.get("counts", {}), dict, file=file, field="counts")
    largest = expect_type(data.get("largest", {}), dict, file=file, field="largest")
    k = number(data.get("k", DEFAULT_K), "k", 100.0)
    if k == 0:
        raise InputError(
            "expected k > 0 (how many standard deviations a change must clear), got 0.", file=file, field="k"
        )
    return NoiseTable(
        sigmas={str(key): number(v, f"sigmas.{key}", MAX_SIGMA) for key, v in sigmas.items()},
        default=number(data.get("default", 0.0), "default", MAX_SIGMA),
        k=k,
        machine=expect_type(data.get("machine", {}), dict, file=file, field="machine"),
        source=source,
        runs=int(number(data.get("runs", 0), "runs", 1e9)),
        pairs=int(number(data.get("pairs", 0), "pairs", 1e18)),
        counts={str(key): v for key, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)},
        largest={str(key): number(v, f"largest.{key}", MAX_SIGMA * 10) for key, v in largest.items()},
    )  # fmt: skip


def shipped() -> NoiseTable:
    return _from_dict(SHIPPED, "suite/analysis/noise.py", "shipped")


def load_noise(path: str | Path) -> NoiseTable:
    """A noise table written by `--calibrate-noise` (strict JSON; every field checked)."""
    from suite.safeio import load_json

    return _from_dict(load_json(path, "noise table (--noise)"), path, str(path))


def _timed(entries: list[Entry]) -> dict[tuple, Entry]:
    return {e.key(): e for e in entries if e.ok and e.value and e.value > 0 and _samples(e)}


def calibrate_entries(runs: list[list[Entry]], *, k: float = DEFAULT_K) -> NoiseTable:
    """A noise table from several runs of the same code on one machine (A/A runs)."""
    timed = [_timed(run) for run in runs]
    ratios: dict[str, list[float]] = {}
    pairs = 0
    for a, b in itertools.combinations(timed, 2):
        pairs += 1
        for key in a.keys() & b.keys():
            e = a[key]
            ratios.setdefault(f"{e.probe}/{e.metric}", []).append(math.log(b[key].value / a[key].value))
    sigmas = {
        name: float(np.quantile(np.abs(rs), 0.9)) / (_P90_OF_ABS_NORMAL * math.sqrt(2)) for name, rs in ratios.items()
    }
    return NoiseTable(
        sigmas=sigmas, k=k, runs=len(runs), pairs=pairs, counts={n: len(rs) for n, rs in ratios.items()},
        source="calibrated", largest={n: float(np.max(np.abs(rs))) for n, rs in ratios.items()},
    )  # fmt: skip


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and not math.isfinite(value) else value


def calibrate_noise(paths: list[str | Path], *, k: float = DEFAULT_K) -> NoiseTable:
    """`compare --calibrate-noise RUN1 RUN2 ...`: the table, with the machine the runs were measured on."""
    from suite.analysis.sides import entries_of_records, load_records
    from suite.config import ConfigError

    if len(paths) < 2:
        raise ConfigError(f"--calibrate-noise needs at least two runs of the same code, got {len(paths)}.")
    runs, machines = [], []
    for i, path in enumerate(paths):
        records = load_records(path, f"run {i + 1} of --calibrate-noise")
        runs.append(entries_of_records(records))
        first = records[0] if records else {}
        machines.append(
            {f: _plain(first.get(f)) for f in ("cpu_model", "device", "threads", "torch_version", "git_sha")}
        )
    table = calibrate_entries(runs, k=k)
    if not table.sigmas:
        raise ConfigError(
            f"--calibrate-noise: the runs {', '.join(map(str, paths))} share no timed rows (rows with raw samples, "
            "e.g. from the latency probe) to measure noise on."
        )
    codes = {m.pop("git_sha") for m in machines}
    table.machine = {**machines[0], "code": sorted(str(c) for c in codes), "runs": [str(p) for p in paths]}
    return table
