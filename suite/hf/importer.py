"""The `archbench import` command: map (and load) a checkpoint, write its variant YAML, check parity."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from suite.analytic.params import count_params
from suite.config import ModelConfig
from suite.hf.load import load_checkpoint
from suite.hf.model_types import config_from_hf, read_hf_config
from suite.hf.parity import check_parity, parity_failure
from suite.hf.safetensors_store import CheckpointError, weight_files
from suite.safeio import atomic_write_text, dumps


def variant_yaml(cfg: ModelConfig) -> str:
    """The variant as registry YAML (only fields that differ from the defaults)."""
    import yaml

    body = {k: v for k, v in cfg.to_dict(skip_defaults=True).items() if k != "name"}
    for key in ("family", "description", "source"):
        body.setdefault(key, getattr(cfg, key))
    ordered = {k: body[k] for k in ("family", "description", "source") if k in body}
    ordered.update({k: v for k, v in body.items() if k not in ordered})

    class Dumper(yaml.SafeDumper):  # block mappings, one-line lists (layer_types stays readable)
        pass

    Dumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
    text = yaml.dump({cfg.name: ordered}, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=110)
    return f"# archbench variant, mapped from a Hugging Face config by `archbench import`\n{text}"


def import_checkpoint(
    path: str | Path,
    *,
    name: str | None = None,
    out: str | Path | None = None,
    check: bool = False,
    seq_len: int = 32,
    batch: int = 2,
) -> tuple[dict[str, Any], str]:
    """Map (and, with weights, load) a checkpoint; optionally check parity. Returns (record, variant YAML)."""
    data, file = read_hf_config(path)
    folder = file.parent
    files = weight_files(folder)
    if files:
        cfg, model = load_checkpoint(file, name=name)
        weights = {
            "files": len(files),
            "tensors": len(model.state_dict()),
            "parameters": sum(p.numel() for p in model.parameters()),
            "non_finite": list(model.nonfinite_weights),
        }
    else:
        if check:
            raise CheckpointError(
                "--check needs weights: the folder has a config.json but no *.safetensors.", file=str(folder)
            )
        cfg, model, weights = config_from_hf(file, name=name), None, None
    text = variant_yaml(cfg)
    if out is not None:
        atomic_write_text(out, text, "variant YAML")
    params = count_params(cfg)
    record: dict[str, Any] = {
        "model_type": data["model_type"],
        "variant": cfg.name,
        "out": None if out is None else str(out),
        "params": {k: params[k] for k in ("total", "active", "embedding", "active_excl_embedding")},
        "weights": weights,
        "config": cfg.to_dict(),
    }
    if check:
        record.update(check_parity(file, seq_len=seq_len, batch=batch, loaded=(cfg, model)))
    return record, text


def run_import(
    path: str | Path,
    *,
    name: str | None = None,
    out: str | Path | None = None,
    check: bool = False,
    seq_len: int = 32,
    tol: float = 1e-4,
    as_json: bool = False,
) -> int:
    """`archbench import`: print the record (as_json) or the variant YAML and a summary; 1 if parity fails."""
    record, text = import_checkpoint(path, name=name, out=out, check=check, seq_len=seq_len)
    failure = parity_failure(record, tol) if check else None
    if check:
        record.update(tolerance=tol, passed=failure is None, failure=failure)
    if as_json:
        sys.stdout.write(dumps(record, indent=2) + "\n")  # strict JSON: a NaN difference is null
        if failure:
            print(f"archbench: parity check FAILED: {failure}.", file=sys.stderr)
        return 1 if failure else 0
    if out is None:
        sys.stdout.write(text)
    else:
        print(f"wrote {out}", file=sys.stderr)
    w = record["weights"]
    print(
        f"{record['variant']} ({record['model_type']}): {record['params']['total']:,} parameters; "
        + (f"loaded {w['tensors']} tensors from {w['files']} file(s)" if w else "config only, no weights"),
        file=sys.stderr,
    )
    if w and w["non_finite"] and not check:
        bad = w["non_finite"]
        print(
            f"archbench: warning: {len(bad)} checkpoint tensors hold NaN or inf ({', '.join(bad[:3])}"
            + (", ..." if len(bad) > 3 else "")
            + "); `--check` fails on them.",
            file=sys.stderr,
        )
    if check:
        diffs = (record["max_abs_diff"], record["decode_max_abs_diff"])
        if all(math.isfinite(d) for d in diffs):
            print(
                f"parity vs transformers {record['transformers_version']}: max |logit diff| "
                f"{diffs[0]:.2e} full forward, {diffs[1]:.2e} KV-cache decoding "
                f"({record['batch']} x {record['seq_len']} tokens, fp32; tolerance {tol:g})"
                + (" FAILED" if failure else ""),
                file=sys.stderr,
            )
        if failure:
            print(f"archbench: parity check FAILED: {failure}.", file=sys.stderr)
    return 1 if failure else 0
