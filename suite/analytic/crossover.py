"""Where linear mixers pay: the context from which a hybrid is cheaper than its all-attention twin.

A mixer layer (`gated_deltanet`, `mamba2`, `short_conv`, `gla`) costs the same per token at any
context and keeps a fixed state; an attention layer's scores and KV cache grow with the context,
but its projections are often smaller. So a hybrid pays more than attention at short contexts and
less at long ones; this module finds where, from the cost functions of `suite.analytic.costs`.

The all-attention twin (`attention_twin`) is the same config with every mixer layer replaced by a
`full` attention layer, i.e. the attention the hybrid's other layers already use, and every
mixer-only field (`mixer_*`, `linear_*`, `ssm_*`) back at its default, since no layer reads them
any more (the config refuses set-but-unread sizes). Everything else (width, depth, MLP or MoE,
sliding layers, vocabulary, context) is unchanged, so the two differ in the mixer slots only. The
twin is not parameter-matched: where a mixer layer is bigger than attention, the twin is smaller.

The three costs, at context L (tokens in the sequence; batch 1; FLOPs and bytes, not time):
- `prefill_flops`: a forward over L tokens from an empty cache (per sequence);
- `decode_flops`: the decode step that makes the sequence L tokens long (it attends to all L);
- `cache_bytes`: KV cache plus mixer state after L tokens (bf16 cache, fp32 recurrent states).
L* (`from_context`) is the smallest L in 1..context_length where the hybrid is cheaper than the
twin: found by doubling L until the hybrid is cheaper, then bisecting the integers in between. With
"useful" FLOPs and bytes the twin's excess divided by L (a constant per mixer slot plus a term that
grows with L: scores, K and V, minus the fixed state over L) only grows, so past L* the hybrid stays
cheaper; "executed" FLOPs pad the mixer's chunks, so there L* is a crossing, not necessarily the
only one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from suite.analytic import costs
from suite.analytic.params import count_params, is_mixer
from suite.config import ConfigError, ModelConfig
from suite.fields import MAX_NAME

MIXER_FIELD_PREFIXES = ("mixer_", "linear_", "ssm_")
TWIN_SUFFIX = "@all-attention"


@dataclass(frozen=True)
class Cost:
    label: str
    unit: str  # a suite.metrics unit: how format_value shows it
    of: Callable[[ModelConfig, int, str, str], float]  # (config, context, dtype, counting) -> value


COSTS: dict[str, Cost] = {
    "prefill_flops": Cost(
        "prefill FLOPs per sequence", "flop", lambda c, L, dt, n: costs.total(costs.prefill_flops(c, L, n))
    ),
    "decode_flops": Cost(
        "decode FLOPs per token", "flop", lambda c, L, dt, n: costs.total(costs.decode_flops(c, L - 1, n))
    ),
    "cache_bytes": Cost(
        "cache + state bytes per sequence", "bytes", lambda c, L, dt, n: costs.kv_cache_bytes(c, L, dt)
    ),
}


@dataclass(frozen=True)
class Crossover:
    """Where one cost of a hybrid falls below its twin's; `context` is None when it never does."""

    cost: str
    context: int | None  # L*: the hybrid is cheaper from this context on
    reason: str
    at: int  # the config's context length, where `hybrid` and `twin` are taken
    hybrid: float
    twin: float

    @property
    def ratio(self) -> float:
        return self.hybrid / self.twin if self.twin else float("inf")


def mixer_fields() -> tuple[str, ...]:
    """The config fields only mixer layers read."""
    return tuple(f.name for f in dataclasses.fields(ModelConfig) if f.name.startswith(MIXER_FIELD_PREFIXES))


def has_mixers(cfg: ModelConfig) -> bool:
    return any(is_mixer(kind) for kind in cfg.layer_kinds)


def attention_twin(cfg: ModelConfig) -> ModelConfig:
    """`cfg` with every mixer layer a `full` attention layer and the mixer-only fields at their defaults."""
    kinds = tuple("full" if is_mixer(kind) else kind for kind in cfg.layer_kinds)
    names = mixer_fields()
    defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig) if f.name in names}
    return cfg.replace(
        name=cfg.name[: MAX_NAME - len(TWIN_SUFFIX)] + TWIN_SUFFIX,
        description=f"{cfg.name} with every mixer layer replaced by full attention",
        layer_types=None if set(kinds) == {"full"} else kinds,  # None is how an all-full config is written
        **defaults,
    )


