"""One side of `compare` (or one run of a noise calibration): a results folder, a results.jsonl /
parquet file, or a pytest-benchmark JSON file, read into entries; every unusable input is one
paragraph naming the path (exit 2), never a traceback."""

from __future__ import annotations

from pathlib import Path

from suite.analysis.benchjson import entries_from_benchmark
from suite.analysis.entries import Entry, entries_from_frame
from suite.config import ConfigError


def _exists(path: Path, side: str) -> None:
    if not path.exists():
        raise ConfigError(
            f"{side} not found: {path} does not exist (give a results folder from "
            f"`archbench run --out`, a results.jsonl file or a pytest-benchmark JSON file)."
        )


def load_records(path: str | Path, side: str, extra_rows: list[dict] = ()) -> list[dict]:
    """Every attempt's rows of a results folder or file (plus `extra_rows`, e.g. re-measured ones)."""
    from suite.results import load_results, to_frame

    path = Path(path)
    _exists(path, side)
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
    records = df.to_dict("records")
    if extra_rows:
        records = to_frame(records + list(extra_rows)).to_dict("records")
    return records


def entries_of_records(records: list[dict]) -> list[Entry]:
    from suite.results import to_frame

    return [e for e in entries_from_frame(to_frame(records)) if e.metric or e.status != "ok"]


def is_benchmark_path(path: Path) -> bool:
    """A .json file is pytest-benchmark JSON (results are folders, .jsonl or .parquet files): it is
    then read strictly, so a broken one is an error about JSON, not about a missing results file."""
    return path.suffix.lower() == ".json" and not path.is_dir()


def load_side(
    path: str | Path, side: str, *, benchmark: bool | None = None, extra_rows: list[dict] = ()
) -> tuple[str, list[Entry]]:
    """('results' | 'benchmark', entries) of one side; ConfigError naming the path when unusable."""
    from suite.safeio import InputError, load_json

    path = Path(path)
    _exists(path, side)
    if benchmark or (benchmark is None and is_benchmark_path(path)):
        data = load_json(path, f"{side} (pytest-benchmark JSON)")
        if not isinstance(data, dict) or "benchmarks" not in data:
            raise InputError(f"{side} is not pytest-benchmark JSON (no `benchmarks` list).", file=path)
        entries = entries_from_benchmark(data, path)
        if not entries:
            raise InputError(f"{side} holds no benchmarks (`benchmarks` is empty).", file=path, field="benchmarks")
        return "benchmark", entries
    entries = entries_of_records(load_records(path, side, extra_rows))
    if not entries:
        raise ConfigError(f"{side} {path} holds no result rows.")
    return "results", entries
