"""The header of a safetensors file, checked before the `safetensors` library sees the file.

Layout: an 8-byte little-endian header length N, N bytes of JSON ({tensor name: {dtype, shape,
data_offsets}}, plus an optional `__metadata__` of strings), then the data section. The library
refuses a broken file too, but with a bare `SafetensorError` that names neither the file nor the
tensor, and a header length of 2**62 or a truncated file must not cost an allocation or a read of
the whole file. So every rule the library applies is checked here first, in its order, and every
failure is one `InputError` naming the file, the tensor and what was expected.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from suite.messages import shown
from suite.safeio import InputError, os_error, parse_json

WHAT = "safetensors file"
MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit
# bytes per element of every dtype the torch side of the library can return
DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E4M3FNUZ": 1,
    "F8_E5M2": 1,
    "F8_E5M2FNUZ": 1,
    "U16": 2,
    "I16": 2,
    "F16": 2,
    "BF16": 2,
    "U32": 4,
    "I32": 4,
    "F32": 4,
    "U64": 8,
    "I64": 8,
    "F64": 8,
    "C64": 8,
}


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    begin: int  # offsets into the data section (after the header)
    end: int


def _fail(path: Path, message: str) -> InputError:
    """The error for a broken file; the CLI prefixes 'In file PATH:' (the file is named once)."""
    return InputError(message, file=path)


def read_header(path: str | os.PathLike) -> dict[str, TensorInfo]:
    """Tensor name -> TensorInfo of one safetensors file, or an InputError saying what is broken."""
    path = Path(path)
    try:
        if path.is_dir():  # open() of a folder fails with a less telling errno on some systems
            raise IsADirectoryError(21, "is a directory", str(path))
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            prefix = fh.read(8)
            if size == 0:
                raise _fail(path, "the safetensors file is empty (0 bytes); the download or copy did not finish.")
            if len(prefix) < 8:
                raise _fail(
                    path,
                    f"the safetensors file is truncated: {len(prefix)} bytes, shorter than the 8-byte header length.",
                )
            n = int.from_bytes(prefix, "little")
            if n > size - 8:
                raise _fail(
                    path,
                    f"the file is truncated or not a safetensors file: its header length field says {n:,} bytes "
                    f"but only {size - 8:,} bytes follow it.",
                )
            if n > MAX_HEADER_BYTES:
                raise _fail(path, f"the safetensors header is {n:,} bytes, above the {MAX_HEADER_BYTES:,}-byte limit.")
            raw = fh.read(n)
    except OSError as exc:
        raise os_error(exc, path, "read", WHAT) from None
    if len(raw) < n:  # the file shrank while we read it
        raise _fail(
            path, f"the safetensors file is truncated: the header needs {n:,} bytes, only {len(raw):,} could be read."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(path, f"the header is not UTF-8 text (byte {exc.start}); is it a safetensors file?") from None
    header = parse_json(text, path, f"the header of {WHAT}")
    if not isinstance(header, dict):
        raise _fail(path, f"the safetensors header is a JSON {type(header).__name__}, not an object of tensors.")
    if not text.startswith("{"):
        raise _fail(
            path, "the safetensors header has whitespace before its '{'; the safetensors library refuses such a file."
        )
    return _tensors(path, header, data_bytes=size - 8 - n)


def _tensors(path: Path, header: dict, data_bytes: int) -> dict[str, TensorInfo]:
    metadata = header.get("__metadata__")
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise _fail(path, "the safetensors header's __metadata__ is not an object of strings.")
    out: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        if name != "__metadata__":
            out[name] = _entry(path, name, entry, data_bytes)
    _check_layout(path, out, data_bytes)
    return out


def _entry(path: Path, name: str, entry, data_bytes: int) -> TensorInfo:
    where = f"tensor {name!r}"
    if not isinstance(entry, dict):
        raise _fail(
            path, f"{where}: expected an object with dtype, shape and data_offsets, got {type(entry).__name__}."
        )
    missing = [k for k in ("dtype", "shape", "data_offsets") if k not in entry]
    if missing:
        raise _fail(path, f"{where}: {missing[0]} is missing (each tensor needs dtype, shape and data_offsets).")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
        raise _fail(path, f"{where}: dtype {dtype!r} is not one archbench reads (known: {', '.join(DTYPE_BYTES)}).")
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise _fail(path, f"{where}: shape must be a list of non-negative integers, got {shown(shape)}.")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
        raise _fail(path, f"{where}: data_offsets must be a list of two integers [begin, end], got {shown(offsets)}.")
    begin, end = offsets
    if not 0 <= begin <= end:
        raise _fail(path, f"{where}: data_offsets {offsets} must satisfy 0 <= begin <= end.")
    if end > data_bytes:
        raise _fail(
            path,
            f"{where}: data_offsets {offsets} reach past the end of the file (the data section has "
            f"{data_bytes:,} bytes); the file is truncated or its header is wrong.",
        )
    need = math.prod(shape) * DTYPE_BYTES[dtype]
    if need != end - begin:
        raise _fail(
            path,
            f"{where}: dtype {dtype} and shape {shape} need {need:,} bytes but data_offsets {offsets} "
            f"hold {end - begin:,}; the header does not describe the data.",
        )
    return TensorInfo(dtype, tuple(shape), begin, end)


def _check_layout(path: Path, tensors: dict[str, TensorInfo], data_bytes: int) -> None:
    """Tensors tile the data section: no overlap, no gap, nothing after the last one (the library's rule)."""
    ordered = sorted(tensors.items(), key=lambda kv: (kv[1].begin, kv[1].end))
    for (previous, a), (name, b) in zip(ordered, ordered[1:]):  # overlaps first: a gap is often their echo
        if b.begin < a.end:
            raise _fail(
                path,
                f"tensors {previous!r} and {name!r} overlap (bytes {b.begin:,}..{min(a.end, b.end):,} of the "
                "data section belong to both); the header is corrupt.",
            )
    at = 0
    for _, info in ordered:
        if info.begin > at:
            raise _fail(
                path, f"bytes {at:,}..{info.begin:,} of the data section belong to no tensor; the header is corrupt."
            )
        at = info.end
    if at != data_bytes:
        raise _fail(
            path,
            f"the safetensors file has {data_bytes - at:,} bytes after its last tensor; its header does not "
            "describe the whole file.",
        )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
