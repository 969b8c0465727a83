"""Context-scaling probe: sweep L over powers of two up to a memory or time budget, fit how time
and memory grow with L, report the largest context that fits, and (optionally) where another
variant becomes cheaper.

Per phase (prefill | decode | train, as the latency probe defines them):
1. Memory, ascending L, in one fresh subprocess (`memory.measure_isolated`, peak marks reset per
   point). A point whose measured peak passes `memory_budget` is an `oom` row and ends the sweep;
   a point the analytic model puts above twice the budget is not run at all (an `oom` row marked
   `predicted`), so a real out-of-memory never takes the machine down.
2. Time of every point that fitted (`suite.probes.timing` rule, short per-point budget). A point whose
   median passes `time_budget_ms` is a `timeout` row and ends the sweep.
3. Rows: the per-point measurements (`prefill_ms` / `decode_ms_per_token` / `train_step_ms`, and
   `peak_memory_bytes`, each with settings.context), `time_exponent` and `memory_exponent`
   (log-log least squares over the upper part of the sweep; fit range and local slopes in extra),
   and `max_context_measured` (what limited it in extra). Memory is fitted on the context-dependent
   part: peak minus the model's own resident bytes, so weights do not flatten the exponent.
4. With `other_variant` (a variant name or path; scaled like this config with `scale`), the same
   sweep for it and `crossover_context`: where the two time (and memory) curves cross.

A row that is not a number has `status` oom | timeout | error and says why in `error`.
"""

from __future__ import annotations

from typing import Any

from suite.config import ModelConfig
from suite.probes import Row, probe
from suite.probes.latency import KNOB_DEFAULTS, METRIC_OF_PHASE, Knobs, build, not_measured, phases_of, time_phase
from suite.probes.memory import analytic_peak, measure_isolated
from suite.probes.memwatch import IsolatedError, published_bytes
from suite.probes.timing import timing_options
from suite.scaling_fit import cheaper_beyond, crossover, fit_exponent, local_exponents
from suite.threads import default_threads, pinned_threads
from suite.units import parse_size

DEFAULTS: dict[str, Any] = dict(
    min_context=16,
    max_context=None,
    phases=["prefill", "decode"],
    measure=["time", "memory"],
    memory_budget=None,
    time_budget_ms=None,
    budget_s=0.3,
    target_cv=0.03,
    fit_points=None,
    other_variant=None,
    scale=None,
    **KNOB_DEFAULTS,
)


def sweep_contexts(cfg: ModelConfig, phase: str, min_context: int, max_context: int | None) -> list[int]:
    """Powers of two from min_context to max_context (default: the config's context_length); with
    learned positions, only lengths the position table covers (decode needs L + 1)."""
    top = int(max_context or cfg.context_length)
    out, length = [], 1
    while length <= top:
        if length >= min_context:
            out.append(length)
        length *= 2
    if cfg.position == "learned":
        out = [L for L in out if L + (phase == "decode") <= cfg.context_length]
    return out


