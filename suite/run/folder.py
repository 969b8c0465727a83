"""A results folder as one run owns it: checked writable before any work, locked while a run writes
it, and its `run.json` (the run's id and arguments) read strictly and written atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from suite.config import ConfigError
from suite.safeio import InputError, atomic_write_text, dumps, load_json, os_error, writable_dir

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


def read_run_file(out: Path) -> dict[str, Any]:
    path = Path(out) / RUN_FILE
    if not path.exists():
        raise ConfigError(f"nothing to resume in {out}: no {RUN_FILE} there (give the --out of the interrupted run).")
    data = load_json(path, "run file")
    if not isinstance(data, dict) or not isinstance(data.get("run_id"), str) or not isinstance(data.get("args"), dict):
        raise InputError(
            f"{path} is not an archbench run file (it needs a run_id and args); start a new run with another "
            "--out, or delete it.",
            file=path,
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
        elif now != then and key not in RESUME_MAY_DIFFER:
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
