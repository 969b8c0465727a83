"""Tokenizers behind one small interface: the embedded byte-level default and a local `tokenizer.json`.

Byte-level (proxies, `vocab_size` 256): token i is byte i of the UTF-8 encoding, so every text
round-trips and bits-per-byte needs no conversion. There is no room in 256 ids for special tokens,
so one byte is reserved by convention as end-of-text (EOS): byte 0 (NUL), which never occurs in
the default corpus (Python source) nor in the synthetic tasks. Training puts it between documents
(the model learns "a new document starts here"), and the lm-eval adapter uses it as the prefix
token for an empty context and for rolling log-likelihoods, as GPT-2 does with <|endoftext|>.
Encoding strips NUL bytes from input text so the convention cannot be broken by the data.

`tokenizer.json` (imported checkpoints): loaded with the `tokenizers` library from a local file,
never from the hub. Its EOS is found from `eos_token` in a neighbouring `tokenizer_config.json`,
else from a common special-token name, else it must be given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

EOS_BYTE = 0
_COMMON_EOS = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "<|im_end|>", "<|return|>")


class Tokenizer(Protocol):
    name: str
    vocab_size: int
    eos_id: int

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...


class ByteTokenizer:
    """UTF-8 bytes as tokens (ids 0..255); id 0 (NUL) is end-of-text."""

    name = "bytes"
    vocab_size = 256
    eos_id = EOS_BYTE

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8").replace(b"\x00", b""))

    def decode(self, ids: list[int]) -> str:
        # a generation cut mid-character decodes with U+FFFD rather than failing
        return bytes(int(i) for i in ids if i != EOS_BYTE).decode("utf-8", errors="replace")


class JsonTokenizer:
    """A local HF `tokenizer.json` through the `tokenizers` library (no hub access)."""

    def __init__(self, path: str | Path, eos_token: str | None = None):
        from tokenizers import Tokenizer as _Tok

        from suite.safeio import InputError, read_text

        path = Path(path)
        file = path / "tokenizer.json" if path.is_dir() else path
        text = read_text(file, "tokenizer file")
        try:
            self._tok = _Tok.from_str(text)
        except Exception as exc:  # noqa: BLE001 - the tokenizers library raises its own exception type
            reason = " ".join(str(exc).split())[:200]
            raise InputError(f"tokenizer file {file} is not a tokenizer.json ({reason}).", file=file) from None
        self.name = str(file)
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        eos_token = (
            eos_token
            or _eos_from_config(file.parent)
            or next((t for t in _COMMON_EOS if self._tok.token_to_id(t) is not None), None)
        )
        if eos_token is None or self._tok.token_to_id(eos_token) is None:
            raise InputError(
                f"{file}: cannot tell the end-of-text token; pass eos_token=... "
                f"(looked for eos_token in tokenizer_config.json and for {', '.join(_COMMON_EOS)})",
                file=file,
                field="eos_token",
            )
        self.eos_token = eos_token
        self.eos_id = self._tok.token_to_id(eos_token)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=True)


def _eos_from_config(folder: Path) -> str | None:
    cfg = folder / "tokenizer_config.json"
    if not cfg.is_file():
        return None
    from suite.safeio import load_json

    data = load_json(cfg, "tokenizer config")
    eos = data.get("eos_token") if isinstance(data, dict) else None
    if isinstance(eos, dict):  # AddedToken serialised as a dict
        eos = eos.get("content")
    return eos if isinstance(eos, str) else None


def load_tokenizer(
    spec: str | Path | None = None, *, folder: str | Path | None = None, eos_token: str | None = None
) -> Tokenizer:
    """`None` / "bytes": the byte tokenizer; a path: that tokenizer.json; else a tokenizer.json in `folder`."""
    if spec is None and folder is not None and (Path(folder) / "tokenizer.json").is_file():
        spec = Path(folder) / "tokenizer.json"
    if spec is None or str(spec) in ("bytes", "byte"):
        return ByteTokenizer()
    return JsonTokenizer(spec, eos_token=eos_token)
