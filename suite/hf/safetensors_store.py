"""Reading checkpoint tensors from safetensors shards (pickle weights are refused)."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

import torch

from suite.config import ConfigError
from suite.hf.model_types import HFType
from suite.hf.quant import dequantize_fp8, dequantize_mxfp4
from suite.hf.safetensors_header import TensorInfo, read_header
from suite.safeio import expect_type, load_json, os_error

INDEX = "model.safetensors.index.json"


class CheckpointError(ConfigError):
    """A checkpoint that does not match its config (missing, unexpected or mis-shaped tensors)."""


class TensorStore:
    """Checkpoint tensors by name across safetensors shards, read lazily; quantised tensors are
    dequantised on read. Remembers which stored tensors were read."""

    def __init__(self, folder: Path, files: list[Path], spec: HFType, fp8_block: tuple[int, int] = (128, 128)):
        headers = read_headers(folder, files)  # before the library sees a byte of them
        self.handles = {f: _open(f) for f in files}
        self.where: dict[str, tuple[Path, str]] = {}  # canonical name -> (file, name in the file)
        for f, tensors in headers.items():
            for key in tensors:
                canonical = self._canonical(key, spec)
                if canonical in self.where:
                    other_file, other = self.where[canonical]
                    raise CheckpointError(
                        f"tensors {other!r} ({other_file.name}) and {key!r} ({f.name}) are the same tensor "
                        f"({canonical!r}) stored twice; a checkpoint must store each tensor once.",
                        file=str(folder),
                    )
                self.where[canonical] = (f, key)
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
        try:
            return self.handles[file].get_tensor(stored)
        except Exception as exc:  # noqa: BLE001 - the library's own errors carry neither file nor tensor
            raise _library_error(file, exc, f"tensor {stored!r}") from None

    def _dequantize(self, how, key: str, what: str, *tensors) -> torch.Tensor:
        try:
            return how(*tensors)
        except (RuntimeError, ValueError, IndexError) as exc:  # shapes that cannot go together
            shapes = " and ".join(str(tuple(t.shape)) for t in tensors if isinstance(t, torch.Tensor))
            raise CheckpointError(
                f"the {what} of {key!r} do not fit together (shapes {shapes}): {' '.join(str(exc).split())[:200]}.",
                file=str(self.where.get(key, self.where.get(key + "_blocks"))[0]),
            ) from None

    def get(self, key: str) -> torch.Tensor:
        if self._last is not None and self._last[0] == key:
            return self._last[1]  # gate and up read the same fused tensor
        if key not in self.where:
            blocks, scales = self._read(key + "_blocks"), self._read(key + "_scales")
            tensor = self._dequantize(dequantize_mxfp4, key, "MXFP4 blocks and scales", blocks, scales)
        else:
            tensor = self._read(key)
            scale_key = key + "_scale_inv"
            if key.endswith(".weight") and scale_key in self.where:
                scale = self._read(scale_key)
                tensor = self._dequantize(
                    dequantize_fp8, key, "FP8 weight and scale_inv", tensor, scale, self.fp8_block
                )
        self._last = (key, tensor)
        return tensor


def _library_error(file: Path, exc: Exception, what: str = "it") -> CheckpointError:
    text = " ".join(str(exc).split())[:300] or type(exc).__name__
    return CheckpointError(f"the safetensors library cannot read {what}: {text}.", file=str(file))


def _open(file: Path):
    from safetensors import safe_open

    try:
        return safe_open(str(file), framework="pt")
    except OSError as exc:
        raise os_error(exc, file, "read", "safetensors file") from None
    except Exception as exc:  # noqa: BLE001 - SafetensorError and friends: name the file
        raise _library_error(file, exc) from None


def _shard_name(index: Path, tensor: str, name: str) -> str:
    """A shard named by the index: a plain file name inside the checkpoint folder, never a path out of it.
    The check is on the name, not on where it resolves: the Hugging Face cache links shards to ../../blobs."""
    if not name or "\x00" in name:
        raise CheckpointError(f"weight_map[{tensor!r}] is an empty shard name.", file=str(index), field="weight_map")
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or PureWindowsPath(name).is_absolute() or ".." in pure.parts:
        raise CheckpointError(
            f"weight_map[{tensor!r}] names shard {name!r}, which is outside the checkpoint folder; a shard must be "
            "a file name inside the folder.",
            file=str(index),
            field="weight_map",
        )
    return name


def _index_shards(folder: Path, index: Path) -> list[Path]:
    data = load_json(index, "shard index")
    if not isinstance(data, dict):
        raise CheckpointError(f"expected a JSON object, got {type(data).__name__}.", file=str(index))
    if "weight_map" not in data:
        raise CheckpointError(
            "is missing; the index must map each tensor name to its shard file.", file=str(index), field="weight_map"
        )
    weight_map = expect_type(data["weight_map"], dict, file=index, field="weight_map")
    if not weight_map:
        raise CheckpointError(
            "is empty; the index must map each tensor name to its shard file.", file=str(index), field="weight_map"
        )
    for tensor, shard in weight_map.items():
        expect_type(shard, str, file=index, field=f"weight_map[{tensor!r}]", what="a shard file name:")
    names = sorted({_shard_name(index, t, s) for t, s in weight_map.items()})
    missing = [n for n in names if not os.path.lexists(folder / n)]
    if missing:
        raise CheckpointError(
            f"the index lists shard {missing[0]!r} but it is not in the folder ({len(missing)} missing).",
            file=str(index),
            field="weight_map",
        )
    return [folder / n for n in names]


def weight_files(folder: Path, *, refuse_pickles: bool = True) -> list[Path]:
    """The safetensors files of a checkpoint (the index's shards, or every *.safetensors); [] if none.
    Pickle weights are refused: loading them can run arbitrary code."""
    folder = Path(folder)
    index = folder / INDEX
    if os.path.lexists(index):
        return _index_shards(folder, index)
    files = sorted(folder.glob("*.safetensors"))
    if not files and refuse_pickles:
        pickles = sorted(p.name for pattern in ("*.bin", "*.pt", "*.pth", "*.ckpt") for p in folder.glob(pattern))
        if pickles:
            raise CheckpointError(
                f"only pickle weights found ({', '.join(pickles[:3])}); archbench reads safetensors only, because "
                "unpickling can run arbitrary code. Convert them once in a trusted environment, e.g. "
                "`AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(OUT)` (writes model.safetensors).",
                file=str(folder),
            )
    return files


def read_headers(folder: Path, files: list[Path]) -> dict[Path, dict[str, TensorInfo]]:
    """Every shard's checked header; a tensor stored twice, or an index that points a tensor at a shard
    that lacks it, is an error (either way the model would depend on which file is read first)."""
    headers = {f: read_header(f) for f in files}
    first: dict[str, Path] = {}
    for f, tensors in headers.items():
        for name in tensors:
            if name in first:
                raise CheckpointError(
                    f"tensor {name!r} is stored in two files, {first[name].name} and {f.name}; "
                    "a checkpoint must store each tensor once.",
                    file=str(folder),
                )
            first[name] = f
    index = Path(folder) / INDEX
    if os.path.lexists(index):
        weight_map = load_json(index, "shard index")["weight_map"]
        for tensor, shard in weight_map.items():
            if first.get(tensor) != Path(folder) / shard:
                held = f"it is in {first[tensor].name}" if tensor in first else "no shard holds it"
                raise CheckpointError(
                    f"weight_map maps tensor {tensor!r} to {shard!r}, but {held}.", file=str(index), field="weight_map"
                )
    return headers


def check_weights(folder: str | Path) -> list[Path]:
    """The checkpoint's safetensors files with every header checked (reads headers only, not tensors);
    a folder of pickle files only is not an error here, only for loading."""
    folder = Path(folder)
    files = weight_files(folder, refuse_pickles=False)
    read_headers(folder, files)
    return files
