"""Loading a checkpoint: its config plus every safetensors tensor into our decoder, strictly checked."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from suite.config import ModelConfig
from suite.hf.model_types import ALWAYS_IGNORED, MODEL_TYPES, config_from_hf, fp8_block, read_hf_config
from suite.hf.safetensors_store import CheckpointError, TensorStore, weight_files


def _examples(items: list[str], n: int = 4) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" (and {len(items) - n} more)" if len(items) > n else "")


def _empty_model(cfg: ModelConfig, device: str | torch.device, dtype: torch.dtype):
    """Our decoder with uninitialised storage (every persistent tensor is then read from the checkpoint)."""
    from suite.model import build_model
    from suite.model.position import Rotary

    model = build_model(cfg, device="meta").to_empty(device=device)
    # to_empty leaves non-persistent buffers (the RoPE tables) uninitialised: rebuild them
    if cfg.position == "rope":
        for kind in list(model.rotary):
            model.rotary[kind] = Rotary(cfg, kind).to(device)
    persistent = set(model.state_dict())
    stray = [n for n, _ in model.named_buffers() if n not in persistent and not n.startswith("rotary.")]
    if stray:  # a new kind of derived buffer in the decoder: it would stay uninitialised here
        raise RuntimeError(f"suite.hf.load._empty_model does not know how to rebuild buffer {stray[0]}")
    return model.to(dtype)


def load_checkpoint(
    path: str | Path, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu", name: str | None = None
):
    """(cfg, model): the config mapped from config.json and our decoder holding the checkpoint's weights."""
    data, file = read_hf_config(path)
    folder = file.parent
    cfg = config_from_hf(file, name=name)
    spec = MODEL_TYPES[data["model_type"]]
    files = weight_files(folder)
    if not files:
        raise CheckpointError(
            "no *.safetensors weights in the folder (only a config: use it as a variant, e.g. `archbench show DIR`).",
            file=str(folder),
        )
    block = fp8_block(data, file)
    store = TensorStore(folder, files, spec, fp8_block=block)
    model = _empty_model(cfg, device, dtype)
    rules = [(re.compile(pattern), build) for pattern, build in spec.rules()]
    missing, shapes, nonfinite = [], [], []
    with torch.no_grad():
        for our_name, target in model.state_dict(keep_vars=True).items():
            sources = next((build(m, cfg) for regex, build in rules if (m := regex.fullmatch(our_name))), None)
            if sources is None:
                raise RuntimeError(f"suite.hf.names: no name rule for our tensor {our_name} ({data['model_type']})")
            source = next((s for s in sources if all(store.has(k) for k in s.keys)), None)
            if source is None:
                missing.append(
                    sources[0].keys[0]
                    if len(sources[0].keys) == 1
                    else f"{sources[0].keys[0]} .. {sources[0].keys[-1]}"
                )
                continue
            tensor = source.build(*(store.get(k) for k in source.keys))
            if tuple(tensor.shape) != tuple(target.shape):
                shapes.append(
                    f"{source.keys[0]}: checkpoint gives {tuple(tensor.shape)}, the config needs "
                    f"{tuple(target.shape)} (as {our_name})"
                )
                continue
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                nonfinite.append(source.keys[0])
            target.copy_(tensor.to(target.dtype))
    if missing:
        raise CheckpointError(
            f"{len(missing)} tensors the config needs are missing from the checkpoint: {_examples(missing)}.",
            file=str(folder),
        )
    if shapes:
        raise CheckpointError(
            f"{len(shapes)} tensors do not match the config's shapes: {_examples(shapes, 3)}.", file=str(folder)
        )
    _check_tied_head(cfg, store, model, folder)
    ignore = [re.compile(p) for p in (*spec.ignore, *ALWAYS_IGNORED)]
    extra_layers = re.compile(rf"{re.escape(spec.prefix)}layers\.(\d+)\.")
    unexpected = []
    for key in sorted(store.keys() - store.used):
        if any(p.fullmatch(key) for p in ignore) or key.removesuffix("_scale_inv") in store.used:
            continue
        m = extra_layers.match(key)
        if m and int(m.group(1)) >= cfg.n_layers and data.get("num_nextn_predict_layers"):
            continue  # DeepSeek's multi-token-prediction layers follow the main model's layers
        unexpected.append(key)
    if unexpected:
        raise CheckpointError(
            f"{len(unexpected)} checkpoint tensors have no place in the mapped model (a config "
            f"that does not describe these weights?): {_examples(unexpected)}.",
            file=str(folder),
        )
    model.eval()
    # not an error here (a model with a dead NaN row can still be inspected); `import --check` fails on it
    model.nonfinite_weights = tuple(nonfinite)
    return cfg, model


def _check_tied_head(cfg: ModelConfig, store: TensorStore, model, folder: Path) -> None:
    """A stored lm_head with tied embeddings is fine only if it is the embedding."""
    if cfg.tie_embeddings and store.has("lm_head.weight"):
        head = store.get("lm_head.weight")
        if head.shape != model.tok_emb.weight.shape or not torch.equal(
            head.to(model.tok_emb.weight.dtype), model.tok_emb.weight
        ):
            raise CheckpointError(
                "tie_word_embeddings is true but the checkpoint's lm_head.weight differs from the "
                "input embedding; the model would silently lose its head.",
                file=str(folder),
                field="tie_word_embeddings",
            )
