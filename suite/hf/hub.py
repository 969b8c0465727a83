"""Hugging Face model ids (`Qwen/Qwen3-8B`) to a local `config.json`: the local hub cache first, then,
when `huggingface_hub` is installed and the environment allows network, a download of that one file.

Only config.json is ever fetched, never weights: what a config-only command (show, budget, list)
needs. The cache layout is `huggingface_hub`'s: `<cache>/models--Qwen--Qwen3-8B/snapshots/<rev>/`
with `refs/main` naming the revision the default branch pointed at when it was cached.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from suite.config import ConfigError

# huggingface_hub's rule for a repo id: owner/name, each of letters, digits, '-', '_', '.'; no '--' or '..'
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,96}")
_TRUE = {"1", "true", "yes", "on"}


def is_hub_id(spec: str) -> bool:
    return bool(_HUB_ID.fullmatch(spec)) and "--" not in spec and ".." not in spec and not spec.endswith(".json")


def cache_dir() -> Path:
    """Where `huggingface_hub` keeps models: HF_HUB_CACHE, else HF_HOME/hub, else the XDG / home default."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = Path(os.environ["XDG_CACHE_HOME"]).expanduser() if os.environ.get("XDG_CACHE_HOME") else None
    return (base or Path.home() / ".cache") / "huggingface" / "hub"


def cached_config(repo_id: str, cache: Path | None = None) -> Path | None:
    """The cached config.json of `repo_id` at the revision refs/main names (or, without refs, the newest
    snapshot that has one), or None."""
    folder = (cache or cache_dir()) / ("models--" + repo_id.replace("/", "--"))
    ref = folder / "refs" / "main"
    try:
        if ref.is_file():
            revision = ref.read_text(encoding="utf-8").strip()
            file = folder / "snapshots" / revision / "config.json"
            if revision and "/" not in revision and file.is_file():
                return file
        snapshots = [s / "config.json" for s in (folder / "snapshots").iterdir() if (s / "config.json").is_file()]
    except OSError:  # no such folder, or one we cannot read: not cached
        return None
    return max(snapshots, key=lambda f: f.stat().st_mtime, default=None)


def offline() -> bool:
    return any(os.environ.get(key, "").strip().lower() in _TRUE for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def hub_config(repo_id: str) -> Path:
    """A local config.json for a hub model id: cached, or downloaded alone when allowed; else a ConfigError
    that says how to get it."""
    cache = cache_dir()
    found = cached_config(repo_id, cache)
    if found is not None:
        return found
    how = (
        f"fetch it once where the network is reachable (`hf download {repo_id} config.json`, which caches "
        "only the config), or pass the path of a config.json or checkpoint folder"
    )
    if offline():
        raise ConfigError(
            f"'{repo_id}' is not a registered variant, and as a Hugging Face model id it is not in the local "
            f"cache ({cache}); downloads are off (HF_HUB_OFFLINE). To analyse it, {how}."
        )
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise ConfigError(
            f"'{repo_id}' is not a registered variant, and as a Hugging Face model id it is not in the local "
            f"cache ({cache}); downloading it needs huggingface_hub (pip install huggingface_hub). Or {how}."
        ) from None
    try:
        return Path(hf_hub_download(repo_id, "config.json", cache_dir=cache))
    except Exception as exc:  # network, authentication, no such repo: all end the same way for the user
        text = " ".join(str(exc).split())[:300]
        raise ConfigError(
            f"'{repo_id}' is not a registered variant, and its config.json could not be fetched from the "
            f"Hugging Face Hub ({type(exc).__name__}: {text}). To analyse it, {how}."
        ) from None
