"""Suite files: the YAML schema of `suites/*.yaml` (variants × probes × settings) and loading it.

Errors name the file and the field. Sizes (`memory_cap: 4GB`) go through the one size parser.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from suite.config import ConfigError
from suite.fields import MAX_TEXT
from suite.messages import shown
from suite.registry import data_dir, read_yaml
from suite.run.executors import DEFAULT_TIMEOUT_S
from suite.units import parse_size

SUITES_DIR = data_dir("suites")
DEFAULT_SUITE = "quick"
MAX_TIMEOUT_S = 30 * 86400  # a month: beyond it, a timer overflows or the value is a typo
MAX_GRID_POINTS = 1000  # cells per variant of one probes entry; more is a typo, and plans for minutes
MAX_REF = 4096  # a variant name, path or glob


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
    match_params: int | None = None  # this entry's proxies at this many parameters, not the suite's


@dataclass
class Suite:
    name: str
    file: str = ""
    description: str = ""
    scale: str = "tiny"
    timeout: float = DEFAULT_TIMEOUT_S
    memory_cap: int | None = None
    match_params: int | None = None  # proxies at this many non-embedding active parameters (README)
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
    data = read_yaml(path, file, "suite file") or {}
    if not isinstance(data, dict):
        raise ConfigError("a suite file is a mapping with `variants:` and `probes:`.", file=file)
    known = {"description", "scale", "timeout", "memory_cap", "match_params", "variants", "probes"}
    for key in data:
        if key not in known:
            raise ConfigError(f"unknown suite key; known: {', '.join(sorted(known))}.", file=file, field=str(key))
    suite = Suite(
        name=path.stem,
        file=file,
        description=_text(_typed(data, "description", str, file, ""), file),
        scale=_scale(_typed(data, "scale", str, file, "tiny"), file, "scale"),
        timeout=_timeout(data.get("timeout", DEFAULT_TIMEOUT_S), file, "timeout"),
        memory_cap=_size(data.get("memory_cap"), file, "memory_cap"),
        match_params=_count(data.get("match_params"), file, "match_params"),
    )
    for item in _typed(data, "variants", list, file, None) or []:
        if isinstance(item, str):
            suite.variants.append((_ref(item, file, "variants"), suite.scale))
        elif isinstance(item, dict) and isinstance(item.get("name"), str) and set(item) <= {"name", "scale"}:
            scale = _scale(item.get("scale", suite.scale), file, "variants.scale")
            suite.variants.append((_ref(item["name"], file, "variants.name"), scale))
        else:
            raise ConfigError(
                f"a variant is a name or {{name: ..., scale: ...}}, got {shown(item)}.", file=file, field="variants"
            )
    for item in _typed(data, "probes", list, file, None) or []:
        suite.probes.append(_probe_entry(item, file))
    return suite


def _probe_entry(item: Any, file: str) -> ProbeEntry:
    if isinstance(item, str):
        return ProbeEntry(name=_ref(item, file, "probes"))
    if not isinstance(item, dict) or ("probe" in item) == ("family" in item):
        raise ConfigError(
            f"a probes item is a name or a mapping with exactly one of `probe:` / `family:`, got {item!r}.",
            file=file,
            field="probes",
        )
    known = {"probe", "family", "settings", "grid", "optional", "timeout", "memory_cap", "scale", "variants",
             "match_params"}  # fmt: skip
    for key in item:
        if key not in known:
            raise ConfigError(
                f"unknown key in a probes item; known: {', '.join(sorted(known))}.", file=file, field=f"probes.{key}"
            )
    grid = _typed(item, "grid", dict, file, None, prefix="probes.") or {}
    points = 1
    for key, values in grid.items():
        _setting_key(key, file, "probes.grid")
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f"a grid axis is a non-empty list of values, got {shown(values)}.",
                file=file,
                field=f"probes.grid.{key}",
            )
        _setting_value(values, file, f"probes.grid.{key}")
        points *= len(values)
    if points > MAX_GRID_POINTS:
        raise ConfigError(
            f"the grid has {points:,} points (the product of its axes' lengths); at most {MAX_GRID_POINTS:,}.",
            file=file,
            field="probes.grid",
        )
    name = item.get("probe") or item.get("family")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a probe or family name is a string, got {shown(name)}.", file=file, field="probes")
    settings = _typed(item, "settings", dict, file, None, prefix="probes.") or {}
    for key, value in settings.items():
        _setting_value(value, file, f"probes.settings.{_setting_key(key, file, 'probes.settings')}")
    return ProbeEntry(
        name=_ref(name, file, "probes"),
        by_family="family" in item,
        settings=dict(settings),
        grid=dict(grid),
        optional=_typed(item, "optional", bool, file, False, prefix="probes."),
        timeout=None if item.get("timeout") is None else _timeout(item["timeout"], file, "probes.timeout"),
        memory_cap=_size(item.get("memory_cap"), file, "probes.memory_cap"),
        scale=None if item.get("scale") is None else _scale(item["scale"], file, "probes.scale"),
        variants=_name_list(item.get("variants"), file),
        match_params=_count(item.get("match_params"), file, "probes.match_params"),
    )


def _name_list(value: Any, file: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"expected a non-empty list of variant names or globs, got {shown(value)} (leave the key out to use "
            "the suite's variants).",
            file=file,
            field="probes.variants",
        )
    return [_ref(v, file, "probes.variants") for v in value]


SCALE_NAMES = ("full", "tiny", "small", "base")


def _typed(data: dict, key: str, kind: type, file: str, default: Any, prefix: str = "") -> Any:
    """data[key] if it has the expected YAML type (null: the default), else an error naming the key."""
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        wanted = {str: "a string", list: "a list", dict: "a mapping", bool: "true or false"}[kind]
        raise ConfigError(f"expected {wanted}, got {shown(value)}.", file=file, field=prefix + key)
    return value


def _count(value: Any, file: str, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**10:
        raise ConfigError(
            f"a parameter count is a whole number from 1 to 10,000,000,000, got {shown(value)}.", file=file, field=field
        )
    return value


def _scale(value: Any, file: str, field: str) -> str:
    if value not in SCALE_NAMES:
        raise ConfigError(f"a scale is one of {', '.join(SCALE_NAMES)}, got {shown(value)}.", file=file, field=field)
    return value


def _timeout(value: Any, file: str, field: str) -> float:
    ok = _is_number(value) and math.isfinite(value) and 0 < value <= MAX_TIMEOUT_S
    if not ok:
        raise ConfigError(
            f"a timeout is a positive number of seconds, at most {MAX_TIMEOUT_S:,} (30 days), got {shown(value)}."
            + _exponent_hint(value),
            file=file,
            field=field,
        )
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _exponent_hint(value: Any) -> str:
    """PyYAML follows YAML 1.1, where `1e3` and `1.0e3` are strings (a float needs '.' and a signed exponent)."""
    if isinstance(value, str) and re.fullmatch(r"[-+]?[\d.]+[eE][-+]?\d+", value.strip()):
        return " YAML reads a number like 1e3 as text: write 1000 or 1.0e+3."
    return ""


def _text(value: str, file: str) -> str:
    if len(value) > MAX_TEXT:
        raise ConfigError(f"is longer than {MAX_TEXT:,} characters.", file=file, field="description")
    return value


def _ref(value: str, file: str, field: str) -> str:
    """A variant name, YAML path or glob, or a probe name: one printable line, not empty."""
    bad = next((ch for ch in value if not ch.isprintable()), None)
    if not value.strip() or bad is not None or len(value) > MAX_REF:
        why = "is empty" if not value.strip() else f"contains {bad!r}" if bad is not None else "is too long"
        raise ConfigError(
            f"a name, path or glob must be one printable line; {shown(value)} {why}.", file=file, field=field
        )
    return value


def _setting_key(key: Any, file: str, field: str) -> str:
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(f"a setting name is a non-empty string, got {shown(key)}.", file=file, field=field)
    return key


def _setting_value(value: Any, file: str, field: str) -> None:
    """Settings are contexts, sizes, counts, budgets and durations: no NaN, infinity or negative number."""
    if isinstance(value, list):
        for v in value:
            _setting_value(v, file, field)
    elif isinstance(value, dict):
        for key, v in value.items():
            _setting_value(v, file, f"{field}.{_setting_key(key, file, field)}")
    elif _is_number(value) and not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"must be a finite number >= 0, got {shown(value)}.", file=file, field=field)


def _size(value: Any, file: str, field: str) -> int | None:
    try:
        return parse_bytes(value)
    except ConfigError as exc:
        raise ConfigError(exc.reason, file=file, field=field) from None
