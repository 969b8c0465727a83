"""`archbench list` and `archbench show`: what a variant is, from the config alone."""

from __future__ import annotations

import dataclasses
from typing import Any

from suite.analytic.crossover import analyse as analyse_crossover
from suite.analytic.crossover import has_mixers
from suite.analytic.matching import match_params as matched_proxy
from suite.analytic.params import count_params
from suite.config import IDENTITY_FIELDS, ModelConfig
from suite.hf.resolve import hf_source, resolve_any
from suite.registry import Registry, proxy
from suite.safeio import escape_markup
from suite.term import console
from suite.units import format_value


def components(cfg: ModelConfig) -> str:
    """The component choices in one short line, e.g. 'rope/yarn rmsnorm gqa(8) swiglu moe 32x4 sliding 1:1'."""
    parts = [
        cfg.position + (f"/{cfg.rope_scaling}" if cfg.position == "rope" and cfg.rope_scaling != "none" else ""),
        cfg.norm + ("" if cfg.norm_placement == "pre" else f"({cfg.norm_placement})"),
    ]
    attn = cfg.attention
    if cfg.attention == "gqa":
        attn += f"({cfg.n_heads // cfg.kv_heads})"
    parts.append(attn)
    if cfg.qk_norm != "none":
        parts.append("qk-norm")
    kinds = cfg.layer_kinds
    if "sliding" in kinds:
        n_sliding = kinds.count("sliding")
        parts.append(f"sliding {n_sliding}:{len(kinds) - n_sliding} w{cfg.sliding_window}")
    if cfg.attention_sinks:
        parts.append("sinks")
    parts.append(cfg.mlp)
    if cfg.is_moe:
        shared = f"+{cfg.n_shared_experts}" if cfg.n_shared_experts else ""
        parts.append(f"moe {cfg.n_experts}{shared}/top{cfg.experts_top_k}")
    if cfg.tie_embeddings:
        parts.append("tied")
    return " ".join(parts)


def list_rows(registry_dirs=(), *, family: str | None = None, scale: str | None = None) -> list[dict[str, Any]]:
    registry = Registry(registry_dirs)
    rows = []
    for name in registry.names():
        cfg = registry.get(name)
        if family and cfg.family != family:
            continue
        if scale and scale != "full":
            cfg = proxy(cfg, scale)
        params = count_params(cfg)
        rows.append(
            {
                "name": name,
                "family": cfg.family,
                "params_total": params["total"],
                "params_active": params["active"],
                "context_length": cfg.context_length,
                "layers": cfg.n_layers,
                "d_model": cfg.d_model,
                "components": components(cfg),
            }
        )
    return rows


def render_list(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title=f"archbench variants ({len(rows)})", header_style="bold")
    for col, justify in (
        ("name", "left"),
        ("family", "left"),
        ("params", "right"),
        ("active", "right"),
        ("context", "right"),
        ("components", "left"),
    ):
        table.add_column(col, justify=justify, overflow="fold")
    for r in rows:
        active = format_value(r["params_active"], "count") if r["params_active"] != r["params_total"] else ""
        table.add_row(  # names and families come from user YAML: printed, never read as rich markup
            escape_markup(r["name"]),
            escape_markup(r["family"]),
            format_value(r["params_total"], "count"),
            active,
            f"{r['context_length']:,}",
            escape_markup(r["components"]),
        )
    console().print(table)


