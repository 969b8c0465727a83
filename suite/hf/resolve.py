"""Any variant spec to a ModelConfig: a registry name or YAML path, an HF config.json / checkpoint folder, or
a Hugging Face model id resolved from the local hub cache (`suite.hf.hub`)."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Iterable

from suite.config import ConfigError, ModelConfig
from suite.registry import Registry, proxy, resolve_config


def is_hf_path(spec: str | Path) -> bool:
    """An existing folder or `.json` file: a Hugging Face checkpoint or config, not a registry variant.
    A `.json` that is a broken link or a link loop counts too, so its error is about the file."""
    path = Path(spec)
    try:
        return path.is_dir() or (path.suffix == ".json" and os.path.lexists(path))
    except OSError:  # a name too long to be a path (ENAMETOOLONG) is not a path: the registry names it
        return False


def hub_spec(spec: str | Path, registry_dirs: Iterable[str | Path] = ()) -> bool:
    """A Hugging Face model id (`Qwen/Qwen3-8B`): owner/name, neither a file nor a registered variant
    (`ladder/05-gqa` has the same shape: the registry comes first)."""
    from suite.hf.hub import is_hub_id

    if not isinstance(spec, str) or not is_hub_id(spec) or is_hf_path(spec) or os.path.lexists(spec):
        return False
    return spec not in Registry(registry_dirs).entries


def hf_source(spec: str | Path, registry_dirs: Iterable[str | Path] = ()) -> tuple[Path, str | None] | None:
    """(the config.json or checkpoint folder, a variant name) when `spec` names a Hugging Face config (a
    path, or a hub id found in the local cache or fetched), or None for a registry variant."""
    if is_hf_path(spec):
        return Path(spec), None
    if hub_spec(spec, registry_dirs):
        from suite.hf.hub import hub_config

        try:
            return hub_config(str(spec)), str(spec)
        except ConfigError as exc:  # a mistyped `ladder/...` name has the shape of a hub id too
            close = difflib.get_close_matches(str(spec), list(Registry(registry_dirs).entries), n=1)
            if not close:
                raise
            raise ConfigError(f"{exc.reason} Did you mean the registered variant '{close[0]}'?") from None
    return None


def resolve_any(spec: str | Path, registry_dirs: Iterable[str | Path] = (), scale: str | None = None) -> ModelConfig:
    """What commands accept as a variant: a name, a variant YAML, an HF config.json, a checkpoint folder or
    a Hugging Face model id (its cached config.json), optionally scaled to a proxy."""
    source = hf_source(spec, registry_dirs)
    if source is None:
        return resolve_config(str(spec), registry_dirs, scale)
    from suite.hf.model_types import config_from_hf  # deferred: its name table imports torch
    from suite.hf.safetensors_store import check_weights

    spec, name = source
    cfg = config_from_hf(spec, name=name)
    if Path(spec).is_dir():  # a checkpoint folder whose weights are broken is refused here, not at load time
        check_weights(spec)
    return proxy(cfg, scale) if scale and scale != "full" else cfg
