"""The tidy result schema and the results store.

One row per number. The store is a folder; `DIR/results.jsonl` is the source of truth, one JSON
object per line, and `DIR/results.parquet` is a convenience copy rewritten at the end of a run.

Crash safety: the rows of one cell are serialised into one buffer and appended with a single
`write` on an `O_APPEND` descriptor, then fsync'ed, so a finished cell survives kill -9 or power
loss. A crash *during* that write can leave a torn tail; every row therefore carries bookkeeping
columns (`attempt`: one execution of one cell, `cell_rows`: how many rows that execution wrote)
so the loader can drop a torn last line and an incomplete attempt (with a warning) instead of
returning half a cell. When a cell was computed more than once in a folder (`--force`), only its
latest complete attempt is kept.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import uuid
import warnings
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from suite.config import ConfigError
from suite.strictjson import dumps

RESULTS_FILE = "results.jsonl"
PARQUET_FILE = "results.parquet"
STATUSES = ("ok", "error", "oom", "timeout")

# Column order of the tidy schema; `settings.<key>` columns go between `error` and `extra`.
CELL_COLUMNS = ["run_id", "cell_id", "variant", "family", "scale", "probe"]
ROW_COLUMNS = ["metric", "value", "unit", "lower_is_better", "status", "error"]
BOOKKEEPING_COLUMNS = ["attempt", "cell_rows", "cell_seconds"]
PROVENANCE_COLUMNS = [
    "git_sha",
    "archbench_version",
    "torch_version",
    "python_version",
    "device",
    "cpu_model",
    "threads",
    "date",
]
SCHEMA_COLUMNS = CELL_COLUMNS + ROW_COLUMNS + ["extra"] + BOOKKEEPING_COLUMNS + PROVENANCE_COLUMNS
SETTINGS_PREFIX = "settings."


# ------------------------------------------------------------------ provenance
def _git_sha() -> str:
    """The checkout's commit (with `+dirty` when the tree has changes), or "unknown" (e.g. a wheel)."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def provenance() -> dict[str, Any]:
    """Where and with what the numbers were measured; merged into every row of a run."""
    from suite import __version__

    device, threads = "cpu", os.cpu_count() or 1
    try:
        import torch

        threads = torch.get_num_threads()
        if torch.cuda.is_available():
            device = f"cuda:{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
        torch_version = torch.__version__
    except ImportError:
        torch_version = "unknown"
    return dict(
        git_sha=_git_sha(),
        archbench_version=__version__,
        torch_version=torch_version,
        python_version=platform.python_version(),
        device=device,
        cpu_model=_cpu_model(),
        threads=int(threads),
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def new_attempt() -> str:
    return uuid.uuid4().hex[:12]


# ------------------------------------------------------------------------ rows
def _strict_json(obj: Any, **kwargs: Any) -> str:
    return dumps(obj, **kwargs)


def _plain(value: Any) -> Any:
    """A JSON- and parquet-friendly scalar: nested values become JSON strings, NaN becomes None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple, dict)):
        return _strict_json(value, sort_keys=True)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy / torch scalars
        return _plain(value.item())
    return value


def flatten_settings(settings: dict[str, Any]) -> dict[str, Any]:
    return {f"{SETTINGS_PREFIX}{k}": _plain(v) for k, v in sorted(settings.items())}


def make_row(
    *,
    cell: dict[str, Any],
    metric: str,
    value: float | None,
    unit: str = "",
    lower_is_better: bool | None = None,
    status: str = "ok",
    error: str = "",
    settings: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    bookkeeping: dict[str, Any] | None = None,
    prov: dict[str, Any] | None = None,
) -> dict:
    """One tidy row. `cell` holds run_id, cell_id, variant, family, scale, probe."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    if value is not None:
        value = float(value)
        if not math.isfinite(value):
            # no NaN passes as a measurement: the row says what happened instead
            if status == "ok":
                status, error = "error", f"non-finite value ({value}) for {metric}"
            value = None
    row = {k: cell.get(k) for k in CELL_COLUMNS}
    row.update(metric=metric, value=value, unit=unit, lower_is_better=lower_is_better, status=status, error=error or "")
    row.update(flatten_settings(settings or {}))
    row["extra"] = _strict_json(extra or {}, sort_keys=True)
    row.update(bookkeeping or {})
    row.update(prov or {})
    return row


# ----------------------------------------------------------------------- store
class StoreError(ConfigError):
    """The results file could not be written (disk full, read-only); the earlier rows are intact."""

    def __init__(self, exc: OSError, path: Path):
        reason = {28: "the disk is full", 30: "the file system is read-only", 13: "permission denied"}.get(
            exc.errno, exc.strerror or type(exc).__name__
        )
        super().__init__(
            f"cannot write results file {path}: {reason}. The rows written before are intact; fix it and continue "
            "with --resume.",
            file=str(path),
        )


class ResultStore:
    """Appends rows to `DIR/results.jsonl`; one writer per folder (the runner's parent process)."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.path = self.dir / RESULTS_FILE

    def append(self, rows: Iterable[dict]) -> None:
        """Append rows as one write + fsync: a cell is on disk entirely or detectably torn."""
        rows = list(rows)
        if not rows:
            return
        data = "".join(_strict_json(r) + "\n" for r in rows).encode()
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._repair_tail()
            size = self.path.stat().st_size if self.path.exists() else 0
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(exc, self.path) from None
        try:
            view = memoryview(data)
            while view:  # a short write is retried; only a crash can leave a torn tail
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, size)  # a disk that filled mid-write: the earlier rows stay as they were
            raise StoreError(exc, self.path) from None
        finally:
            os.close(fd)

    def _repair_tail(self) -> None:
        """A torn last line (no trailing newline) would glue onto the next row: end it first."""
        try:
            with open(self.path, "rb") as f:
                f.seek(0, os.SEEK_END)
                if f.tell() == 0:
                    return
                f.seek(-1, os.SEEK_END)
                last = f.read(1)
        except FileNotFoundError:
            return
        if last != b"\n":
            with open(self.path, "ab") as f:
                f.write(b"\n")
                f.flush()
                os.fsync(f.fileno())

    def records(self) -> list[dict]:
        return read_jsonl(self.path)

    def load(self) -> pd.DataFrame:
        return load_results(self.dir)


def read_jsonl(path: str | Path, *, latest: bool = True) -> list[dict]:
    """Rows of one results file: torn lines and incomplete attempts dropped with a warning;
    with `latest`, only the last complete attempt of each cell is kept."""
    path = Path(path)
    if not path.exists():
        return []
    rows: list[dict] = []
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise ConfigError(f"cannot read results file {path}: {exc.strerror or exc}.", file=str(path)) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            warnings.warn(f"{path}: skipped unreadable line {number} (torn by a crash?)", stacklevel=2)
            continue
        if not isinstance(row, dict) or not isinstance(row.get("metric", ""), str):
            warnings.warn(f"{path}: skipped line {number}: not a results row", stacklevel=2)
            continue
        rows.append(row)
    # incomplete attempts: fewer rows on disk than the attempt wrote
    counts: dict[str, int] = {}
    expected: dict[str, int] = {}
    for r in rows:
        a = r.get("attempt")
        counts[a] = counts.get(a, 0) + 1
        expected[a] = max(expected.get(a, 0), int(r.get("cell_rows") or 0))
    incomplete = {a for a, n in counts.items() if a is not None and n < expected[a]}
    if incomplete:
        warnings.warn(f"{path}: dropped {len(incomplete)} incomplete cell attempt(s) (crash mid-write)", stacklevel=2)
        rows = [r for r in rows if r.get("attempt") not in incomplete]
    if latest:
        last_attempt: dict[str, str] = {}
        for r in rows:
            last_attempt[r.get("cell_id")] = r.get("attempt")
        rows = [r for r in rows if last_attempt.get(r.get("cell_id")) == r.get("attempt")]
    return rows


# ---------------------------------------------------------------------- frames
def to_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows -> DataFrame with schema columns first, then `settings.*` sorted, then anything else."""
    df = pd.DataFrame.from_records(rows) if rows else pd.DataFrame(columns=SCHEMA_COLUMNS)
    for col in SCHEMA_COLUMNS:
        if col not in df.columns:
            df[col] = None
    settings = sorted(c for c in df.columns if c.startswith(SETTINGS_PREFIX))
    others = [c for c in df.columns if c not in SCHEMA_COLUMNS and c not in settings]
    head = CELL_COLUMNS + ROW_COLUMNS
    df = df[head + settings + ["extra"] + BOOKKEEPING_COLUMNS + PROVENANCE_COLUMNS + others]
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    df["error"] = df["error"].fillna("").astype(str)
    return df.reset_index(drop=True)


def load_results(*sources: str | Path, latest: bool = True) -> pd.DataFrame:
    """Concatenate the results of several runs. A source is a results folder or a results file;
    a folder's `results.jsonl` is preferred over its parquet copy."""
    rows: list[dict] = []
    for source in sources:
        source = Path(source)
        jsonl = source / RESULTS_FILE if source.is_dir() else source
        parquet = source / PARQUET_FILE if source.is_dir() else source
        if jsonl.suffix == ".jsonl" and jsonl.exists():
            rows.extend(read_jsonl(jsonl, latest=latest))
        elif parquet.suffix == ".parquet" and parquet.exists():
            rows.extend(pd.read_parquet(parquet).to_dict("records"))
        else:
            raise FileNotFoundError(f"no {RESULTS_FILE} or {PARQUET_FILE} in {source}")
    return to_frame(rows)


def _parquet_safe(df: pd.DataFrame) -> pd.DataFrame:
    """pyarrow refuses object columns that mix types (e.g. settings.window: 128 and "none")."""
    df = df.copy()
    for col in df.columns:
        if df[col].dtype == object:
            kinds = {type(v) for v in df[col] if v is not None and not (isinstance(v, float) and math.isnan(v))}
            if len(kinds) > 1 and not kinds <= {int, float}:
                df[col] = df[col].map(lambda v: None if v is None else str(v))
    return df


def write_parquet(directory: str | Path, df: pd.DataFrame | None = None) -> Path:
    """Rewrite `DIR/results.parquet` from the jsonl (atomic replace)."""
    directory = Path(directory)
    df = load_results(directory) if df is None else df
    out = directory / PARQUET_FILE
    tmp = out.with_suffix(".parquet.tmp")
    _parquet_safe(df).to_parquet(tmp, index=False)
    os.replace(tmp, out)
    return out


def settings_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith(SETTINGS_PREFIX)]
