"""How cost grows with context: power-law fits and crossover lengths. Pure functions of numbers
(and, for `crossover_table`, of a tidy results DataFrame); no torch, nothing measured here.

- `fit_exponent(xs, ys)`: least squares of log y on log x, y ~ prefactor * x ** exponent; returns
  the exponent, prefactor, r^2 and the range of x the fit used (record it: an exponent means
  nothing without its range, since fixed costs flatten the curve at small x).
- `crossover(xs, ys_a, ys_b)`: the first x where a and b swap order (a - b changes sign), with
  the crossing located by linear interpolation of log(a / b) against log x between the two
  bracketing points. None when they never swap within the measured range.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence


@dataclass(frozen=True)
class Fit:
    exponent: float
    prefactor: float
    r2: float
    n: int
    x_min: float
    x_max: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _positive_pairs(xs: Iterable[float], ys: Iterable[float]) -> list[tuple[float, float]]:
    pairs = []
    for x, y in zip(xs, ys):
        if x is None or y is None:
            continue
        x, y = float(x), float(y)
        if math.isfinite(x) and math.isfinite(y) and x > 0 and y > 0:
            pairs.append((x, y))
    return pairs


def fit_exponent(xs: Sequence[float], ys: Sequence[float]) -> Fit:
    """y ~ prefactor * x ** exponent by least squares in log-log space. Non-positive or missing
    values are left out; raises ValueError with fewer than two distinct x left."""
    pairs = _positive_pairs(xs, ys)
    if len({x for x, _ in pairs}) < 2:
        raise ValueError(f"need at least two distinct positive x with positive y to fit, got {len(pairs)} point(s)")
    lx = [math.log(x) for x, _ in pairs]
    ly = [math.log(y) for _, y in pairs]
    n = len(pairs)
    mx, my = sum(lx) / n, sum(ly) / n
    sxx = sum((a - mx) ** 2 for a in lx)
    sxy = sum((a - mx) * (b - my) for a, b in zip(lx, ly))
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_res = sum((b - (slope * a + intercept)) ** 2 for a, b in zip(lx, ly))
    ss_tot = sum((b - my) ** 2 for b in ly)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return Fit(slope, math.exp(intercept), r2, n, min(x for x, _ in pairs), max(x for x, _ in pairs))


def local_exponents(xs: Sequence[float], ys: Sequence[float]) -> list[tuple[float, float, float]]:
    """Slopes between consecutive points, (x_lo, x_hi, exponent): where a curve bends."""
    pairs = sorted(_positive_pairs(xs, ys))
    return [(x0, x1, math.log(y1 / y0) / math.log(x1 / x0)) for (x0, y0), (x1, y1) in zip(pairs, pairs[1:]) if x1 != x0]


def crossover(xs: Sequence[float], ys_a: Sequence[float], ys_b: Sequence[float]) -> float | None:
    """The first x at which `a` and `b` swap order, or None. Points where either is missing or
    non-positive are skipped. An exact tie at a measured x counts as the crossing only when the
    order differs on its two sides."""
    pts = sorted(
        (float(x), float(a), float(b))
        for x, a, b in zip(xs, ys_a, ys_b)
        if x is not None and a is not None and b is not None and x > 0 and a > 0 and b > 0
    )
    signs = [(x, math.log(a / b)) for x, a, b in pts]
    last = None  # (x, log-ratio) of the last point with a definite order
    for x, r in signs:
        if r == 0:
            continue
        if last is not None and (last[1] > 0) != (r > 0):
            (x0, r0), (x1, r1) = last, (x, r)
            t = r0 / (r0 - r1)  # where the log-ratio line crosses zero
            return math.exp(math.log(x0) + t * (math.log(x1) - math.log(x0)))
        last = (x, r)
    return None


def cheaper_beyond(xs: Sequence[float], ys_a: Sequence[float], ys_b: Sequence[float]) -> str | None:
    """'a' or 'b': which is cheaper at the largest x where both were measured (None on a tie)."""
    pts = sorted(
        (float(x), float(a), float(b))
        for x, a, b in zip(xs, ys_a, ys_b)
        if x is not None and a is not None and b is not None
    )
    if not pts or pts[-1][1] == pts[-1][2]:
        return None
    return "a" if pts[-1][1] < pts[-1][2] else "b"


def crossover_table(
    df,
    metric: str,
    *,
    x: str = "settings.context",
    by: Sequence[str] = ("settings.phase",),
    variants: Sequence[str] | None = None,
):
    """For every pair of variants (and every value of the `by` columns present): the context at
    which their `metric` curves cross, from a tidy results DataFrame (status ok rows only).
    Columns: variant_a, variant_b, *by, crossover (NaN when none), cheaper_beyond (a variant name)."""
    import pandas as pd

    rows = df[(df["metric"] == metric) & (df.get("status", "ok") == "ok")].copy()
    if x not in rows.columns:
        return pd.DataFrame(columns=["variant_a", "variant_b", *by, "crossover", "cheaper_beyond"])
    rows["_x"] = pd.to_numeric(rows[x], errors="coerce")
    rows["_y"] = pd.to_numeric(rows["value"], errors="coerce")
    keys = [c for c in by if c in rows.columns]
    names = list(variants) if variants is not None else list(dict.fromkeys(rows["variant"]))
    out = []
    groups = rows.groupby(keys, dropna=False, sort=False) if keys else [((), rows)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        curves = {v: g.groupby("_x")["_y"].median() for v, g in group.groupby("variant")}
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                if a not in curves or b not in curves:
                    continue
                joined = pd.concat([curves[a], curves[b]], axis=1, join="inner").dropna()
                if len(joined) < 2:
                    continue
                xs, ya, yb = list(joined.index), list(joined.iloc[:, 0]), list(joined.iloc[:, 1])
                c = crossover(xs, ya, yb)
                winner = cheaper_beyond(xs, ya, yb)
                out.append(
                    dict(
                        variant_a=a,
                        variant_b=b,
                        **dict(zip(keys, key)),
                        crossover=math.nan if c is None else c,
                        cheaper_beyond={"a": a, "b": b}.get(winner),
                    )
                )
    return pd.DataFrame(out, columns=["variant_a", "variant_b", *keys, "crossover", "cheaper_beyond"])
