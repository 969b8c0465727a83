"""`archbench budget` in the terminal: the serving budget's figures, then the assumptions they hold under."""

from __future__ import annotations


def render(data: dict) -> None:
    from rich.table import Table

    from suite.safeio import escape_markup as escape
    from suite.term import console as term_console

    gb = 1e9
    d = data["decode"]
    gpus = f" x {data['gpus']} GPUs" if data["gpus"] > 1 else ""
    table = Table(title=f"{escape(data['variant'])}: serving budget", header_style="bold", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    mem_max = data["memory_max_context"]
    reserve = data["reserve_parts"]
    reserve_how = "engine reserve (auto)" if "unused_fraction" in reserve else "reserve (--reserve)"
    rows = [
        (
            f"memory budget (per GPU{gpus})",
            f"{data['memory_budget'] / 2**30:,.1f} GiB = {data['memory_budget'] / gb:,.1f} GB",
        ),
        (f"weights ({escape(data['dtype'])}: {escape(data['dtype_source'])})", f"{data['weights_bytes'] / gb:,.2f} GB"),
        (reserve_how, f"{data['reserve'] / gb:,.2f} GB"),
        (f"KV cache per token, all layers ({escape(data['kv_dtype'])})", f"{data['kv_cache_bytes_per_token']:,} B"),
        ("KV cache per extra token past the windows", f"{data['kv_cache_bytes_per_token_marginal']:,} B"),
        (f"max context (batch {data['batch']})", f"{data['max_context']:,} tokens  [limited by {data['limited_by']}]"),
        ("memory-only max context", "unbounded (bounded cache)" if mem_max is None else f"{mem_max:,} tokens"),
        (f"max batch at context {data['context']:,}", f"{data['max_batch_at_context']:,}"),
        (
            f"decode bound on {escape(d['device'])}{gpus} (batch {d['batch']}, context {d['context']:,})",
            f"{d['tokens_per_s']:,.1f} tokens/s  [{d['bound']}-bound]",
        ),
        ("  bandwidth limit / compute limit", f"{d['tokens_per_s_bandwidth']:,.1f} / {d['tokens_per_s_compute']:,.1f}"),
        ("  bytes / FLOPs per step (per GPU)", f"{d['bytes_per_step'] / gb:,.2f} GB / {d['flops_per_step']:.3g}"),
    ]
    if d["allreduce_seconds_per_step"]:
        rows.append(("  all-reduces per step", f"{d['allreduce_seconds_per_step'] * 1e3:,.3f} ms"))
    if "decode_at_max_batch" in data:
        at = data["decode_at_max_batch"]
        rows.append(
            (
                f"decode at the max batch ({at['batch']:,})",
                f"{at['tokens_per_s']:,.0f} tokens/s ({at['tokens_per_s_per_sequence']:,.1f} per sequence)",
            )
        )
    t = data["ttft"]
    rows.append(
        (f"time to first token ({t['prompt']:,}-token prompt)", f"{t['seconds'] * 1e3:,.1f} ms  [{t['bound']}-bound]")
    )
    if "cost_per_million_tokens" in data:
        rows.append(("cost per million generated tokens", f"${data['cost_per_million_tokens']:,.3f}"))
    for what, value in rows:
        table.add_row(what, value)
    console = term_console()
    console.print(table)
    for line in data["assumptions"]:
        console.print(f"[dim]- {escape(line)}[/dim]")
    if data["limited_by"] == "weights":
        console.print(
            f"[bold red]the {escape(data['dtype'])} weights alone do not fit in the budget[/bold red] "
            "(the roofline assumes they did)"
        )
    elif data["limited_by"] == "reserve":
        console.print(
            f"[bold red]the {escape(data['dtype'])} weights fit ({data['weights_bytes'] / gb:,.2f} of "
            f"{data['memory_budget'] / gb:,.1f} GB), but with the engine reserve ({data['reserve'] / gb:,.2f} GB) "
            "no KV cache does[/bold red]: a larger budget, or --reserve with what your engine keeps back"
        )
    elif not data["fits"]:
        console.print(
            f"[bold red]{data['batch']} sequence(s) of {data['context']:,} tokens do not fit in the "
            "budget[/bold red] (the roofline assumes they did)"
        )
