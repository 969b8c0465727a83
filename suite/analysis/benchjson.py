"""pytest-benchmark JSON in and out: a format `compare` reads as one side, and writes from a run's
timed rows (seconds) for dashboards that read it."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import numpy as np

from suite.analysis.entries import Entry, _missing, _samples, entries_from_frame

BENCHMARK_PROBE = "pytest-benchmark"
BENCHMARK_METRIC = "median_time"


def is_benchmark_json(path: Path) -> bool:
    if not (path.is_file() and path.suffix == ".json"):
        return False
    try:
        return isinstance(json.loads(path.read_text()).get("benchmarks"), list)
    except (OSError, ValueError, AttributeError):
        return False


def _distinguishing(bench: dict[str, Any], path, where: str) -> dict[str, Any]:
    """What tells apart two benchmarks of one name: their `group` and `params` (as settings)."""
    from suite.safeio import expect_type

    out: dict[str, Any] = {}
    if bench.get("group") is not None:
        out["group"] = str(expect_type(bench["group"], (str, int, float), file=path, field=f"{where}.group"))
    params = expect_type(bench.get("params") or {}, dict, file=path, field=f"{where}.params")
    out.update({str(k): v if isinstance(v, (str, int, float, bool)) else json.dumps(v, default=str)
                for k, v in params.items()})  # fmt: skip
    return out


def entries_from_benchmark(data: dict[str, Any], path: str | Path = "") -> list[Entry]:
    """pytest-benchmark JSON -> one entry per benchmark (by fullname, group and params): its median
    time in seconds, with the raw timings when it was saved with --benchmark-save-data, else its
    stats. Malformed shapes, and two benchmarks that nothing tells apart, are errors naming the
    file: one of them would silently win."""
    from suite.safeio import InputError, expect_type

    out, seen = [], {}
    for i, bench in enumerate(expect_type(data.get("benchmarks"), list, file=path, field="benchmarks")):
        where = f"benchmarks[{i}]"
        expect_type(bench, dict, file=path, field=where)
        stats = expect_type(bench.get("stats") or {}, dict, file=path, field=f"{where}.stats")
        name = bench.get("fullname") or bench.get("name")
        expect_type(name, str, file=path, field=f"{where}.fullname")
        settings = _distinguishing(bench, path, where)
        key = (name, tuple(sorted(settings.items())))
        if key in seen:
            raise InputError(
                f"two benchmarks are named {name!r} ({seen[key]} and {where}) with the same group and params; "
                "names must be unique.",
                file=path,
                field=where,
            )
        seen[key] = where
        extra: dict[str, Any] = {"stats": {k: v for k, v in stats.items() if k != "data"}}
        if stats.get("data") is not None:
            samples = expect_type(stats["data"], list, file=path, field=f"{where}.stats.data")
            for x in samples:
                expect_type(x, (int, float), file=path, field=f"{where}.stats.data")
            extra["samples"] = samples
        median = stats.get("median")
        if median is not None:
            expect_type(median, (int, float), file=path, field=f"{where}.stats.median")
        out.append(
            Entry(
                variant=name,
                metric=BENCHMARK_METRIC,
                settings=settings,
                value=None if median is None else float(median),
                lower_is_better=True,
                unit="s",
                probe=BENCHMARK_PROBE,
                extra=extra,
            )
        )
    return out


def _bench_stats(xs: list[float]) -> dict[str, Any]:
    s = sorted(xs)
    n = len(s)
    q1, median, q3 = (float(q) for q in np.quantile(s, [0.25, 0.5, 0.75]))  # linear, as suite.probes.timing
    iqr = q3 - q1
    mean = statistics.fmean(s)
    std = statistics.stdev(s) if n > 1 else 0.0
    lo15, hi15 = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    inside = [x for x in s if lo15 <= x <= hi15] or s
    return dict(
        min=s[0],
        max=s[-1],
        mean=mean,
        stddev=std,
        rounds=n,
        median=median,
        iqr=iqr,
        q1=q1,
        q3=q3,
        iqr_outliers=n - len(inside),
        stddev_outliers=sum(abs(x - mean) > std for x in s),
        outliers=f"{sum(abs(x - mean) > std for x in s)};{n - len(inside)}",
        ld15iqr=inside[0],
        hd15iqr=inside[-1],
        ops=1.0 / mean if mean else 0.0,
        total=sum(s),
        iterations=1,
        data=s,
    )


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
        benches.append(
            dict(
                group=e.metric,
                name=name,
                fullname=name,
                params=dict(e.settings),
                param=params,
                extra_info=dict(variant=e.variant, scale=e.scale, probe=e.probe, unit=e.unit),
                options={},
                stats=_bench_stats([x * to_s for x in xs]),
            )
        )
    first = df.iloc[0] if len(df) else {}
    get = (lambda k: None if _missing(first.get(k)) else first.get(k)) if len(df) else (lambda k: None)
    return dict(
        machine_info=dict(
            node="",
            processor=get("cpu_model"),
            machine=get("device"),
            python_version=get("python_version"),
            torch_version=get("torch_version"),
        ),
        commit_info=dict(id=get("git_sha")),
        benchmarks=benches,
        datetime=get("date"),
        version=f"archbench {__version__}",
    )
