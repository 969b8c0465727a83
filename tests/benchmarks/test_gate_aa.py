"""A/A benchmark of the CI gate (`archbench compare`): does it cry wolf, and does it still see a
real slowdown?

K runs of the quick suite's timed cells (the latency probe: prefill, decode and training step, at
the quick suite's settings) go into separate folders; every one of the K(K-1)/2 pairs is compared
(same code, same machine: any failing verdict is a false alarm), and again with one side's timings
scaled by 1.10 on every timed row (an injected 10% slowdown the gate should catch). Printed and
written to `$ARCHBENCH_AA_OUT/gate_aa.json` (default: the test's tmp folder):

    false_regression_rate   pairs whose gate failed / pairs (goal 0)
    detection_rate          slowed pairs whose gate failed / pairs (goal >= 0.95)

with the same figures for the gate without noise floors (threshold and bootstrap only) beside them.
The noise floors come from the shipped table (`suite.analysis.noise`, calibrated on runs other than
these) or from `$ARCHBENCH_AA_NOISE` (a `compare --calibrate-noise` file). Re-measuring is off: it
would re-run cells, and an injected slowdown cannot be re-measured.

Default: 3 runs of two variants (< 60 s). Full: `ARCHBENCH_AA_RUNS=5` runs every variant of the
quick suite's latency entries (21 cells a run; several minutes on 2 cores):

    ARCHBENCH_AA_RUNS=5 .venv/bin/pytest tests/benchmarks/test_gate_aa.py -s --benchmark-disable
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path

from suite.analysis.compare import compare
from suite.analysis.noise import NoiseTable, load_noise, shipped
from suite.run.progress import make_progress
from suite.run.runner import run_suite

SLOWDOWN = 1.10
QUICK_VARIANTS = ["gpt2-small", "qwen3-0.6b"]  # default mode: two of the quick suite's variants


def _runs(root: Path, k: int, variants: list[str]) -> list[Path]:
    out = []
    for i in range(k):
        folder = root / f"run{i + 1}"
        start = time.perf_counter()
        summary = run_suite("quick", variants=variants, probes=["latency"], out=folder, progress=make_progress())
        print(f"run {i + 1}/{k}: {summary.ran} cells, {summary.statuses} in {time.perf_counter() - start:.0f}s")
        out.append(folder)
    return out


def _slowed(folder: Path, dest: Path) -> Path:
    """A copy of a run with every timed row (raw samples) 10% slower."""
    dest.mkdir(parents=True, exist_ok=True)
    lines = []
    for line in (folder / "results.jsonl").read_text().splitlines():
        row = json.loads(line)
        extra = json.loads(row.get("extra") or "{}")
        if row.get("status") == "ok" and isinstance(extra.get("samples"), list) and row.get("value") is not None:
            row["value"] *= SLOWDOWN
            extra["samples"] = [x * SLOWDOWN for x in extra["samples"]]
            row["extra"] = json.dumps(extra, sort_keys=True)
        lines.append(json.dumps(row))
    (dest / "results.jsonl").write_text("\n".join(lines) + "\n")
    return dest


def _gate(base: Path, cand: Path, noise: NoiseTable) -> dict:
    report = compare(base, cand, noise=noise, remeasure=0, allow_missing=False)
    timed = [c for c in report.comparisons if c.method == "bootstrap"]
    return dict(
        failed=report.exit_code() == 1,
        timed_rows=len(timed),
        regressions=sum(c.verdict == "regression" for c in timed),
        blocking=[f"{c.variant} {c.metric} {c.settings.get('context')} x{c.ratio:.3f}" for c in report.blocking()][:5],
    )


def _rates(pairs: list[tuple[Path, Path]], slowed: dict[Path, Path], noise: NoiseTable) -> dict:
    aa = [_gate(a, b, noise) for a, b in pairs]
    det = [_gate(a, slowed[b], noise) for a, b in pairs]
    rows = sum(d["timed_rows"] for d in det) or 1
    return dict(
        false_regression_rate=sum(r["failed"] for r in aa) / len(aa),
        false_regression_rows=sum(r["regressions"] for r in aa),
        detection_rate=sum(d["failed"] for d in det) / len(det),
        detected_rows_fraction=sum(d["regressions"] for d in det) / rows,
        aa_blocking_examples=[r["blocking"] for r in aa if r["failed"]][:3],
    )


def test_gate_aa(tmp_path):
    k = int(os.environ.get("ARCHBENCH_AA_RUNS", "3"))
    variants = [] if "ARCHBENCH_AA_RUNS" in os.environ else QUICK_VARIANTS
    if os.environ.get("ARCHBENCH_AA_VARIANTS"):  # e.g. "gpt2-small,qwen3-0.6b,gemma-3-1b"
        variants = os.environ["ARCHBENCH_AA_VARIANTS"].split(",")
    noise = load_noise(os.environ["ARCHBENCH_AA_NOISE"]) if os.environ.get("ARCHBENCH_AA_NOISE") else shipped()
    out = Path(os.environ.get("ARCHBENCH_AA_OUT") or tmp_path)
    runs = _runs(out / "runs", k, variants)
    pairs = list(itertools.combinations(runs, 2))
    slowed = {run: _slowed(run, out / "slowed" / run.name) for run in runs}
    result = dict(
        runs=k,
        pairs=len(pairs),
        variants=variants or "quick suite (all latency cells)",
        slowdown=SLOWDOWN,
        noise=dict(source=noise.source, k=noise.k, sigmas=noise.sigmas, machine=noise.machine),
        gate=_rates(pairs, slowed, noise),
        gate_without_noise_floor=_rates(pairs, slowed, NoiseTable({})),
    )
    (out / "gate_aa.json").write_text(json.dumps(result, indent=2) + "\n")
    for name in ("gate", "gate_without_noise_floor"):
        r = result[name]
        print(
            f"{name}: false-regression rate {r['false_regression_rate']:.0%} ({r['false_regression_rows']} rows), "
            f"detection of a 10% slowdown {r['detection_rate']:.0%} of pairs "
            f"({r['detected_rows_fraction']:.0%} of rows)"
        )
    print(f"written to {out / 'gate_aa.json'}")
    assert result["pairs"] == k * (k - 1) // 2
    assert all(0 <= result["gate"][m] <= 1 for m in ("false_regression_rate", "detection_rate"))
