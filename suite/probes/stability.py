"""The `stability` probe: train the cell's proxy at a sweep of learning rates with one recipe and
measure how it fails at the high end (`suite.quality.stability`, after Wortsman et al. 2023).

Rows (each a mean over seeds; per-seed values and a 95% Student-t interval in `extra`):
- `lr_sensitivity` (one per cell): mean over the sweep of min(final loss, initial loss) minus the
  best final loss, nats; lower is more robust to the learning rate.
- `stable_lr_range` (one per cell): decades spanned by the widest run of consecutive rates that
  did not diverge.
- `final_loss`, `max_attention_logit`, `max_output_logit`: one row per rate (`settings.lr`), with
  divergence, loss spikes and gradient-norm spikes per seed in `extra`. A diverged run is a result:
  status ok, `diverged: true`; its final loss is null where it went non-finite.

Presets (`settings.preset`; any key can also be set on its own):
- quick (default): 7 rates 3e-4..3e-1, 200 steps of 8 x 128 bytes, one seed: about a minute per
  tiny proxy on one core (44 s for the 100k-parameter stability/base proxy).
- standard: the same rates, 1,000 steps, seeds 0/1/2.
- short (the quick suite's): 3 rates 3e-3, 3e-2, 3e-1, 60 steps, one seed: about 10 s per proxy.
"""

from __future__ import annotations

import math
from typing import Any

from suite.config import ModelConfig
from suite.probes import Row, probe
from suite.probes.quality import mean_ci, resolve_preset
from suite.threads import pinned_threads

LRS = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1]  # Wortsman et al. 2023 sweep up to 3e-1
PRESETS: dict[str, dict[str, Any]] = {
    "quick": dict(lrs=LRS, seeds=[0], steps=200, batch_size=8, seq_len=128, threads=1),
    "standard": dict(lrs=LRS, seeds=[0, 1, 2], steps=1000, batch_size=8, seq_len=128, threads=1),
    # the quick suite's form: the low, middle and high end of the sweep, enough to show attention-logit growth
    "short": dict(lrs=[3e-3, 3e-2, 3e-1], seeds=[0], steps=60, batch_size=8, seq_len=128, threads=1),
}


def resolve_settings(settings: dict[str, Any]) -> dict[str, Any]:
    s = resolve_preset(settings, PRESETS, "quick", "stability")
    if not s["lrs"] or any(not (isinstance(x, (int, float)) and x > 0) for x in s["lrs"]):
        raise ValueError(f"stability setting 'lrs' is a list of positive learning rates, got {s['lrs']!r}")
    if not s["seeds"]:
        raise ValueError("stability setting 'seeds' needs at least one seed")
    return s


def _stats_row(metric: str, values: list[float], settings: dict, extra: dict) -> Row:
    finite = [v for v in values if math.isfinite(v)]
    stats = mean_ci(finite) if finite else dict(mean=math.nan, ci_low=math.nan, ci_high=math.nan, n=0)
    return Row(
        metric=metric,
        value=stats["mean"] if finite else None,
        settings=settings,
        extra=dict(extra, values=values, ci_low=stats["ci_low"], ci_high=stats["ci_high"], n_seeds=stats["n"]),
    )


@probe("stability", family="stability", isolate=True, defaults={"preset": "quick"})
def stability(cfg: ModelConfig, settings: dict[str, Any]) -> list[Row]:
    """Train the proxy at a sweep of learning rates (seeds): LR sensitivity, stable range, logit growth."""
    from suite.analytic.params import count_params
    from suite.quality.stability import StabilitySettings, sweep

    s = resolve_settings(settings)
    lrs = sorted(float(x) for x in s["lrs"])
    recipe = StabilitySettings(steps=int(s["steps"]), batch_size=int(s["batch_size"]), seq_len=int(s["seq_len"]))
    with pinned_threads(s["threads"], unset="keep"):
        sweeps = [sweep(cfg, recipe, lrs, int(seed)) for seed in s["seeds"]]
    common = dict(
        seeds=list(s["seeds"]),
        lrs=lrs,
        width=cfg.d_model,
        n_layers=cfg.n_layers,
        qk_norm=cfg.qk_norm,
        z_loss=cfg.z_loss,
        attn_softcap=cfg.attn_softcap,
        decay_norms=cfg.decay_norms,
        decay_embeddings=cfg.decay_embeddings,
        non_embedding_active=count_params(cfg)["active_non_embedding"],
        recipe=recipe.to_dict(),
        initial_loss=[w["initial_loss"] for w in sweeps],
        train_seconds=sum(r["seconds"] for w in sweeps for r in w["runs"]),
    )
    rows = [
        _stats_row("lr_sensitivity", [w["lr_sensitivity"] for w in sweeps], {}, common),
        _stats_row("stable_lr_range", [w["stable_lr_range"] for w in sweeps], {}, common),
    ]
    for i, lr in enumerate(lrs):
        runs = [w["runs"][i] for w in sweeps]
        per_lr = dict(
            common,
            diverged=any(r["diverged"] for r in runs),
            diverged_seeds=[r["seed"] for r in runs if r["diverged"]],
            divergence=[r["divergence"] for r in runs],
            loss_spikes=[r["loss_spikes"] for r in runs],
            grad_norm_spikes=[r["grad_norm_spikes"] for r in runs],
            max_grad_norm=[r["max_grad_norm"] for r in runs],
            steps_run=[r["steps_run"] for r in runs],
        )
        for metric in ("final_loss", "max_attention_logit", "max_output_logit"):
            rows.append(_stats_row(metric, [r[metric] for r in runs], dict(lr=lr), per_lr))
    return rows
