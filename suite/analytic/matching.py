"""Parameter matching: the proxy of a variant at the width that gives it N non-embedding active
parameters, so quality is compared between models of equal size by construction.

The rule (`--match-params N`, documented in the README):
1. the proxy rule (`suite.registry.proxy`) at another width: the scale's head_dim, as many query
   heads as fit (the GQA group size kept), MLP, expert and mixer sizes in their ratio to the width;
   the width that comes closest to N among multiples of 4 (non-embedding active parameters grow
   with the width, so a bisection finds it);
2. if that is still more than 1% away, the MLP and expert hidden sizes (multiples of 8) absorb the
   rest, so every variant lands within ±5% of N (tests hold every catalogue variant to it) while the
   hidden-to-width ratio moves by at most one width step.
"Non-embedding active" = active parameters minus the input embedding (and learned positions) and
the output head: `count_params(...)["active_non_embedding"]`.
"""

from __future__ import annotations

from suite.analytic.params import count_params
from suite.config import ConfigError, ModelConfig
from suite.registry import proxy

TOLERANCE = 0.05  # the contract: within ±5% of the target
WIDTH_STEP = 4
MIN_WIDTH, MAX_WIDTH = 16, 8192


def non_embedding_active(cfg: ModelConfig) -> int:
    return count_params(cfg)["active_non_embedding"]


def _at_width(cfg: ModelConfig, scale: str, width: int) -> ModelConfig:
    return proxy(cfg, scale, width=width)


def _closest_width(cfg: ModelConfig, target: int, scale: str) -> ModelConfig:
    lo, hi = MIN_WIDTH // WIDTH_STEP, MAX_WIDTH // WIDTH_STEP
    if non_embedding_active(_at_width(cfg, scale, hi * WIDTH_STEP)) < target:
        raise ConfigError(
            f"{target:,} non-embedding active parameters need a proxy wider than {MAX_WIDTH}; "
            "analyse the variant at --scale full instead.",
            variant=cfg.name,
            field="match_params",
        )
    while hi - lo > 1:  # params(lo) < target <= params(hi), in width steps
        mid = (lo + hi) // 2
        if non_embedding_active(_at_width(cfg, scale, mid * WIDTH_STEP)) < target:
            lo = mid
        else:
            hi = mid
    candidates = [_at_width(cfg, scale, w * WIDTH_STEP) for w in (lo, hi)]
    return min(candidates, key=lambda c: abs(non_embedding_active(c) - target))


def _hidden_fields(cfg: ModelConfig) -> dict[str, int]:
    """The MLP sizes that can absorb a remainder, as explicit values."""
    out = {}
    if cfg.has_mlp and (not cfg.is_moe or cfg.moe_dense_first):
        out["mlp_hidden"] = cfg.hidden
    if cfg.is_moe:
        out["expert_hidden"] = cfg.expert_size
    if cfg.shared_expert_hidden is not None:
        out["shared_expert_hidden"] = cfg.shared_expert_hidden
    return out


def _scale_hidden(cfg: ModelConfig, factor: float) -> ModelConfig:
    return cfg.replace(**{k: max(8, round(v * factor / 8) * 8) for k, v in _hidden_fields(cfg).items()})


def match_params(cfg: ModelConfig, target: int, scale: str = "tiny") -> ModelConfig:
    """The proxy of `cfg` with `target` non-embedding active parameters (within ±5%)."""
    if target < 1:
        raise ConfigError(f"must be a positive number of parameters, got {target}.", field="match_params")
    matched = _closest_width(cfg, target, scale)
    got = non_embedding_active(matched)
    if abs(got - target) > 0.01 * target and _hidden_fields(matched):
        lo, hi = (1.0, 4.0) if got < target else (0.25, 1.0)
        for _ in range(40):  # bisection on the hidden-size factor; parameters grow with it
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if non_embedding_active(_scale_hidden(matched, mid)) < target else (lo, mid)
        tuned = min((_scale_hidden(matched, f) for f in (lo, hi)), key=lambda c: abs(non_embedding_active(c) - target))
        if abs(non_embedding_active(tuned) - target) < abs(got - target):
            matched, got = tuned, non_embedding_active(tuned)
    if abs(got - target) > TOLERANCE * target:
        raise ConfigError(
            f"no proxy comes within {TOLERANCE:.0%} of {target:,} non-embedding active parameters "
            f"(closest: {got:,} at width {matched.d_model}).",
            variant=cfg.name,
            field="match_params",
        )
    return matched.replace(name=f"{cfg.name}@{scale}-{_short(target)}")


def _short(n: int) -> str:
    """1500000 -> '1.5M' (for names)."""
    for unit, size in (("B", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)
