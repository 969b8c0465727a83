"""Commands about variants from their config alone: list, show, budget, calibrate, import."""

from __future__ import annotations

from suite.cli.args import (
    _efficiency,
    _match_params_arg,
    _print_json,
    _registry_arg,
    _scale_arg,
    at_most,
    gpu_memory,
    positive_float,
    reserve_size,
)
from suite.components import WEIGHT_FORMAT
from suite.config import ConfigError
from suite.safeio import atomic_write_text, dumps


# ---------------------------------------------------------------- list / show
def _add_list(sub) -> None:
    p = sub.add_parser(
        "list",
        help="table of registered variants",
        description="List every registered variant: family, parameters (total/active), context, key components.",
    )
    _registry_arg(p)
    _scale_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--family", help="only this family")
    p.set_defaults(func=_cmd_list)


def _cmd_list(args) -> int:
    from suite.report.inspect import list_rows, render_list

    rows = list_rows(args.registry, family=args.family, scale=args.scale)
    if args.json:
        _print_json(rows)
    else:
        render_list(rows)
    return 0


def _add_show(sub) -> None:
    p = sub.add_parser(
        "show",
        help="one variant: resolved config, field origins, parameter breakdown",
        description="Show a variant (name, variant YAML path, HF config.json or checkpoint folder).",
    )
    p.add_argument("name", nargs="?", help="variant name or path")
    _registry_arg(p)
    _scale_arg(p)
    _match_params_arg(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--fields", action="store_true", help="list every config field with its default and exit")
    p.set_defaults(func=_cmd_show)


def _cmd_show(args) -> int:
    from suite.analytic.published import published_scores
    from suite.report.inspect import render_fields, render_show, show_data
    from suite.report.published import render_published

    if args.fields:
        render_fields()
        return 0
    if not args.name:
        raise ConfigError("`archbench show` needs a variant name or path (see `archbench list`).")
    data = show_data(args.name, args.registry, scale=args.scale, match_params=args.match_params)
    # Published scores belong to the released full-size model, not to a proxy scaled down from it.
    full_size = args.scale in (None, "full") and args.match_params is None
    data["published_quality"] = published_scores(data["name"]) if full_size and "name" in data else []
    if args.json:
        _print_json(data)
    else:
        render_show(data)
        render_published(data["published_quality"])
    return 0


# ---------------------------------------------------------------- budget / calibrate
def _add_budget(sub) -> None:
    from suite.analytic.budget import DEVICES

    p = sub.add_parser(
        "budget",
        help="serving budget: max context in memory, max batch, decode tokens/s bound",
        description="From the config alone: the longest context (or largest batch) that fits in a "
        "memory budget next to the weights, and the decode roofline (tokens/s bound by "
        "memory bandwidth and by compute) on a device.",
    )
    p.add_argument("name", help="variant name or path")
    _registry_arg(p)
    _scale_arg(p)
    p.add_argument(
        "--memory",
        type=gpu_memory,
        metavar="SIZE",
        help="memory per GPU, e.g. 80GB, 16GB, 24e9 (default: the device's). GPU memory is sold in binary "
        "units, so 16GB means 16 GiB as on the card and in the device presets; 16e9 is decimal bytes",
    )
    p.add_argument(
        "--dtype",
        default=None,
        choices=list(WEIGHT_FORMAT.keys()),
        metavar="FORMAT",
        help="weight format, as a checkpoint stores it (with group scales; embeddings and head 16-bit for "
        f"AWQ/GPTQ/FP8): {', '.join(WEIGHT_FORMAT.keys())} (default: the model's released format, else bf16)",
    )
    p.add_argument("--kv-dtype", help="KV-cache type (default: the weight type, bf16 for quantised formats)")
    p.add_argument(
        "--batch",
        type=at_most(2**24, "concurrent sequences"),
        default=1,
        help="concurrent sequences (default 1)",
    )
    p.add_argument(
        "--context",
        type=at_most(2**32, "tokens of context"),
        help="context for the max batch and the roofline (default: the max context)",
    )
    p.add_argument(
        "--reserve",
        type=reserve_size,
        metavar="SIZE",
        default=None,
        help="memory per GPU kept from the KV cache (default auto: as vLLM, 10%% of the memory unused, 512 MiB "
        "non-torch memory and one 8k-token prefill chunk's activations; 0 for the bare arithmetic)",
    )
    p.add_argument(
        "--gpus",
        type=at_most(1024, "GPUs"),
        default=1,
        help="tensor parallel over N GPUs of the device (weights and KV heads split, bandwidth and FLOP/s summed, "
        "all-reduces over the device's link; --memory is per GPU)",
    )
    p.add_argument("--prompt", type=at_most(2**32, "tokens"), help="prompt length for time to first token")
    p.add_argument(
        "--efficiency",
        type=_efficiency,
        default=1.0,
        help="share of peak and bandwidth an engine reaches (default 1.0: rooflines are bounds)",
    )
    p.add_argument("--price", type=positive_float, metavar="USD", help="price per GPU-hour: cost per 1M tokens")
    p.add_argument(
        "--device",
        default=None,
        help=f"device preset ({', '.join(DEVICES)}) or a file from `archbench calibrate --output` (default h100)",
    )
    p.add_argument("--device-peak", type=positive_float, metavar="FLOPS", help="peak FLOP/s (overrides the preset)")
    p.add_argument(
        "--device-bandwidth", type=positive_float, metavar="BYTES_PER_S", help="memory bandwidth (overrides the preset)"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_budget)


def _cmd_budget(args) -> int:
    from suite.analytic import budget
    from suite.hf.resolve import resolve_any

    cfg = resolve_any(args.name, args.registry, scale=args.scale)
    custom = args.device is None and args.device_peak and args.device_bandwidth
    device = budget.get_device(
        None if custom else (args.device or "h100"), peak=args.device_peak, bandwidth=args.device_bandwidth
    )
    data = budget.report(
        cfg,
        memory=args.memory,
        memory_spelled=getattr(args.memory, "spelled", ""),
        dtype=args.dtype,
        kv_dtype=args.kv_dtype,
        batch=args.batch,
        context=args.context,
        device=device,
        reserve=args.reserve,
        gpus=args.gpus,
        prompt=args.prompt,
        efficiency=args.efficiency,
        price=args.price,
    )
    if args.json:
        _print_json(data)
    else:
        from suite.report.budget_view import render

        render(data)
    return 0


def _add_calibrate(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="measure this machine's matmul FLOP/s and memory bandwidth",
        description="Measure this machine with torch (fp32 matmul FLOP/s, copy bandwidth); "
        "`--output FILE` writes a device file for `archbench budget --device FILE`.",
    )
    p.add_argument(
        "--size",
        type=at_most(32_768, "three fp32 matrices of 4 GiB each"),
        default=2048,
        help="matmul size n (n x n times n x n; default 2048)",
    )
    p.add_argument(
        "--copy-mib",
        type=at_most(65_536, "two buffers of 64 GiB each"),
        default=256,
        help="MiB copied for the bandwidth test (default 256)",
    )
    p.add_argument(
        "--repeats",
        type=at_most(1000, "best of a few is enough"),
        default=5,
        help="best of this many timings (default 5)",
    )
    p.add_argument("--output", metavar="FILE", help="write the device file here")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_calibrate)


