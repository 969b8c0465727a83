"""The report's deployment board: full-size models (the variants analysed at `scale: full`) on a
grid of devices (published models: namespaced study variants such as `ladder/...` are left out),
from the config alone (`suite.analytic.budget`): whether the released weights fit,
the longest context, decode tokens/s and time to first token. Proxy measurements never enter it."""

from __future__ import annotations

from typing import Any

import pandas as pd

from suite.report.cards import variant_config
from suite.report.sections import Section
from suite.units import format_value

DEVICES = ("rtx4090", "l40s", "h100", "h200", "b200")
CONTEXT = 8192  # the context every cell is read at (or the model's own, when shorter)
TP_STEPS = (2, 4, 8)  # GPUs tried when one does not hold the weights


def _fit(cfg, device, gpus: int) -> dict[str, Any]:
    from suite.analytic import budget

    context = min(CONTEXT, cfg.context_length)
    return budget.report(cfg, memory=None, device=device, context=context, prompt=context, gpus=gpus)


def _cell(cfg, name: str) -> dict[str, Any]:
    from suite.analytic import budget

    device = budget.get_device(name)
    for gpus in (1, *TP_STEPS):
        out = _fit(cfg, device, gpus)
        if out["fits"]:
            break
    if not out["fits"]:
        return dict(fits=False, text="does not fit", title=f"not even on {TP_STEPS[-1]} GPUs")
    d, t = out["decode"], out["ttft"]
    where = f"{gpus} GPUs · " if gpus > 1 else ""
    text = (
        f"{where}{format_value(d['tokens_per_s'], 'tokens/s')} · TTFT {format_value(t['seconds'] * 1e3, 'ms')} · "
        f"max {format_value(out['max_context'], 'tokens')}"
    )
    title = (
        f"{out['dtype']} weights {out['weights_bytes'] / 1e9:,.1f} GB; decode at {out['context']:,} tokens, "
        f"batch 1 ({d['bound']}-bound); TTFT for a {t['prompt']:,}-token prompt; engine reserve "
        f"{out['reserve'] / 1e9:,.1f} GB per GPU; max batch at that context {out['max_batch_at_context']:,}"
    )
    return dict(fits=True, gpus=gpus, text=text, title=title)


def section_deployment(df: pd.DataFrame, registry) -> Section:
    section = Section(
        "deployment",
        "Deployment (full-size models)",
        f"Each full-size model on one GPU of each kind (or the fewest of 2, 4, 8 in tensor parallel that hold "
        f"it), in its released weight format, with the engine reserve vLLM keeps: decode tokens/s and time to "
        f"first token at {CONTEXT:,} tokens (rooflines: upper bounds), and the longest context that fits. "
        "From the configs alone; proxy measurements are not mixed in.",
    )
    full = df[(df.get("scale") == "full") & (df["status"] == "ok")] if "scale" in df else df.iloc[0:0]
    rows = []
    for name in dict.fromkeys(full["variant"]):
        if "/" in name:  # ladder rungs and other namespaced study variants are not models one deploys
            continue
        cfg = variant_config(registry, name)
        if cfg is None:
            continue
        rows.append(dict(variant=name, cells=[_cell(cfg, device) for device in DEVICES]))
    if not rows:
        section.empty = "No full-size models in these results (run probe analytic at scale full)."
        return section
    section.extra["table"] = dict(devices=list(DEVICES), rows=rows)
    return section