def cost_at(cfg: ModelConfig, cost: str, context: int, *, dtype: str = "bf16", counting: str = "useful") -> float:
    if cost not in COSTS:
        raise ConfigError(f"unknown cost '{cost}'; choose one of: {', '.join(COSTS)}.", field="cost")
    return COSTS[cost].of(cfg, context, dtype, counting)


def _first_true(test: Callable[[int], bool], top: int) -> int | None:
    """Smallest L in 1..top with test(L), by doubling then bisecting; None when test(top) is false."""
    below, L = 0, 1  # invariant: test(below) is false (0: nothing below 1)
    while not test(L):
        if L >= top:
            return None
        below, L = L, min(2 * L, top)
    while L - below > 1:
        mid = (below + L) // 2
        below, L = (below, mid) if test(mid) else (mid, L)
    return L


def crossover(
    cfg: ModelConfig, cost: str, *, dtype: str = "bf16", counting: str = "useful", twin: ModelConfig | None = None
) -> Crossover:
    """L* of one cost (a COSTS key) over 1..cfg.context_length, with the reason in words."""
    top = cfg.context_length
    if not has_mixers(cfg):
        value = cost_at(cfg, cost, top, dtype=dtype, counting=counting)
        return Crossover(cost, None, "no mixer layers: the config is its own all-attention twin", top, value, value)
    twin = twin or attention_twin(cfg)

    def mine(L: int) -> float:
        return cost_at(cfg, cost, L, dtype=dtype, counting=counting)

    def theirs(L: int) -> float:
        return cost_at(twin, cost, L, dtype=dtype, counting=counting)

    found = _first_true(lambda L: mine(L) < theirs(L), top)
    hybrid, other = mine(top), theirs(top)
    fixed, growing = _PARTS[cost]
    if found is None:
        reason = (
            f"never within the context length ({top:,} tokens): the mixer layers' {fixed} costs more than the "
            f"attention they replace, its {growing} included (hybrid/twin {hybrid / other:.3g} at {top:,})"
        )
    elif found == 1:
        reason = f"from the first token: the mixer layers' {fixed} costs less than the attention they replace"
    else:
        reason = (
            f"the mixer layers' {fixed} costs more than the attention they replace up to {found - 1:,} tokens; "
            f"from {found:,} on, attention's {growing} outweighs it"
        )
    return Crossover(cost, found, reason, top, hybrid, other)


_PARTS = {  # per cost: what a mixer layer pays whatever the context, what attention's grows with it
    "prefill_flops": ("per-token work (projections, conv, recurrent step)", "score work over the prefix"),
    "decode_flops": ("per-token work (projections, conv, recurrent step)", "score work over the context"),
    "cache_bytes": ("fixed state", "K and V per cached token"),
}


def contexts(cfg: ModelConfig) -> list[int]:
    """Powers of two from 1 up to the context length, and the context length itself."""
    out, L = [], 1
    while L < cfg.context_length:
        out.append(L)
        L *= 2
    return out + [cfg.context_length]


def series(cfg: ModelConfig, *, dtype: str = "bf16", counting: str = "useful") -> dict:
    """Each cost of the hybrid and of its twin at `contexts(cfg)`, for plotting (a pure-mixer
    model's cache bytes are one value repeated: its state does not grow)."""
    twin = attention_twin(cfg)
    xs = contexts(cfg)
    return {
        "contexts": xs,
        "hybrid": {k: [cost_at(cfg, k, L, dtype=dtype, counting=counting) for L in xs] for k in COSTS},
        "twin": {k: [cost_at(twin, k, L, dtype=dtype, counting=counting) for L in xs] for k in COSTS},
    }


def analyse(cfg: ModelConfig, *, dtype: str = "bf16", counting: str = "useful") -> dict:
    """The twin, and L* and the hybrid/twin ratio at the context length for each cost (JSON-ready)."""
    twin = attention_twin(cfg)
    params = count_params(twin)
    found = {k: crossover(cfg, k, dtype=dtype, counting=counting, twin=twin) for k in COSTS}
    return {
        "twin": {"name": twin.name, "params_total": params["total"], "params_active": params["active"]},
        "mixer_layers": sum(is_mixer(kind) for kind in cfg.layer_kinds),
        "layers": cfg.n_layers,
        "context": cfg.context_length,
        "assumptions": f"batch 1; {counting} FLOPs; cache in {dtype}, recurrent states fp32; FLOPs and bytes, not time",
        "costs": {
            k: {
                "label": COSTS[k].label,
                "unit": COSTS[k].unit,
                "from_context": c.context,
                "reason": c.reason,
                "hybrid_at_context": c.hybrid,
                "twin_at_context": c.twin,
                "ratio_at_context": c.ratio,
            }
            for k, c in found.items()
        },
    }
