"""The `recall` probe: train the proxy on MQAR itself (Zoology's protocol, `suite.quality.recall`),
then score held-out instances, including more key-value pairs and longer sequences than trained.

One row per (sequence length, pairs): `recall_accuracy`, the mean over seeds, with the per-seed
values, a 95% Student-t interval, chance (1 / (vocabulary - 1)) and whether that (length, pairs) was in
the training mixture in `extra`. The width is the cell's proxy width (`d_model`, recorded): run a
variant at `scale: tiny` and `scale: small` for two widths, or with `match_params`.

Presets (`settings.preset`; any key can also be set on its own):
- cpu (default): 2-layer proxies of width 60-68 (100k parameters in the recall suite), vocabulary 128,
  three seeds, up to 1,200 steps of 64 dense sequences of 32-64 tokens; about a minute per seed for
  attention on one core of a 2-core machine, enough for GQA attention to pass the lookup transition in
  every seed; MHA and MLA learn more slowly and mostly need ~1,300-1,500 steps or more, learned
  positions did not learn in 3,000 (README: the recall protocol).
- cpu-small-pairs: few pairs per sequence (4-8 at 32-64 tokens), up to 3,000 steps at lr 3e-3: the
  recipe Gated DeltaNet learns the lookup from (attention stalls on it, and Gated DeltaNet stays at
  chance on cpu's). Zoology reports each architecture at its best recipe; the recall suite runs each
  variant on its own, `suites/recall-recipes.yaml` each on the other's, and the report shows each.
- gpu: 4x the steps, 2x the batch, longer sequences and more pairs; for a GPU machine (not yet
  measured on one).
Both CPU presets run the mixers' chunked form in 16-token chunks (`mixer_chunk_size`): the same math
as the default 64, in about 0.5-0.85x the time at these lengths.
Every preset trains to a criterion: it stops once the training accuracy of the last 100 steps reaches
0.99 (`stop_accuracy`, `stop_window`), so a variant that has learned stops early and one that has not
trains the whole budget; `steps_run` in `extra` says how many steps each seed took.
"""

from __future__ import annotations

import math
import time
from typing import Any

from suite.config import ModelConfig
from suite.isolation import retain_freed_memory
from suite.probes import Row, probe
from suite.probes.quality import mean_ci, resolve_preset
from suite.threads import pinned_threads

# Every preset trains to a criterion (mean training accuracy of the last 100 steps: learned, stop)
# and has no curriculum unless set.
_COMMON: dict[str, Any] = dict(seeds=[0, 1, 2], train_first=[], first_frac=0.0, stop_accuracy=0.99, stop_window=100)
_CPU: dict[str, Any] = dict(
    _COMMON,
    vocab=128,
    steps=1200,
    batch_size=64,
    lr=2e-3,  # 3e-3 left 2 of 3 seeds on a half-solved plateau (accuracy 0.5) at 1,200 steps
    # dense (4 x pairs = length, every slot a query): attention stalled on sparse mixes (few pairs
    # per sequence) at 0.2-0.3 for 2,400 steps, answering some value of the context
    train=[[32, 8], [64, 16], [64, 8]],
    eval=[[32, 4], [32, 8], [64, 4], [64, 8], [64, 16], [128, 16], [128, 32]],
    eval_instances=256,
    threads=1,
    # The mixers' chunked form in 16-token chunks: the math does not depend on the chunk, the CPU time
    # does (one training step at 64 tokens, one core: Gated DeltaNet 200 -> 151 ms, GLA 272 -> 143 ms,
    # Mamba-2 114 -> 96 ms against the default 64).
    mixer_chunk_size=16,
)
PRESETS: dict[str, dict[str, Any]] = {
    "cpu": _CPU,
    # The recurrent mixers' recipe: few pairs per sequence, longer. Gated DeltaNet learned the lookup
    # from it (0.95-0.96 at 4 pairs in 3 seeds) and from neither the dense mix (1,200 steps) nor a
    # dense-and-sparse one (3,000 steps at 2e-3, one seed); attention stalls on it (see cpu).
    "cpu-small-pairs": dict(_CPU, steps=3000, lr=3e-3, train=[[32, 4], [64, 4], [64, 8]]),
    "gpu": dict(
        _COMMON,
        vocab=512,  # 128 pairs need 256 distinct key and value ids
        steps=5000,
        batch_size=128,
        lr=2e-3,
        train=[[32, 8], [64, 16], [128, 32], [256, 64], [256, 32]],
        eval=[[64, 16], [128, 32], [256, 32], [256, 64], [512, 64], [512, 128], [1024, 128]],
        eval_instances=1000,
        threads=None,
        mixer_chunk_size=64,
    ),
}


