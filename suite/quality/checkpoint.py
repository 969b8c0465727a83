"""Checkpoint folders of `archbench train`: `model.safetensors`, `config.yaml` (the ModelConfig) and
`train.json` (settings, losses, corpus hash, timings).

Every file is written atomically (temp file + rename), so an interrupted or failed save keeps the
earlier checkpoint; every file is read through `suite.safeio`, so a damaged folder is one error
naming the file, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from suite.config import IDENTITY_FIELDS, ModelConfig
from suite.safeio import InputError, atomic_write_bytes, atomic_write_text, dumps, expect_type, load_json, load_yaml


def save_trained(model: torch.nn.Module, folder: str | Path, meta: dict[str, Any]) -> Path:
    import yaml
    from safetensors.torch import save

    folder = Path(folder)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    version = str(meta.get("training_version", ""))
    data = save(state, metadata={"format": "pt", "archbench": version})
    atomic_write_bytes(folder / "model.safetensors", data, "checkpoint weights")
    atomic_write_text(folder / "config.yaml", yaml.safe_dump(model.cfg.to_dict(), sort_keys=False), "checkpoint config")
    atomic_write_text(folder / "train.json", dumps(meta, indent=2, sort_keys=True) + "\n", "training record")
    return folder


def is_trained(folder: Path) -> bool:
    return folder.is_dir() and (folder / "model.safetensors").is_file() and (folder / "config.yaml").is_file()


def load_trained(folder: str | Path):
    """(model, meta) from a folder written by `save_trained`; meta["train"] is train.json."""
    from safetensors.torch import load

    from suite.model import build_model
    from suite.safeio import read_bytes

    folder = Path(folder)
    if not is_trained(folder):
        raise InputError(
            f"{folder} is not an archbench checkpoint folder: it needs model.safetensors and config.yaml "
            "(written by `archbench train`).",
            file=folder,
        )
    config_file = folder / "config.yaml"
    fields = expect_type(load_yaml(config_file, "checkpoint config"), dict, file=config_file, field="(top level)")
    cfg = ModelConfig.from_dict(fields, file=str(config_file))
    model = build_model(cfg, seed=None)
    weights = folder / "model.safetensors"
    try:
        state = load(read_bytes(weights, "checkpoint weights", limit=None))
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - safetensors reports a damaged header with several error types
        raise InputError(
            f"checkpoint weights {weights} are not a readable safetensors file ({type(exc).__name__}: {exc}).",
            file=weights,
        ) from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # missing / unexpected / mis-shaped tensors
        first = " ".join(str(exc).split())[:300]
        raise InputError(
            f"checkpoint weights {weights} do not match {config_file}: {first}", file=weights, field="state_dict"
        ) from None
    model.eval()
    train_file = folder / "train.json"
    meta = load_json(train_file, "training record") if train_file.is_file() else {}
    meta = expect_type(meta, dict, file=train_file, field="(top level)")
    return model, {"source": str(folder), "train": meta}


def same_architecture(a: ModelConfig, b: ModelConfig) -> bool:
    """Equal up to identity fields and dropout (training sets dropout to 0)."""
    skip = set(IDENTITY_FIELDS) | {"dropout"}
    return {k: v for k, v in a.to_dict().items() if k not in skip} == {
        k: v for k, v in b.to_dict().items() if k not in skip
    }
