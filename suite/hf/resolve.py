"""Any variant spec to a ModelConfig: a registry name or YAML path, or an HF config.json / checkpoint folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from suite.config import ModelConfig
from suite.registry import proxy, resolve_config


def is_hf_path(spec: str | Path) -> bool:
    """An existing folder or `.json` file: a Hugging Face checkpoint or config, not a registry variant.
    A `.json` that is a broken link or a link loop counts too, so its error is about the file."""
    path = Path(spec)
    try:
        return path.is_dir() or (path.suffix == ".json" and os.path.lexists(path))
    except OSError:  # a name too long to be a path (ENAMETOOLONG) is not a path: the registry names it
        return False


def resolve_any(spec: str | Path, registry_dirs: Iterable[str | Path] = (), scale: str | None = None) -> ModelConfig:
    """What commands accept as a variant: a name, a variant YAML, an HF config.json or a checkpoint folder,
    optionally scaled to a proxy."""
    if not is_hf_path(spec):
        return resolve_config(str(spec), registry_dirs, scale)
    from suite.hf.model_types import config_from_hf  # deferred: its name table imports torch
    from suite.hf.safetensors_store import check_weights

    cfg = config_from_hf(spec)
    if Path(spec).is_dir():  # a checkpoint folder whose weights are broken is refused here, not at load time
        check_weights(spec)
    return proxy(cfg, scale) if scale and scale != "full" else cfg