def resolve_settings(settings: dict[str, Any]) -> dict[str, Any]:
    s = resolve_preset(settings, PRESETS, "cpu", "recall")
    for key in ("train", "eval") + (("train_first",) if s["train_first"] else ()):  # no curriculum: no check
        if not s[key] or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in s[key]):
            raise ValueError(f"recall setting '{key}' is a list of [sequence length, pairs], got {s[key]!r}")
    return s


@probe("recall", family="recall", isolate=True, defaults={"preset": "cpu"})
def recall(cfg: ModelConfig, settings: dict[str, Any]) -> list[Row]:
    """Train the proxy on multi-query associative recall (seeds), score held-out instances by (length, pairs)."""
    import torch

    from suite.analytic.params import count_params
    from suite.model import build_model
    from suite.quality.recall import RecallSettings, recall_accuracy, train_recall

    s = resolve_settings(settings)
    retain_freed_memory()  # the cell's own process (isolate=True): buffers reused step to step
    cfg = cfg.replace(vocab_size=int(s["vocab"]), dropout=0.0, mixer_chunk_size=int(s["mixer_chunk_size"]))
    points = [(int(L), int(n)) for L, n in s["eval"] if int(L) <= cfg.context_length]
    recipe = RecallSettings(  # the recipe a row records is the one that ran: its eval points too
        train=tuple((min(int(L), cfg.context_length), int(n)) for L, n in s["train"]),
        train_first=tuple((min(int(L), cfg.context_length), int(n)) for L, n in s["train_first"] or ()),
        first_frac=float(s["first_frac"]),
        steps=int(s["steps"]),
        batch_size=int(s["batch_size"]),
        lr=float(s["lr"]),
        eval=tuple(points),
        eval_instances=int(s["eval_instances"]),
        stop_accuracy=None if s["stop_accuracy"] is None else float(s["stop_accuracy"]),
        stop_window=int(s["stop_window"]),
    )
    per_point: dict[tuple[int, int], list[float]] = {p: [] for p in points}
    train_seconds, final_loss, steps_run = [], [], []
    with pinned_threads(s["threads"], unset="keep"):
        for seed in s["seeds"]:
            torch.manual_seed(seed)
            model = build_model(cfg, seed=seed)
            start = time.perf_counter()
            losses = train_recall(model, cfg, recipe, seed)
            train_seconds.append(round(time.perf_counter() - start, 2))
            steps_run.append(len(losses))
            final_loss.append(sum(losses[-20:]) / len(losses[-20:]) if losses else math.nan)
            for L, n in points:
                acc = recall_accuracy(model, cfg, L, n, recipe.eval_instances, seed)
                per_point[(L, n)].append(acc if math.isfinite(final_loss[-1]) else math.nan)
    counts = count_params(cfg)
    common = dict(
        seeds=list(s["seeds"]),
        width=cfg.d_model,
        n_layers=cfg.n_layers,
        vocab=cfg.vocab_size,
        mixer_chunk_size=cfg.mixer_chunk_size,  # speed only: the chunked form's math does not depend on it
        chance=1 / (cfg.vocab_size - 1),  # keys and values share ids 1 .. V-1
        non_embedding_active=counts["active_non_embedding"],
        recipe=recipe.to_dict(),
        train_seconds=train_seconds,
        steps_run=steps_run,  # fewer than the recipe's steps where the stopping criterion was met
        final_train_loss=final_loss,
    )
    rows = []
    for (L, n), values in per_point.items():
        stats = mean_ci(values)
        finite = math.isfinite(stats["mean"])
        rows.append(
            Row(
                metric="recall_accuracy",
                value=stats["mean"] if finite else None,
                settings=dict(seq_len=L, pairs=n, width=cfg.d_model),
                extra=dict(
                    common,
                    values=values,
                    ci_low=stats["ci_low"],
                    ci_high=stats["ci_high"],
                    n_seeds=stats["n"],
                    trained_on=[L, n] in [list(p) for p in recipe.train + recipe.train_first],
                ),
                status="ok" if finite else "error",
                error="" if finite else f"training diverged (final losses {final_loss})",
            )
        )
    skipped = [(int(L), int(n)) for L, n in s["eval"] if int(L) > cfg.context_length]
    if skipped and rows:
        rows[0].extra["skipped_past_context"] = skipped
    return rows