def _fit_rows(metric: str, xs: list[int], ys: list[float], settings: dict, fit_points, what: str):
    """One exponent row over the last `fit_points` points (default: the upper half, at least 3)."""
    pairs = [(x, y) for x, y in zip(xs, ys) if y is not None and y > 0]
    if len(pairs) < 2:
        return [not_measured(metric, settings, f"fewer than two measured points to fit ({len(pairs)})")]
    k = int(fit_points) if fit_points else max(3, (len(pairs) + 1) // 2)
    used = pairs[-min(k, len(pairs)) :]
    fit = fit_exponent([x for x, _ in used], [y for _, y in used])
    extra = {
        "fit_range": [fit.x_min, fit.x_max],
        "fit_points": fit.n,
        "r2": fit.r2,
        "prefactor": fit.prefactor,
        "quantity": what,
        "points": [[x, y] for x, y in pairs],
        "local_exponents": [list(t) for t in local_exponents(*zip(*pairs))],
    }
    return [Row(metric, fit.exponent, settings, extra)]


def _point_failed(point: dict[str, Any]) -> bool:
    return point["status"] != "ok"


def sweep(cfg: ModelConfig, knobs: Knobs, phase: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Measure one phase over the sweep; returns the per-point records and the rows.

    A point is {"status": ok | oom | timeout | error, "error": why, "memory": record, "time": Timing};
    the first failure ends the sweep (later points get the same status, "not run")."""
    contexts = sweep_contexts(cfg, phase, int(settings.get("min_context") or 1), settings.get("max_context"))
    budget = parse_size(settings["memory_budget"]) if settings.get("memory_budget") else None
    time_budget = settings.get("time_budget_ms")
    measure = set(settings.get("measure") or ("time", "memory"))
    base = {**knobs.recorded(knobs.threads or default_threads()), "phase": phase, "sweep": True}
    if phase != "train":
        base.pop("gradient_checkpointing")
    if budget is not None:
        base["memory_budget"] = budget
    points: dict[int, dict[str, Any]] = {L: {"status": "ok"} for L in contexts}

    def fail_from(L: int, status: str, error: str, **more) -> None:
        points[L].update(status=status, error=error, **more)
        for later in contexts:
            if later > L and not _point_failed(points[later]):
                points[later].update(status=status, error=f"not run: L={L} already failed ({status})")

    # 1. memory (ascending, one subprocess), skipping points predicted far over the budget
    if "memory" in measure or budget is not None:
        runnable = contexts
        if budget is not None:
            predicted = {L: analytic_peak(cfg, phase, L, knobs)["total"] for L in contexts}
            runnable = [L for L in contexts if predicted[L] <= 2 * budget]
            for L in contexts[len(runnable) :]:
                points[L].update(
                    status="oom",
                    predicted=True,
                    error=f"not run: predicted peak {predicted[L]} bytes is over twice the "
                    f"memory budget of {budget} bytes",
                )
        try:
            records = (
                measure_isolated(cfg, knobs, phase, runnable, memory_budget=budget, timeout=settings.get("timeout_s"))
                if runnable
                else []
            )
        except IsolatedError as exc:
            records = []
            fail_from(runnable[0], exc.kind, str(exc))
        for rec in records:
            points[rec["context"]]["memory"] = rec
            if rec.get("status", "ok") != "ok":
                fail_from(rec["context"], rec["status"], rec["error"])

    # 2. time, for the points that fitted
    if "time" in measure and any(not _point_failed(p) for p in points.values()):
        with pinned_threads(knobs.threads) as threads:
            base["threads"] = threads
            model, _ = build(cfg, knobs, train=phase == "train")
            for L in contexts:
                if _point_failed(points[L]):
                    continue
                timing, _ = time_phase(model, cfg, knobs, phase, L, timing_options(settings))
                points[L]["time"] = timing
                if time_budget is not None and timing.median > float(time_budget):
                    fail_from(
                        L,
                        "timeout",
                        f"median {timing.median:.3f} ms is over the time budget of {float(time_budget):g} ms",
                    )
            del model

    # 3. rows: a measured number where the point is ok, otherwise a row saying why not
    metric = METRIC_OF_PHASE[phase]
    rows: list[Row] = []
    for L in contexts:
        point, s = points[L], {**base, "context": L}
        rec, timing = point.get("memory"), point.get("time")
        if _point_failed(point):
            detail = {
                "measured_memory": rec,
                "measured_time_ms": timing.extra() if timing else None,
                "predicted": point.get("predicted", False),
            }
            for name, wanted in (
                ("peak_memory_bytes", "memory" in measure or budget is not None),
                (metric, "time" in measure),
            ):
                if wanted:
                    row = not_measured(name, s, point["error"], point["status"])
                    row.extra.update(detail)
                    rows.append(row)
            continue
        if rec is not None:
            rows.append(Row("peak_memory_bytes", published_bytes(rec), s, rec))
        if timing is not None:
            rows.append(Row(metric, timing.median, s, timing.extra()))

    ok = [L for L in contexts if not _point_failed(points[L])]
    fit_settings = {**base, "context_min": ok[0] if ok else None, "context_max": ok[-1] if ok else None}
    if "time" in measure:
        rows += _fit_rows(
            "time_exponent",
            ok,
            [points[L]["time"].median for L in ok],
            fit_settings,
            settings.get("fit_points"),
            f"{metric} median",
        )
    if "memory" in measure:
        first = points[ok[0]]["memory"] if ok else {}
        model_bytes = first.get("cuda_model_bytes", first.get("model_bytes", 0))  # the device's own bytes
        rows += _fit_rows(
            "memory_exponent",
            ok,
            [published_bytes(points[L]["memory"]) - model_bytes for L in ok],
            fit_settings,
            settings.get("fit_points"),
            "peak_memory_bytes minus the model's own resident bytes",
        )
    failed = [L for L in contexts if _point_failed(points[L])]
    limited_by = (
        {"oom": "memory_budget", "timeout": "time_budget"}.get(points[failed[0]]["status"], "error")
        if failed
        else "max_context"
    )
    if ok:
        rows.append(Row("max_context_measured", ok[-1], base, {"limited_by": limited_by, "swept": contexts}))
    else:
        first = points[contexts[0]] if contexts else {"status": "error", "error": "no context to sweep"}
        rows.append(not_measured("max_context_measured", base, first["error"], first["status"]))
    return {"points": points, "contexts": contexts, "rows": rows}


def _crossover_rows(mine: dict, theirs: dict, phase: str, other: str, base: dict) -> list[Row]:
    rows = []
    for quantity, get in (
        ("time", lambda p: p["time"].median if "time" in p else None),
        ("memory", lambda p: published_bytes(p["memory"]) if "memory" in p else None),
    ):
        xs = [
            L
            for L in mine["contexts"]
            if L in theirs["points"] and not _point_failed(mine["points"][L]) and not _point_failed(theirs["points"][L])
        ]
        a = [get(mine["points"][L]) for L in xs]
        b = [get(theirs["points"][L]) for L in xs]
        if not xs or any(v is None for v in a + b):
            continue
        x = crossover(xs, a, b)
        winner = cheaper_beyond(xs, a, b)
        s = {**base, "phase": phase, "other_variant": other, "quantity": quantity}
        rows.append(
            Row(
                "crossover_context",
                x,
                s,
                {
                    "cheaper_beyond": {"a": "this", "b": other}.get(winner),
                    "contexts": xs,
                    "this": a,
                    "other": b,
                    **({} if x is not None else {"note": "no crossing in range"}),
                },
            )
        )
    return rows


@probe("scaling", family="scaling", isolate=True, defaults=DEFAULTS, needs=("other",))
def scaling(cfg: ModelConfig, settings: dict[str, Any], *, other: ModelConfig | None = None) -> list[Row]:
    """Sweep L over powers of two: time and memory exponents, max context, crossover with another variant."""
    settings = {**DEFAULTS, **settings}
    knobs = Knobs.from_settings(settings)
    other_cfg = None
    if settings.get("other_variant"):
        if not settings.get("scale"):  # never guess: a missing scale would sweep the full-size model
            raise ValueError(
                "scaling: other_variant needs the `scale` setting (tiny | small | base | full) "
                "to build the other variant at the same size as this one"
            )
        if other is None:
            raise ValueError(
                f"scaling: other_variant '{settings['other_variant']}' was not resolved: the "
                f"runner passes its config as `other`"
            )
        other_cfg = other
    rows: list[Row] = []
    for phase in phases_of(settings):
        mine = sweep(cfg, knobs, phase, settings)
        rows += mine["rows"]
        if other_cfg is not None:
            theirs = sweep(other_cfg, knobs, phase, settings)
            rows += _crossover_rows(
                mine, theirs, phase, str(settings["other_variant"]), knobs.recorded(knobs.threads or default_threads())
            )
    return rows