def show_data(
    spec: str, registry_dirs=(), *, scale: str | None = None, match_params: int | None = None
) -> dict[str, Any]:
    registry = Registry(registry_dirs)
    if spec in registry.entries:
        resolved = registry.resolve(spec)
        cfg, origin, chain = resolved.config, resolved.origin, list(resolved.chain)
    else:
        source = hf_source(spec, registry_dirs) if scale in (None, "full") and match_params is None else None
        if source is not None:
            from suite.hf.partial import partial_report  # deferred: the model-type table imports torch

            partial = partial_report(source[0], name=source[1])
            if partial is not None:  # a model_type archbench does not map: what it can read, nothing invented
                return partial
        cfg, origin, chain = resolve_any(spec, registry_dirs), {}, []
        origin = {f.name: spec for f in dataclasses.fields(cfg) if f.name not in IDENTITY_FIELDS}
    if match_params is not None:
        scale = scale if scale and scale != "full" else "tiny"
        cfg = matched_proxy(cfg, match_params, scale)
        rule = f"proxy rule (--scale {scale} --match-params {match_params})"
        origin = {**origin, **{k: rule for k in ("d_model", "n_layers", "n_heads", "mlp_hidden", "expert_hidden")}}
    elif scale and scale != "full":
        cfg = proxy(cfg, scale)
        origin = {**origin, **{k: f"proxy rule (--scale {scale})" for k in ("d_model", "n_layers", "n_heads")}}
    params = count_params(cfg)
    fields = {}
    for f in dataclasses.fields(cfg):
        fields[f.name] = {"value": _jsonable(getattr(cfg, f.name)), "from": origin.get(f.name, "default")}
    data = {
        "name": cfg.name,
        "family": cfg.family,
        "description": cfg.description,
        "source": cfg.source,
        "chain": chain,
        "components": components(cfg),
        "params": {
            "total": params["total"],
            "active": params["active"],
            "embedding": params["embedding"],
            "active_excl_embedding": params["active_excl_embedding"],
            "non_embedding_active": params["active_non_embedding"],
            "by_component": params["by_component"],
        },
        "config": {k: v["value"] for k, v in fields.items()},
        "origin": {k: v["from"] for k, v in fields.items()},
    }
    data.update(_costs(cfg))
    if has_mixers(cfg):
        data["crossover"] = analyse_crossover(cfg)
    return data


def _costs(cfg: ModelConfig) -> dict[str, Any]:
    """FLOPs, KV-cache and weight bytes from the analytic cost model, when it is installed."""
    try:
        from suite.analytic.costs import summary
    except ImportError:
        return {}
    return summary(cfg)


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def render_partial(data: dict[str, Any]) -> None:
    """`show` of a config whose model_type archbench does not map: the sizes read, the keys not mapped."""
    from rich.table import Table

    out = console()
    out.print(f"[bold]{escape_markup(data['name'])}[/bold]  (model_type {escape_markup(str(data['model_type']))})")
    out.print(f"source: {escape_markup(data['source'])}")
    out.print(f"[yellow]partial:[/yellow] {escape_markup(data['reason'])}\n")
    table = Table(title="read from config.json", header_style="bold")
    for col in ("field", "value", "key"):
        table.add_column(col)
    for field, item in data["read"].items():
        table.add_row(field, f"{item['value']:,}", escape_markup(item["key"]))
    for field in data["missing"]:
        table.add_row(field, "[dim]not found[/dim]", "")
    out.print(table)
    params = data["params"]
    shown = f"{params['total']:,} ({data['params_note']})" if params else data["params_note"]
    out.print(f"parameters: {escape_markup(shown)}")
    keys = data["unmapped_keys"]
    out.print(f"unmapped keys ({len(keys)}): " + (escape_markup(", ".join(keys)) if keys else "none"))


