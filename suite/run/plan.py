"""Planning: a suite (optionally narrowed) expanded into cells, variants × probes × grid points.

The planner is where variants are resolved: each variant at its scale, and the other configs a
probe declares it needs (`ProbeSpec.needs`, see `NEEDS`), which travel with the cell and reach the
probe as keyword arguments; probes never read the registry.
"""

from __future__ import annotations

import fnmatch
import itertools
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

from suite.config import ConfigError, ModelConfig
from suite.run.executors import IMPORT_FAILURES, Cell, _import_failures_text, load_probes, probe_module_refs
from suite.run.suite_file import ProbeEntry, Suite
from suite.run.versioning import cell_id, code_version


def _tiny_proxy(cfg: ModelConfig, settings: dict[str, Any], registry_dirs: tuple[str, ...]) -> ModelConfig:
    from suite.registry import proxy

    return proxy(cfg, "tiny")


def _other_variant(cfg: ModelConfig, settings: dict[str, Any], registry_dirs: tuple[str, ...]) -> ModelConfig | None:
    """The variant named by the `other_variant` setting, at the `scale` setting (none without a scale:
    the probe says so rather than sweep a full-size model)."""
    from suite.registry import resolve_config

    if not settings.get("other_variant") or not settings.get("scale"):
        return None
    return resolve_config(str(settings["other_variant"]), registry_dirs, settings["scale"])


# what a probe can declare in `needs`: name -> (cell's config, its settings, registry folders) -> config or None
NEEDS: dict[str, Callable[[ModelConfig, dict[str, Any], tuple[str, ...]], ModelConfig | None]] = {
    "proxy": _tiny_proxy,
    "other": _other_variant,
}


def resolve_needs(spec, cfg: ModelConfig, settings: dict[str, Any], registry_dirs: tuple[str, ...]) -> dict[str, dict]:
    """The configs `spec.needs` asks for, as ModelConfig.to_dict() (they travel to worker processes)."""
    context = {}
    for need in spec.needs:
        if need not in NEEDS:
            raise ConfigError(
                f"probe '{spec.name}' needs '{need}', which the planner cannot provide; "
                f"known: {', '.join(sorted(NEEDS))}."
            )
        value = NEEDS[need](cfg, settings, registry_dirs)
        if value is not None:
            context[need] = value.to_dict()
    return context


@dataclass
class Plan:
    cells: list[Cell]
    notes: list[str]  # e.g. optional probes skipped because not registered


def _grid_points(grid: dict[str, list]) -> list[dict[str, Any]]:
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))] or [{}]


def _select(entry: ProbeEntry, probes: dict, where: str) -> list:
    if entry.by_family:
        found = [p for p in probes.values() if p.family == entry.name]
    else:
        found = [probes[entry.name]] if entry.name in probes else []
    if not found and not entry.optional:
        families = sorted({p.family for p in probes.values()})
        what = "probe family" if entry.by_family else "probe"
        raise ConfigError(
            f"unknown {what} '{entry.name}'{where}. Available probes: "
            f"{', '.join(sorted(probes)) or '(none registered)'}; families: "
            f"{', '.join(families) or '(none)'}. Mark the entry `optional: true` to skip "
            f"it while it is not installed.{_import_failures_text()}"
        )
    return sorted(found, key=lambda p: p.name)


