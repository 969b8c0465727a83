"""Metric metadata in one place: display name, unit, direction, and whether a metric is a key
metric (a leaderboard column). Probes name metrics by these keys; settings disambiguate
(e.g. `prefill_ms` at `settings.context=1024`). Add an entry here when a probe adds a metric.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricInfo:
    name: str
    display_name: str
    unit: str
    lower_is_better: bool | None  # None: neither direction is better (a description, not a score)
    key: bool = False  # shown in the leaderboard by default
    probe: str | None = None  # the probe whose rows the leaderboard reads when several emit it
    # how big the model is (parameters, bytes, FLOPs): ranked, but never averaged into a win rate,
    # where the smallest model would win by construction
    size: bool = False


def _m(name, display_name, unit, lower_is_better, key=False, probe=None, size=False) -> tuple[str, MetricInfo]:
    return name, MetricInfo(name, display_name, unit, lower_is_better, key, probe, size)


METRICS: dict[str, MetricInfo] = dict(
    [
        # --- analytic (from the config alone) ---
        _m("params_total", "Parameters (total)", "count", None, key=True),
        _m("params_active", "Parameters (active)", "count", True, key=True, size=True),
        _m("params_embedding", "Parameters (embedding)", "count", None),
        _m("flops_prefill_per_token", "Prefill FLOP/token", "FLOP", True, size=True),
        _m("flops_decode_per_token", "Decode FLOP/token", "FLOP", True, key=True, size=True),
        _m("flops_train_per_token", "Train FLOP/token", "FLOP", True, size=True),
        _m("kv_cache_bytes_per_token", "KV cache/token", "bytes", True, key=True, size=True),
        _m("kv_cache_bytes_per_token_marginal", "KV/token past windows", "bytes", True, key=True, size=True),
        _m("kv_cache_bytes", "KV cache/sequence", "bytes", True, size=True),
        _m("weights_bytes", "Weights", "bytes", True, size=True),
        _m("activation_bytes_train", "Train activations", "bytes", True, size=True),
        _m("optimizer_bytes", "Optimizer state", "bytes", True, size=True),
        _m("max_context_at_budget", "Max context at budget", "tokens", False),
        _m("decode_tokens_per_s_bound", "Decode tokens/s bound", "tokens/s", False),
        _m("flops_counter_over_analytic", "FlopCounter/analytic FLOPs", "ratio", None),
        # --- latency (measured) ---
        _m("prefill_ms", "Prefill latency", "ms", True, key=True, probe="latency"),
        _m("decode_ms_per_token", "Decode latency/token", "ms", True, key=True, probe="latency"),
        _m("train_step_ms", "Train step", "ms", True, probe="latency"),
        _m("prefill_ms_cv", "Prefill CV", "ratio", True),
        _m("decode_ms_per_token_cv", "Decode CV", "ratio", True),
        _m("train_step_ms_cv", "Train step CV", "ratio", True),
        # --- memory (measured) ---
        _m("peak_memory_bytes", "Peak memory", "bytes", True, key=True, probe="memory", size=True),
        _m("peak_memory_bytes_analytic", "Peak memory (analytic)", "bytes", True, size=True),
        _m("memory_measured_over_analytic", "Measured/analytic memory", "ratio", None),
        # --- context scaling ---
        _m("time_exponent", "Time exponent vs context", "exponent", True, key=True),
        _m("memory_exponent", "Memory exponent vs context", "exponent", True),
        _m("max_context_measured", "Max context (measured)", "tokens", False),
        _m("crossover_context", "Crossover context", "tokens", None),
        # --- quality ---
        _m("bits_per_byte", "Bits per byte", "bits/byte", True, key=True),
        _m("mqar_accuracy", "MQAR accuracy", "accuracy", False, key=True),
        _m("recall_accuracy", "Recall accuracy (MQAR-trained)", "accuracy", False),
        _m("passkey_accuracy", "Passkey accuracy", "accuracy", False),
        _m("copy_accuracy", "Copy accuracy", "accuracy", False),
        # --- training stability (suite/probes/stability.py) ---
        _m("lr_sensitivity", "LR sensitivity", "nats", True),
        _m("stable_lr_range", "Stable LR range", "decades", False),
        _m("final_loss", "Final train loss", "nats", True),
        _m("max_attention_logit", "Max attention logit", "logit", True),
        _m("max_output_logit", "Max output logit", "logit", True),
        _m("extrapolation_bpb", "Bits per byte at n x the trained context", "bits/byte", True),
        _m("extrapolation_passkey_accuracy", "Passkey accuracy at n x the trained context", "accuracy", False),
    ]
)


def info(metric: str) -> MetricInfo:
    """Metadata for a metric; an unregistered one gets a neutral entry named after itself."""
    return METRICS.get(metric) or MetricInfo(metric, metric, "", None, False)


def metric_unit_and_direction(metric: str, unit: str = "", lower_is_better: bool | None = None):
    """(unit, lower_is_better) of a result row: from METRICS when it knows the metric (rows cannot
    override it), else what the probe declared for its own metric."""
    known = METRICS.get(metric)
    return (known.unit, known.lower_is_better) if known else (unit, lower_is_better)


def key_metrics() -> list[str]:
    return [m.name for m in METRICS.values() if m.key]
