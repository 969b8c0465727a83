"""Variant cards: each variant as a diff from its base, its parameter breakdown and its sources."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Any

import pandas as pd

from suite.analysis import aggregate
from suite.analytic.params import count_params
from suite.config import IDENTITY_FIELDS, ModelConfig
from suite.registry import Registry
from suite.report.pick import per_variant
from suite.units import format_value


def load_registry():
    """The built-in registry, or None with the reason (a report must not fail on a broken YAML)."""
    try:
        return Registry(), None
    except Exception as exc:  # noqa: BLE001 - shown in the report instead
        return None, f"{type(exc).__name__}: {exc}"


def variant_cards(df: pd.DataFrame, registry) -> list[dict[str, Any]]:
    """One card per variant of the results, in order; a variant the registry lacks gets the
    parameter counts its result rows recorded."""
    cards = []
    families = df.groupby("variant", sort=False)["family"].first() if "family" in df.columns else {}
    for variant in aggregate.variants_in_order(df):
        card: dict[str, Any] = dict(
            name=variant,
            family=families.get(variant, ""),
            known=False,
            diff=[],
            chain=[],
            params=[],
            source=None,
            source_url=None,
            file=None,
            description="",
        )
        cfg = variant_config(registry, variant)
        if cfg is not None:
            resolved = registry.resolve(variant)
            entry = registry.entries[variant]
            card.update(
                known=True,
                description=cfg.description,
                chain=list(resolved.chain),
                file=_display_path(entry.file),
                source=cfg.source or None,
                source_url=cfg.source if _is_web_url(cfg.source) else None,
                diff=_config_diff(registry, variant),
            )
            card["params"] = _param_breakdown(cfg)
        if not card["params"]:
            card["params"] = _param_rows_from_results(df, variant)
        cards.append(card)
    return cards


def variant_config(registry, name: str):
    """The resolved config of `name`, or None when the registry lacks it or cannot resolve it."""
    if registry is None or name not in registry.entries:
        return None
    try:
        return registry.resolve(name).config
    except Exception:  # a broken variant must not break the whole report
        return None


def _config_diff(registry, variant: str) -> list[dict[str, str]]:
    """Fields this variant sets, with the value its base would have given (or the default)."""
    entry = registry.entries[variant]
    base_cfg = registry.resolve(entry.base).config if entry.base else ModelConfig()
    cfg = registry.resolve(variant).config
    rows = []
    for key in entry.fields:
        if key in IDENTITY_FIELDS:
            continue
        old, new = getattr(base_cfg, key), getattr(cfg, key)
        rows.append(dict(field=key, base=_show(old), value=_show(new), changed=old != new))
    return rows


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        runs = []  # ("sliding",) * 5 + ("full",) reads better as 5×sliding, full
        for item in value:
            if runs and runs[-1][0] == item:
                runs[-1][1] += 1
            else:
                runs.append([item, 1])
        return ", ".join(f"{n}×{v}" if n > 1 else str(v) for v, n in runs)
    return "null" if value is None else str(value)


def _param_breakdown(cfg) -> list[dict[str, Any]]:
    """Non-zero components with their share of the total, then active and total."""
    try:
        counts = count_params(cfg)
    except Exception:  # noqa: BLE001 - a card without a breakdown beats no report
        return []
    total = float(counts["total"]) or 1.0
    rows = [
        dict(name=k.replace("_", " "), value=format_value(v, "count"), share=100.0 * v / total, strong=False)
        for k, v in (counts.get("by_component") or {}).items()
        if v
    ]
    for key in ("active", "total"):
        if key in counts and (key == "total" or counts[key] != counts["total"]):
            rows.append(dict(name=key, value=format_value(counts[key], "count"), share=None, strong=key == "total"))
    return rows


def _param_rows_from_results(df: pd.DataFrame, variant: str) -> list[dict[str, str]]:
    rows = []
    for metric in ("params_embedding", "params_active", "params_total"):
        values = per_variant(df[df["variant"] == variant], metric)
        if not values.empty:
            rows.append(
                dict(
                    name=metric.removeprefix("params_"),
                    value=format_value(values.iloc[0], "count"),
                    share=None,
                    strong=metric == "params_total",
                )
            )
    return rows


def _is_web_url(text: str | None) -> bool:
    # only http(s) becomes a link: a `javascript:` source must stay text
    return bool(text) and urllib.parse.urlparse(str(text)).scheme in ("http", "https")


def _display_path(path: str) -> str:
    try:
        return os.path.relpath(path, Path.cwd()) if Path(path).is_absolute() else path
    except ValueError:
        return path
