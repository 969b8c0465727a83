"""One comparable number of a run (or a benchmark): `Entry`, read from the results frame, with the
raw timing samples a verdict needs; several attempts of one cell are pooled into the one to judge."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass
class Entry:
    """One number of one side, reduced to what comparing needs."""

    variant: str
    metric: str
    settings: dict[str, Any]
    value: float | None
    status: str = "ok"
    error: str = ""
    lower_is_better: bool | None = None
    unit: str = ""
    scale: str = ""
    probe: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    attempts: int = 1  # timed attempts whose samples this entry pools
    cell_id: str = ""  # of the latest attempt: what a re-measurement re-runs
    groups: list[list[float]] = field(default_factory=list)  # samples per pooled attempt
    set_aside: int = 0  # attempts left out of the pool as contended (see `_pick`)

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.value is not None

    def key(self) -> tuple:
        return (self.variant, self.scale, self.probe, self.metric, tuple(sorted(self.settings.items())))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _setting(value: Any) -> Any:
    """A settings value that compares equal across runs: 64 == 64.0 (a column with gaps is float)."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (int, float)):
        return value
    return str(value)


def _bool_or_none(value: Any) -> bool | None:
    if _missing(value):
        return None
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _json(text: Any) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    if _missing(text) or not text:
        return {}
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _kept_attempts(records: list[dict]) -> list[dict]:
    """Per cell: its latest attempt, plus earlier attempts whose rows are all ok. Those only add
    alternative timings (see `_pick`); a failure that a later attempt fixed is dropped, as the
    store does."""
    attempts: dict[Any, dict[Any, list[dict]]] = {}
    for r in records:
        attempts.setdefault(r.get("cell_id"), {}).setdefault(r.get("attempt"), []).append(r)
    keep: set[tuple] = set()
    for cell, by_attempt in attempts.items():
        *earlier, latest = by_attempt
        keep.add((cell, latest))
        keep.update((cell, a) for a in earlier if all(r.get("status") == "ok" for r in by_attempt[a]))
    return [r for r in records if (r.get("cell_id"), r.get("attempt")) in keep]


# An attempt whose median is this much above the side's fastest attempt was slowed by contention
# (another process on the core): it is set aside, not pooled. Well above the run-to-run noise of the
# quick suite's timings (see suite.analysis.noise), so a real regression, slow in every attempt, stays.
CONTENTION_MARGIN = 0.25


def _pick(entries: list[Entry]) -> Entry:
    """One entry per key out of several attempts (file order): the latest, except that timed rows
    pool the raw samples of every ok attempt (run-to-run noise then shows in the verdict instead of
    one lucky or unlucky attempt deciding it). Contention on a shared machine only ever adds time,
    so an attempt far slower than the fastest one is set aside: re-running a flagged cell into the
    same folder confirms a real regression (every attempt slow) and clears a contended attempt."""
    latest = entries[-1]
    timed = [e for e in entries if e.ok and _samples(e)]
    if not latest.ok or not timed or latest is not timed[-1]:
        return latest
    kept = timed
    if latest.lower_is_better is not False and len(timed) > 1:
        fastest = min(e.value for e in timed)
        kept = [e for e in timed if e.value <= fastest * (1 + CONTENTION_MARGIN)]
    groups = [_samples(e) or [] for e in kept]
    pooled = [x for g in groups for x in g]
    return replace(
        latest,
        value=kept[0].value if len(kept) == 1 else statistics.median(pooled),
        extra={**latest.extra, "samples": pooled},
        attempts=len(kept),
        groups=groups,
        set_aside=len(timed) - len(kept),
    )


def entries_from_frame(df) -> list[Entry]:
    """Tidy result rows (all attempts, `load_results(..., latest=False)`) -> one entry per key.
    A key seen more than once (a cell re-run with --force or re-measured by compare, or recomputed
    after a code change, which gives it a new cell_id) is resolved by `_pick`."""
    setting_cols = [c for c in df.columns if c.startswith("settings.")]
    seen: dict[tuple, list[Entry]] = {}
    for row in _kept_attempts(df.to_dict("records")):
        settings = {c.removeprefix("settings."): _setting(row[c]) for c in setting_cols if not _missing(row[c])}
        value = None if _missing(row.get("value")) else float(row["value"])
        entry = Entry(
            variant=str(row.get("variant")),
            metric=str(row.get("metric") or ""),
            settings=settings,
            value=value,
            status=str(row.get("status") or "ok"),
            error=str(row.get("error") or ""),
            lower_is_better=_bool_or_none(row.get("lower_is_better")),
            unit=str(row.get("unit") or ""),
            scale=str(row.get("scale") or ""),
            probe=str(row.get("probe") or ""),
            extra=_json(row.get("extra")),
            cell_id=str(row.get("cell_id") or ""),
        )
        seen.setdefault(entry.key(), []).append(entry)
    return [_pick(entries) for entries in seen.values()]


def _samples(entry: Entry) -> list[float] | None:
    xs = entry.extra.get("samples")
    if not isinstance(xs, list):
        return None
    xs = [float(x) for x in xs if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)]
    return xs if len(xs) >= 3 else None  # fewer: no spread to resample
