"""Probe registry. A probe is a plain function `(config, settings) -> list[Row]`.

Register one with `@probe("name", family="latency", isolate=True)`; `isolate` asks the runner
to run its cells in a fresh subprocess (memory is measured there). A probe that needs another
config than its cell's declares it, `needs=("proxy",)`, and receives it as a keyword argument
resolved by the planner (probes never read the registry): `proxy` is the cell's config at the tiny
proxy scale; `other` the variant named by the `other_variant` setting at the `scale` setting. Probe modules are imported
lazily by `load_all()` so that importing the registry stays cheap.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from suite.config import ModelConfig


@dataclass
class Row:
    """One measured or computed number. The runner adds run id, variant, probe, provenance, and the
    metric's unit and direction from `suite.metrics.METRICS` (their one home: a row cannot override them)."""

    metric: str
    value: float | None
    settings: dict[str, Any] = field(default_factory=dict)  # per-row settings (e.g. context=1024)
    extra: dict[str, Any] = field(default_factory=dict)  # raw samples, fit ranges, notes
    status: str = "ok"  # ok | error | oom | timeout: one number of a cell can fail (value None)
    error: str = ""  # why it failed
    # Only for a metric METRICS does not know (a plugin probe, an arbitrary lm-eval task): ignored otherwise.
    unit: str = field(default="", kw_only=True)
    lower_is_better: bool | None = field(default=None, kw_only=True)


ProbeFn = Callable[[ModelConfig, dict[str, Any]], list[Row]]


@dataclass(frozen=True)
class ProbeSpec:
    name: str
    family: str
    fn: ProbeFn
    isolate: bool = False  # run each cell in a fresh subprocess
    defaults: dict[str, Any] = field(default_factory=dict)
    doc: str = ""
    needs: tuple[str, ...] = ()  # other configs it is given as keywords (see the module docstring)


PROBES: dict[str, ProbeSpec] = {}
PROBE_MODULES = ("analytic", "latency", "memory", "scaling", "quality", "recall", "extrapolation", "stability")


def probe(
    name: str,
    *,
    family: str | None = None,
    isolate: bool = False,
    defaults: dict | None = None,
    needs: tuple[str, ...] = (),
):
    def register(fn: ProbeFn) -> ProbeFn:
        if name in PROBES and PROBES[name].fn is not fn:
            raise ValueError(f"probe '{name}' is already registered by {PROBES[name].fn.__module__}")
        PROBES[name] = ProbeSpec(
            name=name,
            family=family or name,
            fn=fn,
            isolate=isolate,
            defaults=dict(defaults or {}),
            doc=(fn.__doc__ or "").strip(),
            needs=tuple(needs),
        )
        return fn

    return register


def load_all() -> dict[str, ProbeSpec]:
    for module in PROBE_MODULES:
        try:
            importlib.import_module(f"{__name__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{module}":
                raise
    return PROBES


def get_probe(name: str) -> ProbeSpec:
    load_all()
    if name not in PROBES:
        close = difflib.get_close_matches(name, list(PROBES), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown probe '{name}'.{hint} Available: {', '.join(sorted(PROBES))}.")
    return PROBES[name]
