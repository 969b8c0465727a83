"""Suite files: the YAML schema of `suites/*.yaml` (variants × probes × settings) and loading it.

Errors name the file and the field. Sizes (`memory_cap: 4GB`) go through the one size parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from suite.config import ConfigError
from suite.registry import data_dir
from suite.run.executors import DEFAULT_TIMEOUT_S
from suite.units import parse_size

SUITES_DIR = data_dir("suites")
DEFAULT_SUITE = "quick"


def parse_bytes(text: str | int | float | None) -> int | None:
    """'512MB', '2GiB', 1e9 -> bytes; None stays None (one size parser: units.parse_size)."""
    return None if text is None else parse_size(text)


@dataclass
class ProbeEntry:
    """One `probes:` item of a suite: a probe (or every probe of a family) and its settings."""

    name: str
    by_family: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # the same for every cell
    grid: dict[str, list[Any]] = field(default_factory=dict)  # one cell per combination
    optional: bool = False  # skip (with a note) when no such probe is registered
    timeout: float | None = None
    memory_cap: int | None = None
    scale: str | None = None  # run this probe at this scale whatever the variants' (e.g. analytic: full)
    variants: list[str] | None = None  # run on these (names or globs like `ladder/*`), not the suite's list


@dataclass
class Suite:
    name: str
    file: str = ""
    description: str = ""
    scale: str = "tiny"
    timeout: float = DEFAULT_TIMEOUT_S
    memory_cap: int | None = None
    variants: list[tuple[str, str]] = field(default_factory=list)  # (name or path or "all", scale)
    probes: list[ProbeEntry] = field(default_factory=list)


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))


def load_suite(spec: str | Path) -> Suite:
    """A shipped suite by name (`quick`, `standard`, `full`) or a suite YAML file."""
    path = Path(spec)
    if not path.exists():
        path = SUITES_DIR / f"{spec}.yaml"
        if not path.exists():
            raise ConfigError(
                f"unknown suite '{spec}'; shipped suites: {', '.join(suite_names())} "
                f"(or give the path of a suite YAML file)."
            )
    file = str(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML syntax error: {exc}", file=file) from None
    if not isinstance(data, dict):
        raise ConfigError("a suite file is a mapping with `variants:` and `probes:`.", file=file)
    known = {"description", "scale", "timeout", "memory_cap", "variants", "probes"}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown suite key; known: {', '.join(sorted(known))}.", file=file, field=str(key))
    suite = Suite(
        name=path.stem,
        file=file,
        description=str(data.get("description", "")),
        scale=str(data.get("scale", "tiny")),
        timeout=float(data.get("timeout", DEFAULT_TIMEOUT_S)),
        memory_cap=parse_bytes(data.get("memory_cap")),
    )
    for item in data.get("variants") or []:
        if isinstance(item, str):
            suite.variants.append((item, suite.scale))
        elif isinstance(item, dict) and "name" in item and set(item) <= {"name", "scale"}:
            suite.variants.append((str(item["name"]), str(item.get("scale", suite.scale))))
        else:
            raise ConfigError(
                f"a variant is a name or {{name: ..., scale: ...}}, got {item!r}.", file=file, field="variants"
            )
    for item in data.get("probes") or []:
        suite.probes.append(_probe_entry(item, file))
    return suite


def _probe_entry(item: Any, file: str) -> ProbeEntry:
    if isinstance(item, str):
        return ProbeEntry(name=item)
    if not isinstance(item, dict) or ("probe" in item) == ("family" in item):
        raise ConfigError(
            f"a probes item is a name or a mapping with exactly one of `probe:` / `family:`, got {item!r}.",
            file=file,
            field="probes",
        )
    known = {"probe", "family", "settings", "grid", "optional", "timeout", "memory_cap", "scale", "variants"}
    for key in item:
        if key not in known:
            raise ConfigError(
                f"unknown key in a probes item; known: {', '.join(sorted(known))}.", file=file, field=f"probes.{key}"
            )
    grid = item.get("grid") or {}
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f"a grid axis is a non-empty list of values, got {values!r}.", file=file, field=f"probes.grid.{key}"
            )
    return ProbeEntry(
        name=str(item.get("probe") or item.get("family")),
        by_family="family" in item,
        settings=dict(item.get("settings") or {}),
        grid=dict(grid),
        optional=bool(item.get("optional", False)),
        timeout=None if item.get("timeout") is None else float(item["timeout"]),
        memory_cap=parse_bytes(item.get("memory_cap")),
        scale=None if item.get("scale") is None else str(item["scale"]),
        variants=_name_list(item.get("variants"), file),
    )


def _name_list(value: Any, file: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"expected a list of variant names or globs, got {value!r}.", file=file, field="probes.variants"
        )
    return value