def make_plan(
    suite: Suite,
    *,
    variants: Iterable[str] | None = None,
    probes: Iterable[str] | None = None,
    scale: str | None = None,
    registry_dirs: Iterable[str] = (),
    timeout: float | None = None,
    memory_cap: int | None = None,
    probe_modules: Iterable[str] = (),
    match_params: int | None = None,
) -> Plan:
    """Expand a suite (optionally narrowed to some variants / probes) into cells. With `match_params`
    (or the suite's), every proxy is the one with that many non-embedding active parameters."""
    from suite.analytic.matching import match_params as matched_proxy
    from suite.hf.resolve import resolve_any
    from suite.registry import Registry, proxy

    modules = tuple(probe_module_refs(probe_modules))
    registered = load_probes(modules)
    notes: list[str] = [
        f"warning: probe module suite.probes.{name} failed to import: {why}"
        for name, why in sorted(IMPORT_FAILURES.items())
    ]
    where = f" in suite '{suite.name}' ({suite.file})"

    entries = suite.probes
    if probes:  # each named probe or family takes the suite's settings for it, else its defaults
        entries = []
        for name in probes:
            same = [e for e in suite.probes if e.name == name]
            family = registered[name].family if name in registered else None
            parent = [e for e in suite.probes if e.by_family and e.name == family]
            if same:
                entries.extend(ProbeEntry(**{**asdict(e), "optional": False}) for e in same)
            elif parent:  # one probe out of a family entry
                entries.extend(
                    ProbeEntry(**{**asdict(e), "name": name, "by_family": False, "optional": False}) for e in parent
                )
            else:
                is_family = any(p.family == name for p in registered.values()) and name not in registered
                entries.append(ProbeEntry(name=name, by_family=is_family))
        where = ""

    selected: list[tuple[ProbeEntry, Any]] = []
    for entry in entries:
        found = _select(entry, registered, where)
        if not found:
            notes.append(f"skipped optional {'family' if entry.by_family else 'probe'} '{entry.name}': not registered")
        selected.extend((entry, spec) for spec in found)

    registry_dirs = tuple(str(d) for d in registry_dirs)
    registry = Registry(list(registry_dirs))
    given_match = match_params  # the command line's wins over an entry's, an entry's over the suite's

    def expand(names: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        out = []
        for name, sc in names:
            if name == "all":
                out += [(n, sc) for n in registry.names()]
            elif any(ch in name for ch in "*?[") and name not in registry.entries:
                matched = [n for n in registry.names() if fnmatch.fnmatchcase(n, name)]
                if not matched:
                    raise ConfigError(f"variant pattern '{name}' matches no registered variant{where}.")
                out += [(n, sc) for n in matched]
            else:
                out.append((name, sc))
        return out

    if variants:  # named on the command line: every selected probe runs on exactly these
        suite_wanted = expand((v, scale or suite.scale) for v in variants)
        per_entry = {id(entry): suite_wanted for entry, _ in selected}
    else:  # an entry's own `variants:` replaces the suite's list for that entry
        suite_wanted = expand((v, scale or s) for v, s in suite.variants)
        per_entry = {
            id(entry): (
                expand((v, scale or suite.scale) for v in entry.variants)
                if entry.variants is not None
                else suite_wanted
            )
            for entry, _ in selected
        }
    wanted = list(dict.fromkeys(pair for entry, _ in selected for pair in per_entry[id(entry)])) or suite_wanted
    if not wanted:
        raise ConfigError(f"no variants to run: suite '{suite.name}' lists none and none were given.")
    cells: list[Cell] = []
    seen: set[str] = set()
    configs: dict[tuple[str, str], tuple[Any, dict]] = {}
    for name, variant_scale in wanted:
        base = registry.get(name) if name in registry.entries else resolve_any(name, registry_dirs)
        for entry, spec in selected:
            if (name, variant_scale) not in per_entry[id(entry)]:
                continue
            sc = entry.scale or variant_scale
            match_params = given_match or entry.match_params or suite.match_params
            if (name, sc, match_params) not in configs:
                if sc == "full":
                    cfg = base
                else:
                    cfg = matched_proxy(base, match_params, sc) if match_params else proxy(base, sc)
                configs[(name, sc, match_params)] = (cfg, cfg.to_dict())
            cfg, config = configs[(name, sc, match_params)]
            code = code_version(spec.fn.__module__)
            for point in _grid_points(entry.grid):
                settings = {**spec.defaults, **entry.settings, **point}
                if match_params and sc != "full":  # recorded in every row, so a table can tell matched proxies
                    settings["match_params"] = match_params
                cid = cell_id(config, spec.name, settings, sc, code)
                if cid in seen:
                    continue
                seen.add(cid)
                context = resolve_needs(spec, cfg, settings, registry_dirs)
                cells.append(
                    Cell(
                        variant=base.name,
                        family=cfg.family,
                        scale=sc,
                        probe=spec.name,
                        settings=settings,
                        config=config,
                        isolate=spec.isolate,
                        timeout=timeout or entry.timeout or suite.timeout,
                        memory_cap=memory_cap or entry.memory_cap or suite.memory_cap,
                        probe_modules=modules,
                        module=spec.fn.__module__,
                        cell_id=cid,
                        given=tuple(dict.fromkeys([*entry.settings, *point])),
                        context=context,
                    )
                )
    return Plan(cells=cells, notes=notes)
