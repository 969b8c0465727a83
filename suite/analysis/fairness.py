"""The quality fairness rule: proxies share a quality table only at one token budget and matched size.

Proxies compared in one table must have the same token budget and non-embedding active parameters
(`count_params(cfg)["active_excl_embedding"]`, recorded by the quality probe in each row's
`extra`) within ±10% of the reference; otherwise the comparison says more about size than
architecture.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from suite.config import ConfigError

FAIR_TOLERANCE = 0.10


class FairnessError(ConfigError):
    """Proxies that may not share a quality table (token budget or size mismatch)."""


def extra_dict(value: Any) -> dict:
    """A row's `extra` as a dict, whether the frame holds it parsed or as its JSON text ({} if neither)."""
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value or "{}")
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def fairness_entries(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per variant (its first row with a size) for `fairness_problems`: the non-embedding
    active parameters its row recorded (the quality probe says `active_excl_embedding`, the recall and
    extrapolation probes `non_embedding_active`) and its token budget (0 where a probe has none)."""
    extras = rows["extra"] if "extra" in rows else [{}] * len(rows)
    budgets = rows["settings.tokens"] if "settings.tokens" in rows else [None] * len(rows)
    entries: dict[str, dict[str, Any]] = {}
    for variant, extra, tokens in zip(rows["variant"], extras, budgets):
        e = extra_dict(extra)
        size = e.get("active_excl_embedding", e.get("non_embedding_active"))
        if finite(size) and str(variant) not in entries:
            budget = tokens if finite(tokens) else e.get("tokens_seen")
            entries[str(variant)] = dict(variant=str(variant), active_excl_embedding=size, tokens=budget or 0)
    return list(entries.values())


def fairness_problems(
    entries: list[dict[str, Any]], reference: str | None = None, tolerance: float = FAIR_TOLERANCE
) -> list[str]:
    """entries: dicts with `variant`, `active_excl_embedding`, `tokens`. Returns what breaks the rule."""
    if len(entries) < 2:
        return []
    problems = []
    budgets = sorted({int(e["tokens"]) for e in entries})
    if len(budgets) > 1:
        problems.append(
            "different token budgets: " + ", ".join(f"{e['variant']}={int(e['tokens']):,}" for e in entries)
        )
    by_name = {e["variant"]: e for e in entries}
    if reference is not None and reference not in by_name:
        raise KeyError(f"fairness reference '{reference}' is not among: {', '.join(by_name)}")
    sizes = sorted(int(e["active_excl_embedding"]) for e in entries)
    ref_size = int(by_name[reference]["active_excl_embedding"]) if reference else sizes[(len(sizes) - 1) // 2]
    ref_name = reference or "the median"
    for e in entries:
        ratio = int(e["active_excl_embedding"]) / ref_size
        if abs(ratio - 1) > tolerance:
            problems.append(
                f"{e['variant']} has {int(e['active_excl_embedding']):,} non-embedding active "
                f"parameters, {ratio - 1:+.0%} vs {ref_name} ({ref_size:,}); allowed ±{tolerance:.0%}"
            )
    return problems


def check_fair(entries: list[dict[str, Any]], reference: str | None = None, tolerance: float = FAIR_TOLERANCE) -> None:
    problems = fairness_problems(entries, reference, tolerance)
    if problems:
        raise FairnessError(
            "these proxies cannot be compared in one quality table (fairness rule: same token "
            f"budget and non-embedding active parameters within ±{tolerance:.0%}): "
            + "; ".join(problems)
            + ". Compare them in separate tables, or pass "
            "strict=False to show them flagged."
        )


def quality_table(df, *, strict: bool = True, reference: str | None = None, tolerance: float | None = None):
    """Variants x quality metrics (mean over seeds) from a tidy results frame, fairness rule enforced.

    Rows of the `quality` probe are compared only when every variant had the same token budget
    and non-embedding active parameters within ±10% of `reference` (default: the median variant).
    strict=True raises `FairnessError` naming the offenders; strict=False returns the table with
    a `fair` column (False for the offenders) and a `fairness` note in `table.attrs`.
    """
    tol = FAIR_TOLERANCE if tolerance is None else tolerance
    q = df[(df["probe"] == "quality") & (df["status"] == "ok")].copy()
    if q.empty:
        return pd.DataFrame()
    q["column"] = q["metric"]
    for key in ("n_pairs", "length_factor"):
        col = f"settings.{key}"
        if col in q:
            has = q[col].notna()
            q.loc[has, "column"] = q.loc[has, "metric"] + f"[{key}=" + q.loc[has, col].astype(int).astype(str) + "]"
    entries = fairness_entries(q)
    per_variant = pd.DataFrame(entries, columns=["variant", "active_excl_embedding", "tokens"])
    if strict:
        check_fair(entries, reference, tol)
    table = q.pivot_table(index="variant", columns="column", values="value", aggfunc="mean")
    table = table.join(per_variant.set_index("variant"))
    problems = fairness_problems(entries, reference, tol)
    offenders = {e["variant"] for e in entries if any(p.startswith(f"{e['variant']} ") for p in problems)}
    budget_mismatch = any(p.startswith("different token budgets") for p in problems)
    table["fair"] = [not budget_mismatch and v not in offenders for v in table.index]
    table.attrs["fairness"] = "; ".join(problems) or "ok"
    return table


def fairness_warning(df: pd.DataFrame) -> str:
    """A sentence for the report when the quality rows break the rule: unmatched proxies are shown,
    but flagged instead of ranked silently. Empty when the rule holds or there are no quality rows."""
    if "probe" not in df or not (df["probe"] == "quality").any():
        return ""
    try:
        note = quality_table(df, strict=False).attrs.get("fairness", "ok")
    except (KeyError, ValueError, TypeError):
        return ""
    return (
        "" if note == "ok" else (f" Caution: these proxies are not a fair quality comparison (fairness rule: {note}).")
    )
