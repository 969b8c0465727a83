"""Hostile Hugging Face checkpoints: corrupted safetensors files, shard indexes and config.json values.

Each corruption is applied to a copy of one tiny llama checkpoint (made once per module) and run
through both `archbench show DIR` (which checks the weight headers) and `archbench import DIR`
(which loads the weights): each must exit 2 with one paragraph naming the file and what is wrong.
The `import --check` gate fails (exit 1) on NaN/inf, and its --json output stays strict JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import pytest
from hostile import assert_accepted, assert_exit, assert_rejected, cli

pytest.importorskip("transformers")

from hf_tiny import make_checkpoint  # noqa: E402

HF_CONFIGS = Path(__file__).resolve().parents[1] / "data" / "hf_configs"
COMMANDS = ("show", "import")
ST = "model.safetensors"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A tiny llama checkpoint (one model.safetensors) and a two-shard copy of it with an index."""
    from safetensors.torch import load_file, save_file

    root = tmp_path_factory.mktemp("tiny")
    single = make_checkpoint("llama", root / "single")
    tensors = load_file(single / ST)
    names = sorted(tensors)
    sharded = root / "sharded"
    sharded.mkdir()
    shutil.copy(single / "config.json", sharded / "config.json")
    weight_map = {}
    for i, part in enumerate((names[: len(names) // 2], names[len(names) // 2 :]), start=1):
        shard = f"model-0000{i}-of-00002.safetensors"
        save_file({n: tensors[n] for n in part}, sharded / shard, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, shard))
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    return root


def _copy(tiny: Path, tmp_path: Path, which: str = "single") -> Path:
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny / which, folder, symlinks=True)
    return folder


# ------------------------------------------------------------------ raw safetensors surgery
def _split(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def _write(path: Path, header: dict | str | bytes, data: bytes, n: int | None = None) -> None:
    if isinstance(header, dict):
        header = json.dumps(header)
    if isinstance(header, str):
        header = header.encode()
    path.write_bytes(struct.pack("<Q", len(header) if n is None else n) + header + data)


def _edit(edit):
    """A corruption that edits the parsed header of model.safetensors (the data stays as it was)."""

    def apply(folder: Path) -> None:
        header, data = _split(folder / ST)
        edit(header)
        _write(folder / ST, header, data)

    return apply


def _tensor(header: dict, i: int = 0) -> dict:
    return header[sorted(k for k in header if k != "__metadata__")[i]]


def _entry(field, value, i: int = 0):
    return _edit(lambda h: _tensor(h, i).__setitem__(field, value))


def _raw(make):
    """A corruption that replaces model.safetensors by make(original bytes)."""

    def apply(folder: Path) -> None:
        (folder / ST).write_bytes(make((folder / ST).read_bytes()))

    return apply


def _header_bytes(text: bytes):
    return lambda folder: _write(folder / ST, text, _split(folder / ST)[1])


def _overlap(header: dict) -> None:
    a, b = (_tensor(header, i) for i in range(2))
    a["data_offsets"] = [b["data_offsets"][0], b["data_offsets"][0] + 4]
    a["shape"], a["dtype"] = [1], "F32"


def _replace(make_path):
    def apply(folder: Path) -> None:
        (folder / ST).unlink()
        make_path(folder / ST)

    return apply


def _evil_name(header: dict) -> None:
    header["\x1b[31mevil\x1b[0m"] = dict(_tensor(header), dtype="F16")


def _nan_shape(folder: Path) -> None:
    header, data = _split(folder / ST)
    text = json.dumps(header).replace('"shape": [', '"shape": [NaN, ', 1)
    _write(folder / ST, text, data)


# name -> (corruption, needles the error must contain besides the file name)
WEIGHT_FAULTS = {
    "empty": (_raw(lambda b: b""), ["is empty (0 bytes)"]),
    "truncated-4-bytes": (_raw(lambda b: b[:4]), ["is truncated: 4 bytes"]),
    "truncated-in-header": (_raw(lambda b: b[:40]), ["header length field says"]),
    "truncated-in-data": (_raw(lambda b: b[: len(b) // 2]), ["reach past the end of the file"]),
    "header-length-2**62": (_raw(lambda b: struct.pack("<Q", 2**62) + b[8:]), ["4,611,686,018,427,387,904 bytes"]),
    "header-length-zero": (_raw(lambda b: struct.pack("<Q", 0) + b[8:]), ["is not valid JSON"]),
    "header-binary-garbage": (_header_bytes(b"\xff\xfe\x00garbage\x80"), ["not UTF-8 text"]),
    "header-not-json": (_header_bytes(b"{not json at all}"), ["is not valid JSON", "line 1, column 2"]),
    "header-a-list": (_header_bytes(b"[1, 2, 3]"), ["JSON list, not an object"]),
    "header-a-string": (_header_bytes(b'"weights"'), ["JSON str, not an object"]),
    "header-leading-space": (_header_bytes(b"  {}"), ["whitespace before"]),
    "header-nan": (_nan_shape, ["NaN is not valid JSON"]),
    "not-safetensors-zip": (_raw(lambda b: b"PK\x03\x04" + b"\x00" * 60), ["header length field says"]),
    "not-safetensors-text": (_raw(lambda b: b"version https://git-lfs.github.com/spec/v1\n"), ["is truncated or not"]),
    "entry-not-object": (_edit(lambda h: h.__setitem__("model.norm.weight", 5)), ["'model.norm.weight'", "got int"]),
    "dtype-missing": (_edit(lambda h: _tensor(h).pop("dtype")), ["dtype is missing"]),
    "shape-missing": (_edit(lambda h: _tensor(h).pop("shape")), ["shape is missing"]),
    "offsets-missing": (_edit(lambda h: _tensor(h).pop("data_offsets")), ["data_offsets is missing"]),
    "dtype-unknown": (_entry("dtype", "F128"), ["dtype 'F128' is not one archbench reads"]),
    "dtype-a-number": (_entry("dtype", 4), ["dtype 4 is not one archbench reads"]),
    "dtype-lie-f16": (_entry("dtype", "F16"), ["dtype F16 and shape", "the header does not describe the data"]),
    "dtype-lie-f64": (_entry("dtype", "F64"), ["dtype F64 and shape"]),
    "dtype-lie-i8": (_entry("dtype", "I8"), ["dtype I8 and shape"]),
    "shape-lie": (_entry("shape", [97, 33]), ["shape [97, 33] need"]),
    "shape-negative": (_entry("shape", [-1, 32]), ["shape must be a list of non-negative integers", "[-1, 32]"]),
    "shape-a-string": (_entry("shape", "97x32"), ["shape must be a list of non-negative integers"]),
    "shape-floats": (_entry("shape", [97.0, 32.0]), ["shape must be a list of non-negative integers"]),
    "shape-bools": (_entry("shape", [True, True]), ["shape must be a list of non-negative integers"]),
    "offsets-negative": (_entry("data_offsets", [-4, 0]), ["must satisfy 0 <= begin <= end"]),
    "offsets-reversed": (_entry("data_offsets", [128, 0]), ["must satisfy 0 <= begin <= end"]),
    "offsets-three": (_entry("data_offsets", [0, 4, 8]), ["data_offsets must be a list of two integers"]),
    "offsets-a-string": (_entry("data_offsets", "0-4"), ["data_offsets must be a list of two integers"]),
    "offsets-past-end": (_entry("data_offsets", [0, 2**40]), ["reach past the end of the file"]),
    "offsets-overlap": (_edit(_overlap), ["overlap", "belong to both"]),
    "trailing-bytes": (_raw(lambda b: b + b"\x00" * 16), ["has 16 bytes after its last tensor"]),
    "metadata-not-strings": (_edit(lambda h: h.__setitem__("__metadata__", {"format": 1})), ["__metadata__"]),
    "metadata-a-list": (_edit(lambda h: h.__setitem__("__metadata__", ["pt"])), ["__metadata__"]),
    "escape-sequence-name": (_edit(_evil_name), ["'\\x1b[31mevil\\x1b[0m'"]),
    "a-directory": (_replace(lambda p: p.mkdir()), ["it is a directory"]),
    "symlink-loop": (_replace(lambda p: os.symlink(p, p)), ["symbolic link loop"]),
    "dangling-symlink": (_replace(lambda p: os.symlink(p.parent / "gone.bin", p)), ["it does not exist"]),
}


@pytest.mark.hostile
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fault", sorted(WEIGHT_FAULTS))
def test_corrupted_safetensors_is_refused(tiny, tmp_path, command, fault):
    folder = _copy(tiny, tmp_path)
    corrupt, needles = WEIGHT_FAULTS[fault]
    corrupt(folder)
    o = cli(command, folder)
    assert_rejected(o, str(folder / ST), *needles)
    assert "\x1b" not in o.err  # a tensor name is shown escaped, never sent to the terminal raw


@pytest.mark.hostile
@pytest.mark.parametrize("command", COMMANDS)
def test_unreadable_safetensors(tiny, tmp_path, monkeypatch, command):
    folder = _copy(tiny, tmp_path)
    real_open = open

    def deny(path, *args, **kwargs):  # chmod 000 does not stop root, so the OS answer is simulated
        if str(path).endswith(ST):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    assert_rejected(cli(command, folder), f"cannot read safetensors file {folder / ST}: permission denied")


@pytest.mark.hostile
def test_the_librarys_own_errors_name_the_file(tiny, tmp_path, monkeypatch):
    import safetensors

    folder = _copy(tiny, tmp_path)

    def broken(*args, **kwargs):
        raise safetensors.SafetensorError("Error while deserializing header: MetadataIncompleteBuffer")

    monkeypatch.setattr(safetensors, "safe_open", broken)
    assert_rejected(
        cli("import", folder),
        f"In file {folder / ST}: the safetensors library cannot read it: Error while deserializing header",
    )


@pytest.mark.hostile
def test_the_same_tensor_under_two_names_is_refused(tiny, tmp_path):
    # `norm.weight` (a base-model name) and `model.norm.weight` are one tensor to the loader
    folder = _copy(tiny, tmp_path)
    _edit(lambda h: h.__setitem__("norm.weight", h.pop("model.norm.weight")))(folder)
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / ST)
    tensors["model.norm.weight"] = tensors["norm.weight"].clone()
    save_file(tensors, folder / ST)
    assert_rejected(cli("import", folder), "'model.norm.weight' (model.safetensors) and 'norm.weight'", "stored twice")


def _quantised(edit):
    def apply(folder: Path) -> None:
        import torch
        from safetensors.torch import load_file, save_file

        tensors = load_file(folder / ST)
        edit(tensors, torch)
        save_file(tensors, folder / ST, metadata={"format": "pt"})

    return apply


DOWN = "model.layers.0.mlp.down_proj.weight"
QUANT_FAULTS = {
    "fp8-scale-1d": (
        _quantised(lambda t, torch: t.__setitem__(DOWN + "_scale_inv", torch.ones(5))),
        "the FP8 weight and scale_inv of 'model.layers.0.mlp.down_proj.weight' do not fit together",
    ),
    "fp8-weight-3d": (
        _quantised(lambda t, torch: t.update({DOWN: t[DOWN][None], DOWN + "_scale_inv": torch.ones(1, 1)})),
        "(shapes (1, 32, 48) and (1, 1))",
    ),
    "mxfp4-scales-mismatch": (
        _quantised(
            lambda t, torch: t.update(
                {
                    DOWN + "_blocks": t.pop(DOWN)[:, :16].to(torch.uint8),
                    DOWN + "_scales": torch.zeros(3, 3, dtype=torch.uint8),
                }
            )
        ),
        "the MXFP4 blocks and scales of 'model.layers.0.mlp.down_proj.weight' do not fit together",
    ),
}


@pytest.mark.hostile
@pytest.mark.parametrize("fault", sorted(QUANT_FAULTS))
def test_quantised_tensors_that_do_not_fit(tiny, tmp_path, fault):
    folder = _copy(tiny, tmp_path)
    corrupt, needle = QUANT_FAULTS[fault]
    corrupt(folder)
    assert_rejected(cli("import", folder), str(folder / ST), needle)


# ------------------------------------------------------------------ shard indexes
def _index(edit):
    def apply(folder: Path) -> None:
        path = folder / "model.safetensors.index.json"
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))

    return apply


def _first_shard(data: dict, shard: str) -> None:
    first = sorted(data["weight_map"])[0]
    data["weight_map"][first] = shard


def _index_text(text: str):
    return lambda folder: (folder / "model.safetensors.index.json").write_text(text)


def _duplicate_tensor(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    one, two = (folder / f"model-0000{i}-of-00002.safetensors" for i in (1, 2))
    extra = load_file(one)
    name = sorted(extra)[0]
    tensors = load_file(two)
    tensors[name] = extra[name]
    save_file(tensors, two)


def _index_dir(folder: Path) -> None:
    (folder / "model.safetensors.index.json").unlink()
    (folder / "model.safetensors.index.json").mkdir()


INDEX = "model.safetensors.index.json"
INDEX_FAULTS = {
    "weight-map-a-list": (_index(lambda d: d.__setitem__("weight_map", [])), [INDEX, "'weight_map'", "got list"]),
    "weight-map-a-string": (_index(lambda d: d.__setitem__("weight_map", "x")), [INDEX, "expected an object"]),
    "weight-map-empty": (_index(lambda d: d.__setitem__("weight_map", {})), [INDEX, "'weight_map': is empty"]),
    "weight-map-missing": (_index(lambda d: d.pop("weight_map")), [INDEX, "'weight_map': is missing"]),
    "weight-map-value-int": (_index(lambda d: _first_shard(d, 3)), [INDEX, "a shard file name: expected a string"]),
    "weight-map-value-null": (_index(lambda d: _first_shard(d, None)), [INDEX, "expected a string, got null"]),
    "index-a-list": (_index_text("[]"), [INDEX, "expected a JSON object, got list"]),
    "index-not-json": (_index_text("{"), [INDEX, "is not valid JSON"]),
    "index-nan": (_index_text('{"metadata": {"total_size": NaN}, "weight_map": {}}'), [INDEX, "NaN is not valid"]),
    "index-a-directory": (_index_dir, [INDEX, "it is a directory"]),
    "shard-parent-path": (_index(lambda d: _first_shard(d, "../../x.safetensors")), [INDEX, "outside the checkpoint"]),
    "shard-absolute": (_index(lambda d: _first_shard(d, "/etc/passwd")), [INDEX, "'/etc/passwd', which is outside"]),
    "shard-sneaky-parent": (_index(lambda d: _first_shard(d, "a/../../x.safetensors")), [INDEX, "outside"]),
    "shard-windows-absolute": (_index(lambda d: _first_shard(d, "C:\\x.safetensors")), [INDEX, "outside"]),
    "shard-empty-name": (_index(lambda d: _first_shard(d, "")), [INDEX, "empty shard name"]),
    "shard-missing": (
        _index(lambda d: _first_shard(d, "model-00003-of-00003.safetensors")),
        [INDEX, "the index lists shard 'model-00003-of-00003.safetensors' but it is not in the folder"],
    ),
    "shard-deleted": (
        lambda f: (f / "model-00002-of-00002.safetensors").unlink(),
        [INDEX, "'model-00002-of-00002.safetensors' but it is not in the folder"],
    ),
    "tensor-in-two-shards": (_duplicate_tensor, ["model-00001-of-00002.safetensors and model-00002-of-00002"]),
    "tensor-in-the-wrong-shard": (
        _index(lambda d: _first_shard(d, "model-00002-of-00002.safetensors")),
        [INDEX, "to 'model-00002-of-00002.safetensors', but it is in model-00001-of-00002.safetensors"],
    ),
    "tensor-in-no-shard": (
        _index(lambda d: d["weight_map"].__setitem__("model.extra", "model-00001-of-00002.safetensors")),
        [INDEX, "tensor 'model.extra'", "no shard holds it"],
    ),
    "shard-corrupted": (
        lambda f: (f / "model-00002-of-00002.safetensors").write_bytes(b"\x00" * 3),
        ["model-00002-of-00002.safetensors: the safetensors file is truncated: 3 bytes"],
    ),
}


@pytest.mark.hostile
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fault", sorted(INDEX_FAULTS))
def test_broken_shard_index_is_refused(tiny, tmp_path, command, fault):
    folder = _copy(tiny, tmp_path, "sharded")
    corrupt, needles = INDEX_FAULTS[fault]
    corrupt(folder)
    assert_rejected(cli(command, folder), *needles)


@pytest.mark.hostile
def test_two_unindexed_files_with_the_same_tensor(tiny, tmp_path):
    folder = _copy(tiny, tmp_path)
    shutil.copy(folder / ST, folder / "extra.safetensors")
    for command in COMMANDS:
        assert_rejected(cli(command, folder), "is stored in two files, extra.safetensors and model.safetensors")


# ------------------------------------------------------------------ config.json values
def _config(edit, source: str | None = None):
    """Edit the checkpoint's config.json (or replace it by a config-only sample from tests/data)."""

    def apply(folder: Path) -> None:
        path = folder / "config.json"
        if source is not None:
            for f in folder.glob("*.safetensors"):
                f.unlink()
            path.write_text((HF_CONFIGS / source).read_text())
        data = json.loads(path.read_text())
        edit(data)
        path.write_text(json.dumps(data))

    return apply


def _set(key, value, source=None):
    return _config(lambda d: d.update({key: value}), source)


def _set_rope(key, value):
    return _config(lambda d: d["rope_parameters"].update({key: value}))


def _config_text(text: str | bytes):
    def apply(folder: Path) -> None:
        path = folder / "config.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return apply


def _config_path(make):
    def apply(folder: Path) -> None:
        (folder / "config.json").unlink()
        make(folder / "config.json")

    return apply


def _text_config(edit):
    return _config(lambda d: edit(d["text_config"]), "gemma-3-27b.json")


def _legacy_rope(value):
    return _config(lambda d: d.update(rope_scaling=value, rope_parameters=None))


CONFIG_FAULTS = {
    "model-type-a-list": (_set("model_type", ["llama"]), "model_type", "expected a string, got list"),
    "model-type-a-number": (_set("model_type", 7), "model_type", "expected a string, got int"),
    "model-type-null": (_set("model_type", None), "model_type", "model_type None is not supported"),
    "hidden-size-a-string": (_set("hidden_size", "32"), "hidden_size", "expected an integer, got str ('32')"),
    "hidden-size-a-float": (_set("hidden_size", 32.0), "hidden_size", "expected an integer, got float (32.0)"),
    "hidden-size-negative": (_set("hidden_size", -32), "hidden_size", "expected a number >= 1 and <= 1048576"),
    "hidden-size-zero": (_set("hidden_size", 0), "hidden_size", "got 0."),
    "hidden-size-bool": (_set("hidden_size", True), "hidden_size", "expected an integer, got bool"),
    "hidden-size-1e400": (_config_text('{"model_type": "llama", "hidden_size": 1e400}'), "hidden_size", "got float"),
    "hidden-size-nan": (_config_text('{"model_type": "llama", "hidden_size": NaN}'), None, "NaN is not valid JSON"),
    "layers-10**12": (_set("num_hidden_layers", 10**12), "num_hidden_layers", "<= 100000"),
    "heads-zero": (_set("num_attention_heads", 0), "num_attention_heads", "expected a number >= 1"),
    "kv-heads-a-list": (_set("num_key_value_heads", [2]), "num_key_value_heads", "expected an integer, got list"),
    "vocab-negative": (_set("vocab_size", -1), "vocab_size", "got -1."),
    "head-dim-zero": (_set("head_dim", 0), "head_dim", "got 0."),
    "context-a-string": (_set("max_position_embeddings", "128k"), "max_position_embeddings", "expected an integer"),
    "rms-eps-zero": (_set("rms_norm_eps", 0), "rms_norm_eps", "expected a number > 0 and <= 1, got 0."),
    "rms-eps-negative": (_set("rms_norm_eps", -1e-6), "rms_norm_eps", "got -1e-06."),
    "rms-eps-a-string": (_set("rms_norm_eps", "1e-6"), "rms_norm_eps", "expected an integer or a number, got str"),
    "rms-eps-huge": (_set("rms_norm_eps", 10.0), "rms_norm_eps", "got 10."),
    "dropout-above-one": (_set("attention_dropout", 2.0), "attention_dropout", ">= 0 and <= 1, got 2."),
    "tie-a-string": (_set("tie_word_embeddings", "false"), "tie_word_embeddings", "expected true or false, got str"),
    "bias-an-int": (_set("attention_bias", 0), "attention_bias", "expected true or false, got int"),
    "hidden-act-a-list": (_set("hidden_act", ["silu"]), "hidden_act", "expected a string, got list"),
    "rope-parameters-a-string": (_set("rope_parameters", "llama3"), "rope_parameters", "expected an object"),
    "rope-parameters-a-list": (_set("rope_parameters", [1]), "rope_parameters", "expected an object"),
    "rope-scaling-a-string": (_legacy_rope("yarn"), "rope_scaling", "expected an object (mapping), got str"),
    "rope-scaling-a-number": (_legacy_rope(8), "rope_scaling", "expected an object (mapping), got int"),
    "rope-theta-a-string": (_set_rope("rope_theta", "5e5"), "rope_parameters.rope_theta", "got str"),
    "rope-theta-zero": (_set_rope("rope_theta", 0), "rope_parameters.rope_theta", "expected a number > 0"),
    "rope-factor-negative": (_set_rope("factor", -8.0), "rope_parameters.factor", "got -8."),
    "rope-type-a-list": (_set_rope("rope_type", ["llama3"]), "rope_parameters.rope_type", "expected a string"),
    "rope-original-a-float": (
        _set_rope("original_max_position_embeddings", 16.5),
        "rope_parameters.original_max_position_embeddings",
        "expected an integer, got float",
    ),
    "layer-types-a-string": (
        _set("layer_types", "full_attention", "gemma-3-1b.json"),
        "layer_types",
        "expected a list, got str",
    ),
    "layer-types-nested": (
        _set("layer_types", [["full_attention"]] * 26, "gemma-3-1b.json"),
        "layer_types[0]",
        "got list",
    ),
    "quantization-config-a-list": (_set("quantization_config", []), "quantization_config", "got list"),
    "config-a-list": (_config_text("[1, 2]"), None, "expected a JSON object of config keys at the top level, got list"),
    "config-a-string": (_config_text('"llama"'), None, "got str"),
    "config-empty": (_config_text(""), None, "is not valid JSON: Expecting value at line 1, column 1"),
    "config-not-utf8": (_config_text(b'{"model_type": "\xff"}'), None, "is not UTF-8 text"),
    "config-a-directory": (_config_path(lambda p: p.mkdir()), None, "it is a directory"),
    "config-symlink-loop": (_config_path(lambda p: os.symlink(p, p)), None, "symbolic link loop"),
    "config-missing": (lambda f: (f / "config.json").unlink(), None, "no config.json in"),
    "gemma3-text-config-a-list": (_set("text_config", [], "gemma-3-27b.json"), "text_config", "got list"),
    "gemma3-text-config-a-string": (_set("text_config", "gemma", "gemma-3-27b.json"), "text_config", "got str"),
    "gemma3-text-hidden-size-a-string": (
        _text_config(lambda t: t.update(hidden_size="5376")),
        "hidden_size",
        "(text_config)",
    ),
    "gemma3-rope-layer-a-string": (
        _set("rope_parameters", {"full_attention": "linear"}, "gemma-3-1b.json"),
        "rope_parameters.full_attention",
        "expected an object (mapping), got str",
    ),
    "gemma3-pattern-zero": (_set("sliding_window_pattern", 0, "gemma-3-1b.json"), "sliding_window_pattern", "got 0."),
    "gemma3-softcap-zero": (
        _set("final_logit_softcapping", 0, "gemma-3-1b.json"),
        "final_logit_softcapping",
        "expected a number > 0",
    ),
    "qwen3-moe-only-layers-strings": (
        _set("mlp_only_layers", ["a"], "qwen3-30b-a3b.json"),
        "mlp_only_layers[0]",
        "expected an integer, got str",
    ),
    "qwen3-moe-only-layers-a-dict": (_set("mlp_only_layers", {}, "qwen3-30b-a3b.json"), "mlp_only_layers", "list"),
    "qwen3-moe-sparse-step-zero": (
        _set("decoder_sparse_step", 0, "qwen3-30b-a3b.json"),
        "decoder_sparse_step",
        "expected a number >= 1",
    ),
    "qwen3-moe-experts-negative": (_set("num_experts", -8, "qwen3-30b-a3b.json"), "num_experts", "got -8."),
    "deepseek-groups-zero": (_set("n_group", 0, "deepseek-v3.json"), "n_group", "got 0."),
    "deepseek-lora-a-string": (_set("kv_lora_rank", "512", "deepseek-v3.json"), "kv_lora_rank", "got str"),
    "gpt2-embd-a-float": (_set("n_embd", 768.0, "gpt2.json"), "n_embd", "got float"),
    "gpt2-eps-negative": (_set("layer_norm_epsilon", -1e-5, "gpt2.json"), "layer_norm_epsilon", "got -1e-05."),
}


@pytest.mark.hostile
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("fault", sorted(CONFIG_FAULTS))
def test_bad_config_json_is_refused(tiny, tmp_path, command, fault):
    folder = _copy(tiny, tmp_path)
    corrupt, field, needle = CONFIG_FAULTS[fault]
    corrupt(folder)
    needles = [str(folder / "config.json") if fault != "config-missing" else str(folder), needle]
    assert_rejected(cli(command, folder), *needles, *([f"field '{field}'"] if field else []))


@pytest.mark.hostile
@pytest.mark.parametrize("command", COMMANDS)
def test_fp8_block_size_of_the_wrong_shape(tiny, tmp_path, command):
    folder = _copy(tiny, tmp_path)
    _set("quantization_config", {"weight_block_size": [0, 128]})(folder)
    assert_rejected(
        cli(command, folder),
        "field 'quantization_config.weight_block_size'",
        "expected two positive integers [rows, columns], got [0, 128]",
    )


# ------------------------------------------------------------------ the import --check gate
def _poison(value: float, key: str = "model.layers.0.self_attn.q_proj.weight"):
    def apply(folder: Path) -> None:
        from safetensors.torch import load_file, save_file

        tensors = load_file(folder / ST)
        tensors[key].view(-1)[0] = value
        save_file(tensors, folder / ST, metadata={"format": "pt"})

    return apply


def _strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"bare {name} in --json output")

    return json.loads(text, parse_constant=refuse)


GATES = {
    "nan-weight": (_poison(float("nan")), ()),
    "inf-weight": (_poison(float("inf")), ()),
    "-inf-weight": (_poison(float("-inf")), ()),
    "nan-weight-json": (_poison(float("nan")), ("--json",)),
    "nan-final-norm": (_poison(float("nan"), "model.norm.weight"), ()),
}


@pytest.mark.hostile
@pytest.mark.parametrize("gate", sorted(GATES))
def test_non_finite_weights_fail_the_parity_gate(tiny, tmp_path, gate):
    folder = _copy(tiny, tmp_path)
    poison, flags = GATES[gate]
    poison(folder)
    name = "model.norm.weight" if gate == "nan-final-norm" else "model.layers.0.self_attn.q_proj.weight"
    o = cli("import", folder, "--check", "--seq-len", "8", *flags)
    assert_exit(
        o,
        1,
        "archbench: parity check FAILED: the checkpoint's weights hold NaN or inf (1 tensors: " + name + ")",
        # which logits turn NaN varies: torch's CPU SDPA kernel returns finite rows for a NaN query
        "non-finite logits (NaN or inf) from: transformers reference",
    )
    assert "max |logit diff| nan" not in o.err
    if "--json" in flags:
        record = _strict_json(o.out)
        assert record["passed"] is False and record["max_abs_diff"] is None
        assert record["non_finite_weights"] == [name] and record["weights"]["non_finite"] == [name]


@pytest.mark.hostile
def test_non_finite_weights_are_reported_without_check(tiny, tmp_path):
    folder = _copy(tiny, tmp_path)
    _poison(float("nan"))(folder)
    o = cli("import", folder)
    assert_accepted(o)
    assert (
        "archbench: warning: 1 checkpoint tensors hold NaN or inf (model.layers.0.self_attn.q_proj.weight); "
        "`--check` fails on them." in o.err
    )


@pytest.mark.hostile
def test_check_json_is_strict_and_passes(tiny, tmp_path):
    folder = _copy(tiny, tmp_path)
    o = cli("import", folder, "--check", "--json", "--seq-len", "8")
    assert_accepted(o)
    record = _strict_json(o.out)
    assert record["passed"] is True and record["failure"] is None and record["non_finite_logits"] == []
    assert record["max_abs_diff"] <= 1e-4 and record["tolerance"] == 1e-4


@pytest.mark.hostile
def test_check_loads_only_safetensors_beside_a_planted_pickle(tiny, tmp_path, monkeypatch):
    import torch

    folder = _copy(tiny, tmp_path)
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not a pickle anyone should load")

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load was called: a pickle was read")

    monkeypatch.setattr(torch, "load", no_unpickling)
    o = cli("import", folder, "--check", "--seq-len", "8")
    assert_accepted(o)
    assert "loaded 21 tensors from 1 file(s)" in o.err and "FAILED" not in o.err


@pytest.mark.hostile
def test_only_pickle_weights_are_refused(tiny, tmp_path):
    folder = _copy(tiny, tmp_path)
    (folder / ST).unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not even read")
    assert_rejected(cli("import", folder, "--check"), "only pickle weights found (pytorch_model.bin)", str(folder))


@pytest.mark.hostile
def test_check_without_weights(tiny, tmp_path):
    folder = _copy(tiny, tmp_path)
    (folder / ST).unlink()
    assert_rejected(cli("import", folder, "--check"), "--check needs weights", str(folder))


@pytest.mark.hostile
@pytest.mark.parametrize("flag, value", [("--tol", "nan"), ("--tol", "-1"), ("--seq-len", "0"), ("--seq-len", "x")])
def test_check_flags_out_of_range(tiny, tmp_path, flag, value):
    assert_rejected(cli("import", _copy(tiny, tmp_path), "--check", flag, value), f"argument {flag}")


@pytest.mark.hostile
def test_out_into_a_directory(tiny, tmp_path):
    folder = _copy(tiny, tmp_path)
    (tmp_path / "v.yaml").mkdir()
    assert_rejected(cli("import", folder, "--out", tmp_path / "v.yaml"), "cannot write variant YAML", "is a directory")


@pytest.mark.hostile
def test_zero_eps_is_a_config_error_before_the_check(tiny, tmp_path):
    folder = _copy(tiny, tmp_path)
    _set("rms_norm_eps", 0)(folder)
    assert_rejected(cli("import", folder, "--check"), "field 'rms_norm_eps'", "expected a number > 0")


# ------------------------------------------------------------------ what must still work
def _hf_cache_layout(folder: Path) -> None:
    """The Hugging Face cache: snapshot files are links to ../../blobs/<hash> (outside the folder)."""
    blobs = folder.parent / "blobs"
    blobs.mkdir()
    for f in (ST, "config.json"):
        os.replace(folder / f, blobs / f)
        os.symlink(Path("..") / "blobs" / f, folder / f)


ACCEPTED = {
    "untouched": lambda f: None,
    "hf-cache-symlinks": _hf_cache_layout,
    "metadata-strings": _edit(lambda h: h.__setitem__("__metadata__", {"format": "pt", "note": "x"})),
    "no-metadata": _edit(lambda h: h.pop("__metadata__", None)),
    "padded-header": lambda f: _write(f / ST, json.dumps(_split(f / ST)[0]) + " " * 7, _split(f / ST)[1]),
}


@pytest.mark.hostile
@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_good_checkpoints_are_accepted(tiny, tmp_path, command, case):
    folder = _copy(tiny, tmp_path / "snapshots")
    ACCEPTED[case](folder)
    assert_accepted(cli(command, folder))


@pytest.mark.hostile
@pytest.mark.parametrize("command", COMMANDS)
def test_sharded_checkpoint_is_accepted(tiny, tmp_path, command):
    o = cli(command, _copy(tiny, tmp_path, "sharded"))
    assert_accepted(o)
    if command == "import":
        assert "loaded 21 tensors from 2 file(s)" in o.err


def _ids(names, commands=COMMANDS):
    return [pytest.param(c, n, id=f"{c}-{n}") for n in sorted(names) for c in commands]


CASES = (
    _ids(WEIGHT_FAULTS)
    + _ids(INDEX_FAULTS)
    + _ids(CONFIG_FAULTS)
    + _ids(GATES, ("import --check",))
    + _ids(QUANT_FAULTS, ("import",))
    + _ids(ACCEPTED)
    + [
        pytest.param(c, n, id=f"{c}-{n}")
        for c, n in [
            ("show", "unreadable"),
            ("import", "unreadable"),
            ("import", "library-error"),
            ("import", "same-tensor-two-names"),
            ("both", "two-unindexed-files"),
            ("import", "nan-without-check"),
            ("import --check --json", "strict-json"),
            ("import --check", "planted-pytorch-model-bin"),
            ("import --check", "logits-overflow"),
            ("import --check", "only-pickle"),
            ("import --check", "no-weights"),
            ("import --check", "tol-nan"),
            ("import --check", "tol-negative"),
            ("import --check", "seq-len-zero"),
            ("import --check", "seq-len-text"),
            ("import --out", "a-directory"),
            ("import --check", "zero-eps"),
            ("show", "fp8-block-size"),
            ("import", "fp8-block-size"),
            ("show", "sharded"),
            ("import", "sharded"),
        ]
    ]
)


@pytest.mark.hostile
def test_logits_that_overflow_fail_the_gate(tiny, tmp_path):
    # every weight finite, but a head row of 3e38 overflows float32: the gate must not read inf - inf = nan as a pass
    from safetensors.torch import load_file, save_file

    folder = _copy(tiny, tmp_path)
    tensors = load_file(folder / ST)
    tensors["lm_head.weight"][0] = 3e38
    save_file(tensors, folder / ST, metadata={"format": "pt"})
    o = cli("import", folder, "--check", "--seq-len", "8", "--json")
    assert_exit(
        o,
        1,
        "archbench: parity check FAILED: non-finite logits (NaN or inf) from: transformers reference, "
        "archbench full forward, archbench KV-cache decoding.",
    )
    record = _strict_json(o.out)
    assert record["non_finite_weights"] == [] and record["passed"] is False


def test_parity_failure_reasons():
    from suite.hf.parity import parity_failure

    ok = {"max_abs_diff": 1e-6, "decode_max_abs_diff": 2e-6}
    assert parity_failure(ok, 1e-4) is None
    assert parity_failure(dict(ok, decode_max_abs_diff=float("nan")), 1e-4) == (
        "the max |logit diff| is not finite (KV-cache decoding)"
    )
    assert parity_failure(dict(ok, max_abs_diff=0.5), 1e-4) == (
        "max |logit diff| above the tolerance 0.0001: full forward 5.00e-01"
    )


def test_every_dtype_the_library_writes_passes_the_header_check(tmp_path):
    import torch
    from safetensors.torch import save_file

    from suite.hf.safetensors_header import DTYPE_BYTES, read_header

    dtypes = [torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float16]
    dtypes += [torch.bfloat16, torch.float32, torch.float64, torch.float8_e4m3fn, torch.float8_e5m2, torch.complex64]
    tensors = {f"t{i}": torch.zeros(3, i + 1).to(d) for i, d in enumerate(dtypes)}
    tensors["empty"] = torch.zeros(0, 5)
    save_file(tensors, tmp_path / ST)
    header = read_header(tmp_path / ST)
    assert set(header) == set(tensors) and {h.dtype for h in header.values()} <= set(DTYPE_BYTES)
    assert header["t8"].shape == (3, 9) and header["empty"].begin == header["empty"].end
    save_file({}, tmp_path / "none.safetensors")
    assert read_header(tmp_path / "none.safetensors") == {}