def render_show(data: dict[str, Any]) -> None:
    from rich.table import Table

    if data.get("partial"):
        render_partial(data)
        return
    out = console()
    out.print(
        f"[bold]{escape_markup(data['name'])}[/bold]  ({escape_markup(data['family'])})  "
        f"{escape_markup(data['description'])}"
    )
    if data["source"]:
        out.print(f"source: {escape_markup(data['source'])}")
    if len(data["chain"]) > 1:
        out.print("inherits: " + escape_markup(" <- ".join(reversed(data["chain"]))))
    out.print(f"components: {data['components']}\n")
    p = data["params"]
    table = Table(title="parameters", header_style="bold")
    table.add_column("component")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    for key, value in p["by_component"].items():
        if value:
            table.add_row(key, f"{value:,}", f"{100 * value / p['total']:.1f}%")
    table.add_row("[bold]total[/bold]", f"[bold]{p['total']:,}[/bold]", "")
    table.add_row("active per token", f"{p['active']:,}", "")
    table.add_row("active excl. input embedding", f"{p['active_excl_embedding']:,}", "")
    table.add_row("active non-embedding (excl. head)", f"{p['non_embedding_active']:,}", "")
    out.print(table)
    cfg_table = Table(title="resolved config (non-default fields)", header_style="bold")
    cfg_table.add_column("field")
    cfg_table.add_column("value", overflow="fold")
    cfg_table.add_column("set by", overflow="fold")
    for key, value in data["config"].items():
        origin = data["origin"][key]
        if origin == "default" or key in IDENTITY_FIELDS:
            continue
        shown = value if not isinstance(value, list) else _compress(value)
        cfg_table.add_row(key, escape_markup(shown), escape_markup(origin))
    out.print(cfg_table)
    if "flops" in data:
        out.print(_cost_table(data))
    if "crossover" in data:
        out.print(_crossover_table(data["crossover"]))


def _cost_table(data: dict[str, Any]):
    from rich.table import Table

    flops = data["flops"]
    table = Table(
        title=f"analytic costs (context {flops['context']:,}; FLOPs count {flops['counting']} work)",
        header_style="bold",
    )
    table.add_column("quantity")
    for dtype in data["weights_bytes"]:
        table.add_column(dtype, justify="right")
    table.add_row("weights", *(format_value(v, "bytes") for v in data["weights_bytes"].values()))
    per_token = data["kv_cache_bytes_per_token"]
    table.add_row(
        "KV cache / token",
        *(format_value(per_token[k], "bytes") if k in per_token else "" for k in data["weights_bytes"]),
    )
    table.add_section()
    for label, key in (
        ("prefill FLOP / token", "prefill_per_token"),
        ("decode FLOP / token", "decode_per_token"),
        ("train FLOP / token", "train_per_token"),
    ):
        table.add_row(label, format_value(flops[key], "flop"), *[""] * (len(data["weights_bytes"]) - 1))
    return table


def _crossover_table(cross: dict[str, Any]):
    """Where the mixer layers pay: L* per cost against the all-attention twin, and the ratio at the context."""
    from rich.table import Table

    twin = cross["twin"]
    table = Table(
        title=(
            f"where the {cross['mixer_layers']} mixer layers pay: vs the all-attention twin "
            f"({format_value(twin['params_total'], 'count')} params, "
            f"{format_value(twin['params_active'], 'count')} active)"
        ),
        caption=cross["assumptions"],
        header_style="bold",
    )
    table.add_column("cost")
    table.add_column("cheaper from (tokens)", justify="right")
    table.add_column(f"hybrid / twin at {cross['context']:,}", justify="right")
    for item in cross["costs"].values():
        start = item["from_context"]
        table.add_row(item["label"], "never" if start is None else f"{start:,}", f"{item['ratio_at_context']:.3f}")
    return table


def _compress(values: list) -> str:
    """['sliding','full','sliding','full'] -> 'sliding, full x2'."""
    for period in range(1, len(values) + 1):
        if len(values) % period == 0 and values == values[:period] * (len(values) // period):
            return ", ".join(map(str, values[:period])) + (f" x{len(values) // period}" if len(values) > period else "")
    return ", ".join(map(str, values))


def render_fields() -> None:
    from rich.table import Table

    table = Table(title="ModelConfig fields", header_style="bold")
    table.add_column("field")
    table.add_column("default", overflow="fold")
    for f in dataclasses.fields(ModelConfig):
        default = f.default if f.default is not dataclasses.MISSING else None
        table.add_row(f.name, repr(default))
    console().print(table)