def _cmd_calibrate(args) -> int:
    from suite.analytic.budget import calibrate

    data = calibrate(matmul_size=args.size, copy_bytes=args.copy_mib * 2**20, repeats=args.repeats)
    if args.output:  # atomic: creates the folder, and a failure names the path and keeps an earlier file
        atomic_write_text(args.output, dumps(data, indent=2) + "\n", "device file")
    if args.json:
        _print_json(data)
    else:
        print(
            f"matmul: {data['peak_flops'] / 1e9:,.1f} GFLOP/s  copy bandwidth: {data['bandwidth'] / 1e9:,.1f} GB/s  "
            f"({data['threads']} threads)" + (f"\nwrote {args.output}" if args.output else "")
        )
    return 0


# ---------------------------------------------------------------- import
def _add_import(sub) -> None:
    p = sub.add_parser(
        "import",
        help="map a Hugging Face checkpoint to a variant and load its weights",
        description="Read a Hugging Face checkpoint folder (config.json + *.safetensors, sharded or "
        "not; pickle files are refused) or just a config.json, print its variant YAML "
        "(or write it with --out) and load the weights into archbench's decoder. "
        "Supported model types: gpt2, llama, mistral, qwen2, qwen3, qwen3_moe, "
        "gemma3_text, gemma3 (text decoder), olmo2, gpt_oss, deepseek_v3.",
    )
    p.add_argument("path", metavar="DIR", help="checkpoint folder, or a config.json (architecture only)")
    p.add_argument("--out", metavar="FILE.yaml", help="write the variant YAML to this file instead of stdout")
    p.add_argument("--name", help="variant name (default: the folder name)")
    p.add_argument(
        "--check",
        action="store_true",
        help="also run the transformers model on the same random tokens and report the max absolute "
        "logit difference, for the full forward pass and for KV-cache decoding (fp32)",
    )
    p.add_argument(
        "--seq-len",
        type=at_most(2**20, "tokens of one --check sequence"),
        default=32,
        help="tokens per sequence for --check (default 32)",
    )
    p.add_argument("--tol", type=positive_float, default=1e-4, help="--check exits 1 above this max abs difference")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_import)


def _cmd_import(args) -> int:
    from suite.hf.importer import run_import

    return run_import(
        args.path, name=args.name, out=args.out, check=args.check, seq_len=args.seq_len, tol=args.tol, as_json=args.json
    )
