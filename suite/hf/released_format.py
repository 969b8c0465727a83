"""The weight format a checkpoint ships in, from its config.json's `quantization_config`, as a
`weight_format` key (suite/analytic/weight_formats.py): what `budget` sizes by default."""

from __future__ import annotations

from pathlib import Path

from suite.config import ConfigError
from suite.hf.config_values import check_key


def released_format(data: dict, file: Path) -> str | None:
    """None for an unquantised checkpoint (bf16 / the torch_dtype); an error for a scheme we do not model."""
    quant = check_key("quantization_config", data.get("quantization_config"), file=str(file))
    if not quant:
        return None
    method = str(quant.get("quant_method", "")).lower()
    if method == "mxfp4":
        return "mxfp4"
    if method == "fp8":
        return "fp8_block" if quant.get("weight_block_size") else "fp8"
    if method in ("awq", "gptq"):
        bits, group = quant.get("bits"), quant.get("group_size")
        if bits == 4 and group == 128:
            return f"{method}-int4-g128"
        raise ConfigError(
            f"{method} with bits={bits!r}, group_size={group!r} is not a modelled format (int4 with groups of "
            "128 is); size it with `archbench budget --dtype` instead.",
            file=str(file),
            field="quantization_config",
        )
    raise ConfigError(
        f"quant_method {method or '(missing)'!r} is not a modelled format (mxfp4, fp8, awq, gptq are).",
        file=str(file),
        field="quantization_config.quant_method",
    )
