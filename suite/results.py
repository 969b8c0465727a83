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

import contextlib
import errno
import io
import json
import math
import os
import platform
import subprocess
import uuid
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from suite import accelerator
from suite.config import ConfigError
from suite.messages import os_reason
from suite.strictjson import dumps

RESULTS_FILE = "results.jsonl"
PARQUET_FILE = "results.parquet"
STATUSES = ("ok", "error", "oom", "timeout")

# Column order of the tidy schema; `settings.<key>` columns go between `error` and `extra`.
CELL_COLUMNS = ["run_id", "cell_id", "variant", "family", "scale", "probe"]
ROW_COLUMNS = ["metric", "value", "unit", "lower_is_better", "status", "error"]
BOOKKEEPING_COLUMNS = ["attempt", "cell_rows", "cell_seconds"]
PROVENANCE_COLUMNS = "git_sha archbench_version torch_version python_version device cpu_model threads date".split()
PROVENANCE_COLUMNS += list(accelerator.FIELDS)  # GPU name, driver, CUDA version, SDPA backends ("" on CPU)
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
        **accelerator.describe(),
    )


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def new_attempt() -> str:
    return uuid.uuid4().hex[:12]


# ------------------------------------------------------------------------ rows
def _plain(value: Any) -> Any:
    """A JSON- and parquet-friendly scalar: nested values become JSON strings, NaN becomes None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple, dict)):
        return dumps(value, sort_keys=True)
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
    row["extra"] = dumps(extra or {}, sort_keys=True)
    row.update(bookkeeping or {})
    row.update(prov or {})
    return row


# ----------------------------------------------------------------------- store
class StoreError(ConfigError):
    """The results file could not be written (disk full, read-only); the earlier rows are intact."""

    def __init__(self, exc: OSError, path: Path, doing: str = "write results file"):
        super().__init__(
            f"cannot {doing} {path}: {os_reason(exc)}. The rows written before are intact; fix it and continue "
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
        data = "".join(dumps(r) + "\n" for r in rows).encode()
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
            with contextlib.suppress(OSError):  # a disk that filled mid-write: the earlier rows stay as they were
                os.ftruncate(fd, size)
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


# --------------------------------------------------------------------- reading
# A results file is user input (copied, merged, edited): a row that cannot be right is skipped with
# a warning naming its line, never allowed to crash the leaderboard or to pass a NaN as a number.
_TEXT_FIELDS = (*CELL_COLUMNS, "metric", "unit", "status", "error", "attempt")
_WANTED = {
    **{key: ((str,), "a string") for key in _TEXT_FIELDS},
    "value": ((int, float), "a number or null"),
    "lower_is_better": ((bool,), "true, false or null"),
    "cell_rows": ((int,), "an integer"),
}


def _read(path: Path) -> bytes:
    """The bytes of a results file (no size limit: a long run's file is large by design)."""
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "it is a directory, not a file")
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read results file {path}: {os_reason(exc)}.", file=str(path)) from None


_TYPE_NAMES = {
    dict: "an object",
    list: "a list",
    bool: "true/false",
    str: "a string",
    float: "a number",
    int: "an integer",
}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def clean_row(row: Any, *, nan_is_null: bool = False) -> tuple[dict | None, str]:
    """(row fit for the frame, "") or (None, why it was skipped). A non-finite value on an ok row
    makes the row an `error` (never an ok NaN); nested settings or extras become JSON text.
    `nan_is_null`: a parquet copy, which stores a missing value as NaN."""
    if not isinstance(row, dict):
        return None, f"it is {_type_name(row)}, not a results row (a JSON object)"
    out: dict[str, Any] = {}
    nonfinite = False
    for key, value in row.items():
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars from parquet
            value = value.item()
        types, wanted = _WANTED.get(key, ((object, bool), ""))  # any other column: anything (nested -> JSON)
        if key == "cell_rows" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, float) and not math.isfinite(value):
            nonfinite |= key == "value" and not (nan_is_null and math.isnan(value))
            value = None
        elif value is not None and (not isinstance(value, types) or isinstance(value, bool) and bool not in types):
            return None, f"field '{key}' is {_type_name(value)}, expected {wanted}"
        elif isinstance(value, (list, dict)):
            value = dumps(value, sort_keys=True)
        out[key] = value
    if out.get("status") is not None and out["status"] not in STATUSES:
        return None, f"field 'status' is {out['status']!r}, expected one of {', '.join(STATUSES)}"
    if nonfinite and out.get("status", "ok") == "ok":
        out.update(status="error", error=f"the results file holds a non-finite value for {out.get('metric') or 'it'}")
    return out, ""


