"""Code versions and cell ids: what makes a cached cell stale.

A cell's `cell_id` is a content hash of the resolved config, the probe name, its resolved settings,
the scale and the code version: archbench's version plus a hash of the probe's own file and of the
`suite/` modules it imports (found statically, transitively).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import sys
from pathlib import Path


def _module_file(name: str) -> tuple[Path | None, bool]:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None, False
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None, False
    return Path(spec.origin), bool(spec.submodule_search_locations)


def _suite_imports(path: Path, package: str) -> set[str]:
    """Modules of `suite` that a file imports anywhere (also inside functions), by static reading."""
    names: set[str] = set()
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError):
        return names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "suite")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "suite":
                continue
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)  # `from . import attention`
    return names


# Modules (and packages) that run, store or present results; they cannot change a probe's numbers
# (settings are hashed separately), so a probe importing e.g. `suite_file.parse_bytes` is not
# invalidated by a report edit.
_NOT_PROBE_CODE = ("suite.run", "suite.results", "suite.analysis", "suite.report", "suite.cli")


def _is_probe_code(name: str) -> bool:
    return not any(name == m or name.startswith(m + ".") for m in _NOT_PROBE_CODE)


def source_files(module: str) -> list[Path]:
    """The file of `module` and every `suite/` module it imports, transitively. A package counts
    as its `__init__.py` (which imports what the package exposes, e.g. suite.model's decoder)."""
    seen: set[str] = set()
    files: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or (not _is_probe_code(name) and name != module):
            continue
        seen.add(name)
        path, is_package = _module_file(name)
        if path is None:
            mod = sys.modules.get(name)  # a probe module loaded from a file path
            if not getattr(mod, "__file__", None):
                continue
            path = Path(mod.__file__)
        files.add(path)
        package = name if is_package else name.rpartition(".")[0]
        todo.extend(_suite_imports(path, package) - seen)
    return sorted(files)


_CODE_VERSIONS: dict[str, str] = {}


def code_version(module: str) -> str:
    """archbench version + hash of the probe module's source and what it imports from suite/."""
    if module not in _CODE_VERSIONS:
        from suite import __version__

        h = hashlib.sha256()
        for path in source_files(module):
            h.update(path.name.encode())
            h.update(path.read_bytes())
        _CODE_VERSIONS[module] = f"{__version__}+{h.hexdigest()[:12]}"
    return _CODE_VERSIONS[module]


# fields that describe a variant without changing its math: not part of the cache key
_IDENTITY_ONLY = ("description", "source")


def cell_id(config: dict, probe: str, settings: dict, scale: str, code: str) -> str:
    payload = dict(
        config={k: v for k, v in config.items() if k not in _IDENTITY_ONLY},
        probe=probe,
        settings=settings,
        scale=scale,
        code=code,
    )
    blob = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]
