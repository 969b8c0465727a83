"""Parity with the reference implementation: the transformers model and ours on the same tokens.

Two numbers, both max |logit difference| in fp32 on one random token batch:
- `max_abs_diff`: our full forward pass against transformers' full forward pass;
- `decode_max_abs_diff`: ours run incrementally (prefill the first half, then one token at a time
  through our KV cache) against the same reference full forward pass, so the cache (rolling
  sliding-window buffers, MLA latents) is held to the reference too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from suite.config import ConfigError
from suite.hf.load import load_checkpoint
from suite.hf.model_types import read_hf_config
from suite.hf.safetensors_store import CheckpointError


def reference_model(path: str | Path):
    """The transformers model of a checkpoint folder, fp32, eager attention (the plainest reference)."""
    try:
        import transformers
        from transformers import AutoModelForCausalLM
    except ImportError:
        raise ConfigError("--check needs the reference implementation: pip install transformers") from None
    try:
        # use_safetensors: the same files archbench loaded, never a pytorch_model.bin beside them (unpickling
        # can run code); local_files_only: a folder, never a download
        model = AutoModelForCausalLM.from_pretrained(
            str(path), dtype=torch.float32, attn_implementation="eager", use_safetensors=True, local_files_only=True
        )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        text = " ".join(str(exc).split())[:300]
        raise CheckpointError(
            f"the transformers reference cannot load the folder for --check: {text}", file=str(path)
        ) from None
    return model.eval(), transformers.__version__


@torch.no_grad()
def compare(ours, reference, idx: torch.Tensor, prefill: int) -> dict[str, float]:
    ref = reference(input_ids=idx, use_cache=False).logits.float()
    full = ours(idx).float()
    cache = ours.new_cache()
    steps = [ours(idx[:, :prefill], cache=cache)]
    for t in range(prefill, idx.shape[1]):
        steps.append(ours(idx[:, t : t + 1], cache=cache))
    decoded = torch.cat(steps, dim=1).float()
    sides = {"transformers reference": ref, "archbench full forward": full, "archbench KV-cache decoding": decoded}
    return {
        "max_abs_diff": (full - ref).abs().max().item(),
        "decode_max_abs_diff": (decoded - ref).abs().max().item(),
        "max_abs_logit": ref.abs().max().item(),
        "non_finite_logits": [side for side, logits in sides.items() if not bool(torch.isfinite(logits).all())],
    }


def nonfinite_weights(model) -> list[str]:
    """Names of the weights holding NaN or inf: the checkpoint's names when the loader recorded them."""
    recorded = getattr(model, "nonfinite_weights", None)
    if recorded is not None:
        return list(recorded)
    return [n for n, t in model.state_dict().items() if t.is_floating_point() and not bool(torch.isfinite(t).all())]


def parity_failure(record: dict[str, Any], tol: float) -> str | None:
    """Why the parity check failed, or None. Non-finite values fail whatever the tolerance: NaN compares
    false with everything, so `nan > tol` would pass a model that computes nothing."""
    reasons = []
    weights = record.get("non_finite_weights") or []
    if weights:
        shown = ", ".join(weights[:3]) + (f" and {len(weights) - 3} more" if len(weights) > 3 else "")
        reasons.append(f"the checkpoint's weights hold NaN or inf ({len(weights)} tensors: {shown})")
    logits = record.get("non_finite_logits") or []
    if logits:
        reasons.append(f"non-finite logits (NaN or inf) from: {', '.join(logits)}")
    diffs = {"full forward": record["max_abs_diff"], "KV-cache decoding": record["decode_max_abs_diff"]}
    if not reasons:
        bad = [name for name, d in diffs.items() if not math.isfinite(d)]
        if bad:
            reasons.append(f"the max |logit diff| is not finite ({', '.join(bad)})")
        above = [f"{name} {d:.2e}" for name, d in diffs.items() if math.isfinite(d) and d > tol]
        if above:
            reasons.append(f"max |logit diff| above the tolerance {tol:g}: {', '.join(above)}")
    return "; ".join(reasons) or None


def check_parity(
    path: str | Path,
    *,
    batch: int = 2,
    seq_len: int = 32,
    prefill: int | None = None,
    seed: int = 0,
    loaded: tuple | None = None,
) -> dict[str, Any]:
    """Run both models on the same random batch; return the JSON record `archbench import --check` prints."""
    data, file = read_hf_config(path)
    cfg, ours = loaded if loaded is not None else load_checkpoint(file.parent)
    seq_len = min(seq_len, cfg.context_length)
    prefill = max(1, min(prefill if prefill is not None else seq_len // 2, seq_len - 1))
    reference, version = reference_model(file.parent)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, cfg.vocab_size, (batch, seq_len), generator=gen)
    for key in ("image_token_index", "boi_token_index", "eoi_token_index"):
        if isinstance(data.get(key), int):  # multimodal placeholders would make the reference expect images
            idx[idx == data[key]] = 0
    out = {
        "model_type": data["model_type"],
        **compare(ours, reference, idx, prefill),
        "non_finite_weights": nonfinite_weights(ours),
        "batch": batch,
        "seq_len": seq_len,
        "prefill": prefill,
        "dtype": "float32",
        "seed": seed,
        "transformers_version": version,
        "variant": cfg.name,
    }
    return out
