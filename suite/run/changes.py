"""`archbench run --changed-since REF`: which variants changed in git since REF, and why.

A variant counts as changed when its *resolved* definition differs: the registry folders are
read as they were at REF (`git show`, into a temporary folder, parsed by the same `Registry`) and
each variant's resolved config is compared with today's. A moved or reformatted entry is
therefore not a change; a new field in a base is a change of every variant that inherits it.

When code that defines what a variant computes changed (`COMPONENT_PATHS`, below the folder of
the `suite` package), every variant counts as changed.

The repository is the git checkout of the current directory; registry folders outside it (the
built-in ones of a pip-installed archbench, say) are taken as unchanged, and so is the code of an
archbench that lives outside it. Uncommitted edits count: today's side is the working tree.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from suite.config import ConfigError
from suite.safeio import InputError

# Below the `suite` package: code whose change can change any variant's numbers (components, their
# costs, the config and its checks, the proxy rule, the probes). Documented in the README (CI section).
COMPONENT_PATHS = (
    "model/",
    "analytic/",
    "probes/",
    "quality/",
    "config.py",
    "config_checks.py",
    "components.py",
    "fields.py",
    "registry.py",
)
GIT_TIMEOUT_S = 60


@dataclass
class Selection:
    """The variants that changed since `ref` (name -> why) and what the log should say."""

    ref: str  # as given
    commit: str  # what it resolved to
    changed: dict[str, str] = field(default_factory=dict)
    new: list[str] = field(default_factory=list)  # changed, and absent at REF
    removed: list[str] = field(default_factory=list)
    code: list[str] = field(default_factory=list)  # changed component files (then every variant counts)
    notes: list[str] = field(default_factory=list)
    total: int = 0  # variants in the registry now

    def describe(self) -> str:
        shown_ref = self.commit[:12] if self.ref == self.commit else f"{self.ref} ({self.commit[:12]})"
        head, total = f"--changed-since {shown_ref}: ", self.total
        if self.code:
            shown = ", ".join(self.code[:5]) + (f" and {len(self.code) - 5} more" if len(self.code) > 5 else "")
            return head + f"component code changed ({shown}): every variant ({total}) counts as changed"
        if not self.changed:
            return head + f"no variant's resolved definition changed (of {total})"
        why = "; ".join(f"{name} ({reason})" for name, reason in sorted(self.changed.items()))
        return head + f"{len(self.changed)} of {total} variants changed: {why}"


# ------------------------------------------------------------------------- git
def _git(args: list[str], cwd: Path, *, what: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=GIT_TIMEOUT_S,
        )
    except FileNotFoundError:
        raise ConfigError("--changed-since needs git, and no `git` command was found on the PATH.") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"--changed-since: git could not {what}: {exc}.") from None
    if done.returncode != 0:
        raise _GitFailed(" ".join(done.stderr.split()) or f"git {args[0]} exited {done.returncode}")
    return done.stdout


class _GitFailed(Exception):
    pass


def repository(cwd: Path | None = None) -> Path:
    """The top folder of the git checkout holding `cwd` (default: the current directory)."""
    cwd = Path(cwd or Path.cwd())
    try:
        return Path(_git(["rev-parse", "--show-toplevel"], cwd, what="find the repository").strip()).resolve()
    except _GitFailed as exc:
        raise InputError(
            f"--changed-since compares with a git commit, but {cwd} is not inside a git checkout (git: {exc}). "
            "Run archbench from the repository that holds the architectures, or drop --changed-since.",
        ) from None


def resolve_ref(ref: str, repo: Path) -> str:
    """REF as a full commit id; an unknown REF (or a shallow clone without it) is a one-paragraph error."""
    try:
        return _git(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], repo, what="read REF"
        ).strip()
    except _GitFailed:
        raise InputError(
            f"--changed-since: '{ref}' is not a commit of the git repository {repo}. Give a branch, tag or commit "
            "that exists there (in CI, fetch the history first, e.g. actions/checkout with fetch-depth: 0).",
        ) from None


def _inside(path: Path, repo: Path) -> str | None:
    """`path` relative to `repo` (posix), or None when it lies outside it."""
    try:
        return Path(path).resolve().relative_to(repo).as_posix()
    except ValueError:
        return None


def _export_folder(repo: Path, commit: str, rel: str, dest: Path) -> None:
    """The YAML files of folder `rel` as they were at `commit`, written below `dest` (nothing if absent then)."""
    dest.mkdir(parents=True, exist_ok=True)
    listing = _git(["ls-tree", "-r", "-z", "--name-only", commit, "--", rel + "/"], repo, what="list files")
    for name in filter(None, listing.split("\0")):
        if not name.endswith((".yaml", ".yml")):
            continue
        target = dest / Path(name).relative_to(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_git(["show", f"{commit}:{name}"], repo, what=f"read {name} at REF"))


def changed_code(repo: Path, commit: str) -> list[str]:
    """Component files (COMPONENT_PATHS) that differ between `commit` and the working tree, untracked ones included."""
    import suite

    package = _inside(Path(suite.__file__).parent, repo)
    if package is None:  # an installed archbench: its code is not this repository's
        return []
    paths = [f"{package}/{p}" if package != "." else p for p in COMPONENT_PATHS]
    diff = _git(["diff", "--name-only", commit, "--", *paths], repo, what="diff the code")
    untracked = _git(["ls-files", "--others", "--exclude-standard", "--", *paths], repo, what="list new files")
    return sorted({line for line in (diff + untracked).splitlines() if line.endswith(".py")})


# ------------------------------------------------------------------- the registry
def _same_entry(a, b) -> bool:
    return a.base == b.base and a.fields == b.fields


def _resolved(registry, name: str) -> dict | None:
    try:
        return registry.resolve(name).config.to_dict()
    except ConfigError:
        return None


def _why(name: str, now, then) -> str | None:
    """Why variant `name` changed since REF, or None when its resolved definition is the same."""
    if name not in then.entries:
        return "new since REF"
    current, before = _resolved(now, name), _resolved(then, name)
    if before is None:
        return "did not resolve at REF"
    if current == before:
        return None
    entry, old = now.entries[name], then.entries[name]
    if not _same_entry(entry, old):
        fields = sorted(k for k in {*entry.fields, *old.fields} if entry.fields.get(k) != old.fields.get(k))
        if entry.base != old.base:
            fields.insert(0, "base")
        return "its entry changed: " + ", ".join(fields)
    for ancestor in now.resolve(name).chain[1:]:
        if ancestor not in then.entries or not _same_entry(now.entries[ancestor], then.entries[ancestor]):
            return f"inherits from {ancestor}, which changed"
    return "its resolved definition changed"


def changed_variants(ref: str, registry_dirs: Iterable[str | Path] = (), *, cwd: Path | None = None) -> Selection:
    """Every registry variant whose resolved definition (or component code) changed since `ref`."""
    from suite.registry import Registry, data_dir

    repo = repository(cwd)
    commit = resolve_ref(ref, repo)
    selection = Selection(ref=ref, commit=commit)
    now = Registry(list(registry_dirs))
    selection.total = len(now.entries)
    selection.code = changed_code(repo, commit)
    if selection.code:
        selection.changed = {name: "component code changed" for name in now.names()}
        return selection
    folders = [data_dir("architectures"), *(Path(d) for d in registry_dirs)]
    with tempfile.TemporaryDirectory(prefix="archbench-ref-") as tmp:
        old_dirs = []
        for i, folder in enumerate(folders):
            rel = _inside(folder, repo)
            if rel is None:  # not versioned here: the same at REF as now
                old_dirs.append(Path(folder))
                continue
            old_dirs.append(Path(tmp) / str(i))
            _export_folder(repo, commit, rel, old_dirs[-1])
        try:
            then = Registry(old_dirs, builtin=False)
        except ConfigError as exc:
            selection.changed = {name: "the registry at REF does not load" for name in now.names()}
            selection.notes.append(f"the registry at {ref} does not load ({exc}); every variant counts as changed")
            return selection
        for name in now.names():
            why = _why(name, now, then)
            if why:
                selection.changed[name] = why
        selection.new = sorted(n for n in selection.changed if n not in then.entries)
        selection.removed = sorted(set(then.entries) - set(now.entries))
    if selection.removed:
        selection.notes.append(f"removed since {ref} (nothing to run): {', '.join(selection.removed)}")
    return selection


def narrow(cells: list, selection: Selection) -> tuple[list, list[str]]:
    """The planned cells of changed variants, and the log lines that say what was selected and why."""
    planned = list(dict.fromkeys(c.variant for c in cells))
    kept = [c for c in cells if c.variant in selection.changed]
    running = [v for v in planned if v in selection.changed]
    lines = [selection.describe()]
    lines += selection.notes
    lines.append(
        f"running {len(kept)} of {len(cells)} planned cells: "
        + (f"those of {_names(running)}" if running else "no planned variant changed")
    )
    outside = sorted(set(selection.changed) - set(planned))
    if outside and not selection.code:
        lines.append(f"changed but not planned by this suite (name them, or `all`, to run them): {_names(outside)}")
    return kept, lines


def _names(names: list[str], limit: int = 12) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
