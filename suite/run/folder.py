"""A results folder as one run owns it: checked writable before any work, locked while a run writes
it, and its `run.json` (the run's id and arguments) read strictly and written atomically."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from suite.config import ConfigError
from suite.safeio import InputError, atomic_write_text, dumps, load_json, os_error, writable_dir
from suite.units import parse_size

RUN_FILE = "run.json"
LOCK_FILE = ".archbench.lock"
# arguments that may differ on --resume: they change how fast, not what is computed
RESUME_MAY_DIFFER = frozenset({"jobs"})


class FolderLock:
    """An exclusive, non-blocking `flock` on DIR/.archbench.lock for the life of a run. The OS drops it
    when the process dies, so a killed run never leaves a stale lock behind."""

    def __init__(self, folder: Path):
        self.folder, self.fd = Path(folder), None

    def __enter__(self) -> "FolderLock":
        import fcntl

        path = self.folder / LOCK_FILE
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise os_error(exc, path, "create the lock file", "") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            self.fd = None
            raise InputError(
                f"{self.folder} is being written by another run (pid {holder}); wait for it to finish, or give "
                "another --out.",
                file=self.folder,
            ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None


def prepare(out: Path) -> Path:
    """The results folder, created and checked writable (a file, a read-only disk: exit 2 before any work)."""
    return writable_dir(out, "results folder (--out)")


# what each recorded argument must be (run.json is a file a user can edit or truncate)
_ARG_KINDS: dict[str, tuple[tuple[type, ...], str]] = {
    "suite": ((str,), "a suite name or path"),
    "variants": ((list,), "a list of variant names"),
    "probes": ((list,), "a list of probe names"),
    "scale": ((str,), "one of full, tiny, small, base"),
    "timeout": ((int, float), "a positive number of seconds"),
    "memory_cap": ((str, int), "a memory size such as 4GB"),
    "registry": ((list,), "a list of folders"),
    "probe_module": ((list,), "a list of modules"),
    "force": ((bool,), "true or false"),
    "jobs": ((int,), "a positive integer"),
}


def _arg_problem(key: str, value: Any) -> str | None:
    types, wanted = _ARG_KINDS[key]
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if ok and isinstance(value, list):
        ok = all(isinstance(v, str) for v in value)
    if ok and key == "scale":
        ok = value in ("full", "tiny", "small", "base")
    if ok and key in ("timeout", "jobs"):
        ok = math.isfinite(value) and value > 0
    if ok and key == "memory_cap":
        try:
            parse_size(value)
        except ConfigError:
            ok = False
    return None if ok else wanted


def read_run_file(out: Path) -> dict[str, Any]:
    """The interrupted run's record, checked: a corrupted or edited run.json is an error naming it."""
    out = Path(out)
    path = out / RUN_FILE
    existing = next((p for p in (out, *out.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        prepare(out)  # --out is a file, or inside one: say so (nothing is created)
    if not path.exists():
        raise ConfigError(f"nothing to resume in {out}: no {RUN_FILE} there (give the --out of the interrupted run).")
    try:
        data = load_json(path, "run file")
    except InputError as exc:
        raise InputError(
            f"{exc.reason} The run cannot be resumed: start a new run with another --out, or delete it.", file=path
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("run_id"), str) or not isinstance(data.get("args"), dict):
        raise InputError(
            f"{path} is not an archbench run file (it needs a run_id and args); start a new run with another "
            "--out, or delete it.",
            file=path,
        )
    for key, value in data["args"].items():
        problem = _arg_problem(key, value) if key in _ARG_KINDS and value is not None else None
        if problem:
            raise InputError(
                f"{path} records {key} = {value!r}, which is not {problem}; the file was edited or damaged. Start "
                "a new run with another --out, or delete it.",
                file=path,
                field=f"args.{key}",
            )
    return data


def write_run_file(out: Path, data: dict) -> None:
    atomic_write_text(Path(out) / RUN_FILE, dumps(data, indent=2), "run file")


def resumed_args(previous: dict[str, Any], given: dict[str, Any], keys: tuple[str, ...], path: Path) -> dict[str, Any]:
    """The interrupted run's arguments. An argument given now must equal the recorded one: a resumed
    run keeps its run id, so it cannot quietly become another run."""
    recorded = previous["args"]
    out = dict(given)
    for key in keys:
        now, then = given.get(key), recorded.get(key)
        if now in (None, [], False):
            if then is not None:
                out[key] = then
        elif _same(key, now, then) or key in RESUME_MAY_DIFFER:
            continue
        else:
            flag = "--" + key.replace("_", "-")
            shown = "variants" if key == "variants" else flag
            raise InputError(
                f"--resume continues run {previous['run_id']} with its own arguments, but {shown} differs: "
                f"given {now!r}, recorded {then!r}. Drop the argument to resume, or start a new run with another "
                "--out.",
                file=path / RUN_FILE,
                field=key,
            )
    return out


def _same(key: str, now: Any, then: Any) -> bool:
    if key == "memory_cap" and then is not None:
        return parse_size(now) == parse_size(then)  # "4GB" recorded by an older run, 4000000000 now
    return now == then
