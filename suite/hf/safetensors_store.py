"""Reading checkpoint tensors from safetensors shards (pickle weights are refused)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from suite.config import ConfigError
from suite.hf.model_types import HFType
from suite.hf.quant import dequantize_fp8, dequantize_mxfp4


class CheckpointError(ConfigError):
    """A checkpoint that does not match its config (missing, unexpected or mis-shaped tensors)."""


class TensorStore:
    """Checkpoint tensors by name across safetensors shards, read lazily; quantised tensors are
    dequantised on read. Remembers which stored tensors were read."""

    def __init__(self, folder: Path, files: list[Path], spec: HFType, fp8_block: tuple[int, int] = (128, 128)):
        from safetensors import safe_open

        self.handles = {f: safe_open(str(f), framework="pt") for f in files}
        self.where: dict[str, tuple[Path, str]] = {}  # canonical name -> (file, name in the file)
        for f, handle in self.handles.items():
            for key in handle.keys():
                self.where[self._canonical(key, spec)] = (f, key)
        self.used: set[str] = set()
        self.fp8_block = fp8_block
        self._last: tuple[str, torch.Tensor] | None = None

    @staticmethod
    def _canonical(key: str, spec: HFType) -> str:
        """Base-model checkpoints (no `model.` / `transformer.` prefix) read like *ForCausalLM ones;
        a multimodal checkpoint's text decoder reads like a text-only one."""
        for stored, canonical in spec.key_aliases:
            if key.startswith(stored):
                return canonical + key[len(stored) :]
        if key.startswith(spec.prefix) or key.startswith("lm_head.") or any(re.fullmatch(p, key) for p in spec.ignore):
            return key
        return spec.prefix + key

    def keys(self) -> set[str]:
        return set(self.where)

    def has(self, key: str) -> bool:
        return key in self.where or (key + "_blocks" in self.where and key + "_scales" in self.where)

    def _read(self, key: str) -> torch.Tensor:
        self.used.add(key)
        file, stored = self.where[key]
        return self.handles[file].get_tensor(stored)

    def get(self, key: str) -> torch.Tensor:
        if self._last is not None and self._last[0] == key:
            return self._last[1]  # gate and up read the same fused tensor
        if key not in self.where:
            tensor = dequantize_mxfp4(self._read(key + "_blocks"), self._read(key + "_scales"))
        else:
            tensor = self._read(key)
            scale_key = key + "_scale_inv"
            if key.endswith(".weight") and scale_key in self.where:
                tensor = dequantize_fp8(tensor, self._read(scale_key), self.fp8_block)
        self._last = (key, tensor)
        return tensor


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint (the index's shards, or every *.safetensors); [] if none.
    Pickle weights are refused: loading them can run arbitrary code."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError) as exc:
            raise CheckpointError(f"unreadable shard index ({exc}).", file=str(index)) from None
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise CheckpointError(
                f"the index lists shard {missing[0]} but it is not in the folder ({len(missing)} missing).",
                file=str(index),
            )
        return [folder / n for n in names]
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        pickles = sorted(p.name for pattern in ("*.bin", "*.pt", "*.pth", "*.ckpt") for p in folder.glob(pattern))
        if pickles:
            raise CheckpointError(
                f"only pickle weights found ({', '.join(pickles[:3])}); archbench reads safetensors only, because "
                "unpickling can run arbitrary code. Convert them once in a trusted environment, e.g. "
                "`AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(OUT)` (writes model.safetensors).",
                file=str(folder),
            )
    return files
