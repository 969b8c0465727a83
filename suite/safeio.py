"""Every file archbench reads or writes goes through here, so every failure reads the same.

Reading: format and OS errors (missing, a directory, unreadable, not UTF-8, a symlink loop, a YAML
bomb, duplicate keys, 5,000-deep nesting, NaN in JSON) become one `InputError` paragraph that
names the path, what was wrong and what to do. Writing: temp file + `os.replace` in the same
folder, so a full disk or a read-only folder leaves the earlier file intact. Output JSON is strict
(no bare NaN/Infinity). Names that end up in paths, terminals, Markdown, CSV and HTML are checked
or escaped here.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from suite.config import ConfigError
from suite.fields import name_problem
from suite.messages import os_reason, shown
from suite.strictjson import dumps as dumps  # re-exported: writers use safeio for every file
from suite.strictjson import finite_json

MAX_TEXT_BYTES = 64 * 2**20  # a YAML/JSON config larger than this is not a config
MAX_DEPTH = 64  # nesting any of our files needs is < 10
MAX_ALIASES = 64  # YAML anchors/aliases: real configs use a handful; a "billion laughs" uses thousands


class InputError(ConfigError):
    """A file or value the user can fix: one paragraph with the path, the problem and what to do."""

    def __init__(self, message: str, *, file: str | os.PathLike | None = None, field: str | None = None):
        super().__init__(message, file=str(file) if file is not None else None, field=field)


# ---------------------------------------------------------------- reading
def os_error(exc: OSError, path: str | os.PathLike, doing: str, what: str = "file") -> InputError:
    """An `OSError` as the one-paragraph error: 'cannot read results file X: permission denied.'"""
    hint = {
        errno.ENOSPC: " Free some space and re-run; earlier files were left as they were.",
        errno.EROFS: " Choose a writable folder with --out.",
        errno.EACCES: " Check the permissions or choose another path.",
    }.get(exc.errno, "")
    return InputError(f"cannot {doing} {what} {path}: {os_reason(exc)}.{hint}", file=path)


def read_bytes(path: str | os.PathLike, what: str = "file", *, limit: int | None = MAX_TEXT_BYTES) -> bytes:
    p = Path(path)
    try:
        if p.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(p))
        with open(p, "rb") as fh:
            data = fh.read(limit + 1) if limit is not None else fh.read()
    except OSError as exc:
        raise os_error(exc, path, "read", what) from None
    if limit is not None and len(data) > limit:
        raise InputError(f"{what} {path} is larger than {limit // 2**20} MiB; this is not a {what}.", file=path)
    return data


def read_text(path: str | os.PathLike, what: str = "file", *, limit: int | None = MAX_TEXT_BYTES) -> str:
    data = read_bytes(path, what, limit=limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{what} {path} is not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); "
            "is it a binary file?",
            file=path,
        ) from None


def _check_depth(obj: Any, path, what: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH. Each container is visited once: YAML aliases make a
    DAG whose expansion can be billions of nodes (a "billion laughs") while the DAG itself is small."""
    seen: set[int] = set()
    stack = [(obj, 0)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, (dict, list)) or id(node) in seen:
            continue
        if depth > MAX_DEPTH:
            raise InputError(f"{what} {path} nests deeper than {MAX_DEPTH} levels; this is not a {what}.", file=path)
        seen.add(id(node))
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children)