def parse_jsonl(data: bytes, path: str | Path, *, latest: bool = True) -> list[dict]:
    """Rows of the bytes of one results file; see `read_jsonl`."""
    rows: list[dict] = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)  # NaN / Infinity parse, and clean_row makes the row an error
        except (ValueError, RecursionError):
            warnings.warn(f"{path}: skipped unreadable line {number} (torn by a crash?)", stacklevel=2)
            continue
        row, why = clean_row(row)
        if row is None:
            warnings.warn(f"{path}: skipped line {number}: {why}", stacklevel=2)
            continue
        rows.append(row)
    return _complete(rows, path, latest)


def _complete(rows: list[dict], path, latest: bool) -> list[dict]:
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


def read_jsonl(path: str | Path, *, latest: bool = True) -> list[dict]:
    """Rows of one results file: torn lines, rows that cannot be right and incomplete attempts
    dropped with a warning; with `latest`, only the last complete attempt of each cell is kept."""
    path = Path(path)
    if not path.exists():
        return []
    return parse_jsonl(_read(path), path, latest=latest)


def read_parquet_rows(path: Path) -> list[dict]:
    try:
        records = pd.read_parquet(io.BytesIO(_read(path))).to_dict("records")
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - pyarrow's many error types: a file that is not parquet
        text = " ".join(str(exc).split())[:200]
        raise ConfigError(f"results file {path} is not a readable parquet file ({text}).", file=str(path)) from None
    rows = []
    for number, record in enumerate(records, 1):
        row, why = clean_row(record, nan_is_null=True)
        if row is None:
            warnings.warn(f"{path}: skipped row {number}: {why}", stacklevel=2)
        else:
            rows.append(row)
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


def results_file(source: str | Path) -> Path:
    """The file a source stands for: a folder's results.jsonl (else its parquet copy), or the file itself.
    FileNotFoundError when there is none; a ConfigError for a file that is not a results file."""
    source = Path(source)
    if source.is_dir() and source.suffix not in (".jsonl", ".parquet"):
        for name in (RESULTS_FILE, PARQUET_FILE):
            if (source / name).exists():
                return source / name
        raise FileNotFoundError(f"no {RESULTS_FILE} or {PARQUET_FILE} in {source}")
    if not source.exists():
        raise FileNotFoundError(f"no {RESULTS_FILE} or {PARQUET_FILE} in {source}")
    if source.suffix not in (".jsonl", ".parquet"):
        raise ConfigError(f"{source} is not a results file: give a results folder, a .jsonl or a .parquet file.")
    return source


def load_results(*sources: str | Path, latest: bool = True) -> pd.DataFrame:
    """Concatenate the results of several runs. A source is a results folder or a results file;
    a folder's `results.jsonl` is preferred over its parquet copy."""
    rows: list[dict] = []
    for source in sources:
        path = results_file(source)
        rows.extend(read_jsonl(path, latest=latest) if path.suffix == ".jsonl" else read_parquet_rows(path))
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
    """Rewrite `DIR/results.parquet` from the jsonl: a temp file, then an atomic replace (a full disk
    leaves the earlier copy; results.jsonl stays the source of truth either way)."""
    directory = Path(directory)
    df = load_results(directory) if df is None else df
    out = directory / PARQUET_FILE
    buffer = io.BytesIO()
    _parquet_safe(df).to_parquet(buffer, index=False)
    tmp = directory / f".{PARQUET_FILE}.tmp"
    try:
        with open(tmp, "wb") as fh:
            fh.write(buffer.getvalue())
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        why = f"{os_reason(exc)}. The results are complete in {directory / RESULTS_FILE}"
        raise ConfigError(f"cannot write the parquet copy {out}: {why}.", file=str(out)) from None
    return out


def settings_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith(SETTINGS_PREFIX)]