def _yaml_loader():
    import yaml

    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses duplicate keys and alias bombs."""

        aliases_seen = 0

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                self.aliases_seen += 1
                if self.aliases_seen > MAX_ALIASES:
                    raise yaml.YAMLError(f"more than {MAX_ALIASES} YAML aliases (*name); refusing a YAML bomb")
            if self.depth > MAX_DEPTH:
                raise yaml.YAMLError(f"nesting deeper than {MAX_DEPTH} levels")
            self.depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: dict = {}
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=True)
                    try:
                        hashable = key in seen
                    except TypeError:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"a mapping key must be a scalar, got {type(key).__name__}", key_node.start_mark
                        ) from None
                    if hashable:
                        raise yaml.constructor.ConstructorError(
                            None,
                            None,
                            f"duplicate key {key!r} (first at line {seen[key] + 1}); the last one would silently win",
                            key_node.start_mark,
                        )
                    seen[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep=deep)

    def init(self, stream):
        yaml.SafeLoader.__init__(self, stream)
        self.depth = 0

    StrictLoader.__init__ = init
    return StrictLoader


def parse_yaml(text: str, path: str | os.PathLike, what: str = "YAML file") -> Any:
    """`yaml.safe_load` that names the line, refuses duplicate keys, YAML bombs and deep nesting."""
    import yaml

    try:
        loader = _yaml_loader()(text)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"YAML syntax error{at}: {problem}.", file=path) from None
    except RecursionError:
        raise InputError(f"{what} {path} nests too deeply to read.", file=path) from None
    except ValueError as exc:  # PyYAML's own: a 5,000-digit integer, a date like 2024-13-45
        raise InputError(f"{what} {path} has a value YAML cannot convert: {str(exc)[:120]}.", file=path) from None
    _check_depth(data, path, what)
    return data


def load_yaml(path: str | os.PathLike, what: str = "YAML file") -> Any:
    return parse_yaml(read_text(path, what), path, what)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON (use null)")


def parse_json(text: str, path: str | os.PathLike, what: str = "JSON file") -> Any:
    """Strict JSON: NaN/Infinity are refused; errors name line and column."""
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{what} {path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.", file=path
        ) from None
    except ValueError as exc:
        raise InputError(f"{what} {path} is not valid JSON: {exc}.", file=path) from None
    except RecursionError:
        raise InputError(f"{what} {path} nests too deeply to read.", file=path) from None
    _check_depth(data, path, what)
    return data


def load_json(path: str | os.PathLike, what: str = "JSON file") -> Any:
    return parse_json(read_text(path, what), path, what)


def expect_type(value: Any, expected: type | tuple[type, ...], *, file, field: str, what: str = "") -> Any:
    """`value` if it has the expected JSON type, else the one-paragraph error naming file and field."""
    names = {
        dict: "an object (mapping)",
        list: "a list",
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
    }
    types_ = expected if isinstance(expected, tuple) else (expected,)
    ok = isinstance(value, types_) and not (isinstance(value, bool) and bool not in types_)
    if not ok:
        wanted = " or ".join(names.get(t, t.__name__) for t in types_)
        got = "null" if value is None else type(value).__name__
        raise InputError(
            f"{what + ' ' if what else ''}expected {wanted}, got {got} ({shown(value)}).", file=file, field=field
        )
    return value


# ---------------------------------------------------------------- writing
strict = finite_json  # every non-finite float replaced by None (`suite.strictjson`, one definition)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, what: str = "file") -> Path:
    """Write to a temp file beside `path`, fsync, rename: the old file survives any failure."""
    p = Path(path)
    if p.is_dir():
        raise InputError(f"cannot write {what} {p}: it is a directory; give a file name.", file=p)
    parent = p.parent if str(p.parent) else Path(".")
    tmp = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
        tmp = None
    except OSError as exc:
        raise os_error(exc, p, "write", what) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return p


def atomic_write_text(path: str | os.PathLike, text: str, what: str = "file") -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), what)


def writable_dir(path: str | os.PathLike, what: str = "results folder") -> Path:
    """Create `path` if needed and make sure files can be written in it, before any work is done."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{what} {p} is a file, not a folder; give a folder path.", file=p)
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".archbench-write-check.", dir=p)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise os_error(exc, p, "write to", what) from None
    return p


# ---------------------------------------------------------------- names and escaping
def check_name(name: Any, *, file=None, field: str = "name", what: str = "variant name") -> str:
    """A name that is safe as a file name, a terminal word and a table cell, or an InputError."""
    problem = name_problem(name)
    if problem:
        raise InputError(f"{what} {problem}", file=file, field=field)
    return name


def escape_markup(text: Any) -> str:
    """Text shown through rich: '[/]' and '[link=...]' are printed, not interpreted."""
    from rich.markup import escape

    return escape(str(text))


def escape_markdown(text: Any) -> str:
    """A table cell or inline text in Markdown: no raw HTML, no links or images, no broken table row.
    Only what changes the structure is escaped, so names and numbers stay readable in the raw text."""
    s = str(text).replace("\r", " ").replace("\n", " ")
    for old, new in (
        ("\\", "\\\\"),
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ("|", "\\|"),
        ("`", "\\`"),
        ("[", "\\["),
        ("]", "\\]"),
    ):
        s = s.replace(old, new)
    return s


def escape_csv_cell(value: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula (=, +, -, @, tab, CR) with a quote."""
    if isinstance(value, str) and value and value[0] in "=+-@\t\r":
        try:
            float(value)
            return value  # '-1.5' is a number, not a formula
        except ValueError:
            return "'" + value
    return value
