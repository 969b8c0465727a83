"""Hostile command lines: every numeric flag of list/show/budget/calibrate/import/train/eval refuses
0, -1, NaN, inf, 1e400, words and empty strings where they cannot be right (argparse names the flag,
exit 2); device files, corpus files and output paths fail as one paragraph naming the file; a
diverged learning rate is never picked and an all-diverged sweep or a NaN score exits 1; user text
in terminal output is printed literally, never read as rich markup; --json output is strict."""

from __future__ import annotations

import json

import pytest
import torch
from hostile import assert_accepted, assert_exit, assert_rejected, cli, snapshot

HOSTILE = ("0", "-1", "nan", "inf", "1e400", "abc", "")

# what each argument type says about each hostile value (None: the value is valid for that type)
POSITIVE_INT = {"0": "must be a positive integer", "-1": "must be a positive integer"}
MESSAGES = {
    "positive_int": {**dict.fromkeys(HOSTILE, "expected an integer"), **POSITIVE_INT},
    "nonnegative_int": {
        **dict.fromkeys(HOSTILE, "expected an integer"),
        "0": None,
        "-1": "must be 0 or a positive integer",
    },
    "positive_float": {
        "0": "must be a positive number",
        "-1": "must be a positive number",
        **dict.fromkeys(("nan", "inf", "1e400"), "must be a finite number"),
        **dict.fromkeys(("abc", ""), "expected a number"),
    },
    "unit_interval": {
        "0": None,
        "-1": "must be between 0 and 1",
        **dict.fromkeys(("nan", "inf", "1e400"), "must be a finite number"),
        **dict.fromkeys(("abc", ""), "expected a number"),
    },
    "size": {
        **dict.fromkeys(("0", "-1", "nan", "inf", "1e400"), "a memory size must be at least 1 byte and at most 1 EiB"),
        **dict.fromkeys(("abc", ""), "cannot read a memory size"),
    },
    "size_or_zero": {
        "0": None,
        **dict.fromkeys(("-1", "nan", "inf", "1e400"), "a memory size must be 0 or at least 1 byte and at most 1 EiB"),
        **dict.fromkeys(("abc", ""), "cannot read a memory size"),
    },
    "limit": {
        "0": "must be a positive number of documents or a fraction below 1",
        "-1": "must be a positive number of documents or a fraction below 1",
        **dict.fromkeys(("nan", "inf", "1e400"), "must be a finite number"),
        **dict.fromkeys(("abc", ""), "expected a number"),
    },
}

# (command line before the flag, flag, argument type); the positionals are never reached: argparse
# refuses the value first, so nothing is resolved, trained or written
TRAIN = ("train", "gpt2-small", "--out", "never-written")
FLAGS = [
    (("budget", "gpt2-small"), "--memory", "size"),
    (("budget", "gpt2-small"), "--reserve", "size_or_zero"),
    (("budget", "gpt2-small"), "--batch", "positive_int"),
    (("budget", "gpt2-small"), "--context", "positive_int"),
    (("budget", "gpt2-small"), "--device-peak", "positive_float"),
    (("budget", "gpt2-small"), "--device-bandwidth", "positive_float"),
    (("calibrate",), "--size", "positive_int"),
    (("calibrate",), "--copy-mib", "positive_int"),
    (("calibrate",), "--repeats", "positive_int"),
    (("import", "no-such-folder"), "--seq-len", "positive_int"),
    (("import", "no-such-folder"), "--tol", "positive_float"),
    (TRAIN, "--tokens", "positive_int"),
    (TRAIN, "--seeds", "nonnegative_int"),
    (TRAIN, "--lr", "positive_float"),
    (TRAIN, "--batch-size", "positive_int"),
    (TRAIN, "--seq-len", "positive_int"),
    (TRAIN, "--synthetic-fraction", "unit_interval"),
    (("eval", "gpt2-small"), "--limit", "limit"),
    (("eval", "gpt2-small"), "--num-fewshot", "nonnegative_int"),
    (("eval", "gpt2-small"), "--batch-size", "positive_int"),
    (("eval", "gpt2-small"), "--bootstrap-iters", "nonnegative_int"),
    (("eval", "gpt2-small"), "--seed", "nonnegative_int"),
]
NUMERIC = [
    pytest.param(prefix, flag, value, MESSAGES[kind][value], id=f"{prefix[0]}{flag}={value or 'empty'}")
    for prefix, flag, kind in FLAGS
    for value in HOSTILE
    if MESSAGES[kind][value] is not None
]


@pytest.mark.hostile
@pytest.mark.parametrize("prefix, flag, value, message", NUMERIC)
def test_numeric_flags_refuse_values_that_cannot_be_right(tmp_path, prefix, flag, value, message):
    o = cli(*prefix, flag, value, cwd=tmp_path)
    assert_rejected(o, f"argument {flag}: {message}", repr(value))
    assert snapshot(tmp_path) == {}  # refused before anything was written


# values past a ceiling: they would run out of memory or time, or cannot be meant
TOO_BIG = [
    pytest.param(("budget", "gpt2-small"), "--batch", "16777217", "must be at most 16,777,216", id="budget-batch"),
    pytest.param(("budget", "gpt2-small"), "--context", str(2**32 + 1), "must be at most 4,294,967,296", id="ctx"),
    pytest.param(("budget", "gpt2-small"), "--memory", "2e18", "at most 1 EiB", id="budget-memory-2e18"),
    pytest.param(("budget", "gpt2-small"), "--reserve", "1e400GB", "at most 1 EiB", id="budget-reserve-1e400GB"),
    pytest.param(("calibrate",), "--size", "32769", "must be at most 32,768", id="calibrate-size"),
    pytest.param(("calibrate",), "--copy-mib", "65537", "must be at most 65,536", id="calibrate-copy-mib"),
    pytest.param(("calibrate",), "--repeats", "1001", "must be at most 1,000", id="calibrate-repeats"),
    pytest.param(("import", "x"), "--seq-len", str(2**20 + 1), "must be at most 1,048,576", id="import-seq-len"),
    pytest.param(TRAIN, "--tokens", str(10**12 + 1), "must be at most 1,000,000,000,000", id="train-tokens"),
    pytest.param(TRAIN, "--batch-size", "65537", "must be at most 65,536", id="train-batch-size"),
    pytest.param(TRAIN, "--seq-len", "65537", "must be at most 65,536", id="train-seq-len"),
    pytest.param(TRAIN, "--synthetic-fraction", "2", "must be between 0 and 1", id="train-synthetic-2"),
    pytest.param(("eval", "x"), "--batch-size", "65537", "must be at most 65,536", id="eval-batch-size"),
    pytest.param(("eval", "x"), "--bootstrap-iters", "1000001", "must be at most 1,000,000", id="eval-bootstrap"),
    pytest.param(("eval", "x"), "--limit", "1.5", "must be a whole number of documents", id="eval-limit-1.5"),
]


@pytest.mark.hostile
@pytest.mark.parametrize("prefix, flag, value, message", TOO_BIG)
def test_values_past_a_ceiling(tmp_path, prefix, flag, value, message):
    assert_rejected(cli(*prefix, flag, value, cwd=tmp_path), f"argument {flag}: ", message, repr(value))


# argv -> what the error says (checks after parsing: exit 2 naming the flag or field)
ARGV_FAULTS = {
    "memory-negative-with-unit": (("budget", "gpt2-small", "--memory=-1GB"), "got '-1GB'"),
    "reserve-not-below-memory": (
        ("budget", "gpt2-small", "--memory", "8GB", "--reserve", "8GB"),
        "--reserve (8,589,934,592 bytes) leaves nothing of the 8,589,934,592-byte memory budget",
    ),
    "seeds-empty": (("train", "gpt2-small", "--out", "x", "--seeds"), "argument --seeds: expected at least one"),
    "lr-empty": (("train", "gpt2-small", "--out", "x", "--lr"), "argument --lr: expected at least one"),
    "eval-tasks-only-commas": (("eval", "gpt2-small", "--tasks", ",,"), "--tasks names no task (got ',,')"),
    "eval-metadata-a-list": (("eval", "gpt2-small", "--metadata", "[1]"), "--metadata must be a JSON object"),
    "eval-metadata-nan": (
        ("eval", "gpt2-small", "--metadata", '{"context_length": NaN}'),
        "--metadata is not valid JSON: NaN is not valid JSON",
    ),
    "eval-metadata-garbage": (("eval", "gpt2-small", "--metadata", "{bad"), "--metadata is not valid JSON"),
    "eval-device-unknown": (
        ("eval", "gpt2-small", "--scale", "tiny", "--tasks", "archbench_bpb", "--device", "warp-drive"),
        "unknown torch device 'warp-drive'",
    ),
    "eval-checkpoint-missing": (
        ("eval", "gpt2-small", "--scale", "tiny", "--tasks", "archbench_bpb", "--checkpoint", "no-such-ck"),
        "no-such-ck is not an archbench checkpoint folder",
    ),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(ARGV_FAULTS))
def test_argument_faults(tmp_path, case):
    argv, message = ARGV_FAULTS[case]
    assert_rejected(cli(*argv, cwd=tmp_path), message)


@pytest.mark.hostile
def test_eval_on_a_missing_gpu_is_refused():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    o = cli("eval", "gpt2-small", "--scale", "tiny", "--tasks", "archbench_bpb", "--device", "cuda")
    assert_rejected(o, "torch device 'cuda' is not available on this machine")


# ------------------------------------------------------------------ device files
DEVICE_FAULTS = {
    "nan-peak": ('{"peak_flops": NaN, "bandwidth": 1e12}', "NaN is not valid JSON"),
    "top-level-list": ("[1, 2]", "expected an object"),
    "negative-peak": ('{"peak_flops": -1, "bandwidth": 1e12}', "'peak_flops' must be a positive number of FLOP/s"),
    "zero-bandwidth": ('{"peak_flops": 1e12, "bandwidth": 0}', "'bandwidth' must be a positive number of bytes/s"),
    "huge-peak": ('{"peak_flops": 1e400, "bandwidth": 1e12}', "'peak_flops' must be a positive number"),
    "string-peak": ('{"peak_flops": "fast", "bandwidth": 1e12}', "expected an integer or a number, got str"),
    "bool-bandwidth": ('{"peak_flops": 1e12, "bandwidth": true}', "expected an integer or a number, got bool"),
    "no-bandwidth": ('{"peak_flops": 1e12}', "it has no 'bandwidth'"),
    "negative-memory": ('{"peak_flops": 1e12, "bandwidth": 1e12, "memory": -5}', "'memory' must be 0 or more"),
    "infinite-memory": ('{"peak_flops": 1e12, "bandwidth": 1e12, "memory": 1e400}', "'memory' must be 0 or more"),
    "name-with-markup": ('{"peak_flops": 1e12, "bandwidth": 1e12, "name": "[blink]dev"}', "device name '[blink]dev'"),
    "note-a-number": ('{"peak_flops": 1e12, "bandwidth": 1e12, "note": 5}', "expected a string"),
    "truncated": ('{"peak_flops": 1e12', "not valid JSON"),
    "empty": ("", "not valid JSON"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\xff", "not UTF-8"),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(DEVICE_FAULTS))
def test_device_file_faults(tmp_path, case):
    content, message = DEVICE_FAULTS[case]
    dev = tmp_path / "dev.json"
    dev.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert_rejected(cli("budget", "gpt2-small", "--memory", "8GB", "--device", dev), "dev.json", message)


@pytest.mark.hostile
@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_device_path_that_is_not_a_file(tmp_path, kind):
    dev = tmp_path / "dev.json"
    if kind == "directory":
        dev.mkdir()
    needle = "it does not exist" if kind == "missing" else "it is a directory"
    assert_rejected(cli("budget", "gpt2-small", "--device", dev), "cannot read device file", "dev.json", needle)


# ------------------------------------------------------------------ output paths
@pytest.mark.hostile
def test_calibrate_output_that_is_a_folder(tmp_path):
    o = cli("calibrate", "--size", "8", "--copy-mib", "1", "--repeats", "1", "--output", tmp_path)
    assert_rejected(o, f"cannot write device file {tmp_path}: it is a directory")


@pytest.mark.hostile
def test_calibrate_output_under_a_file(tmp_path):
    (tmp_path / "f").write_text("keep")
    o = cli("calibrate", "--size", "8", "--copy-mib", "1", "--repeats", "1", "--output", tmp_path / "f" / "dev.json")
    assert_rejected(o, "cannot write device file", "f/dev.json")
    assert (tmp_path / "f").read_text() == "keep"


@pytest.mark.hostile
def test_train_out_that_is_a_file(tmp_path):
    (tmp_path / "out").write_text("keep")
    o = cli("train", "gpt2-small", "--tokens", "64", "--out", tmp_path / "out")
    assert_rejected(o, f"training output (--out) {tmp_path / 'out'} is a file, not a folder")
    assert (tmp_path / "out").read_text() == "keep"


@pytest.mark.hostile
def test_eval_output_that_is_a_folder_fails_before_evaluating(tmp_path):
    o = cli("eval", "gpt2-small", "--scale", "tiny", "--tasks", "archbench_bpb", "--output", tmp_path)
    assert_rejected(o, f"--output {tmp_path} is a folder; give a file name")
    assert "bits_per_byte" not in o.out  # refused before the evaluation ran


# ------------------------------------------------------------------ corpus files
def _text(n: int) -> str:
    lines, size = [], 0
    while size < n:
        lines.append(f"def f{len(lines)}(x):\n    return x + {len(lines)}\n")
        size += len(lines[-1])
    return "".join(lines)


CORPUS_FAULTS = {
    "two-bytes": (b"ab", "holds 2 bytes of text; a corpus needs at least 4,096 bytes"),
    "empty": (b"", "holds 0 bytes of text; a corpus needs at least 4,096 bytes"),
    "only-nul-bytes": (b"\x00" * 8000, "holds 0 bytes of text"),
    "binary": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40, "is not UTF-8 text"),
    "latin-1": ("caf\xe9 ".encode("latin-1") * 2000, "is not UTF-8 text (byte 3: b'\\xe9')"),
    "blank-tail": ((_text(5000) + "\n" * 1000).encode(), "has no text in its last 10%"),
    "too-short-for-seq-len": (
        _text(5000).encode(),
        "training windows of 8192 tokens need at least 8,194 bytes: give a file of at least 9,105 bytes",
    ),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(CORPUS_FAULTS))
def test_corpus_file_faults(tmp_path, case):
    content, message = CORPUS_FAULTS[case]
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    extra = ("--seq-len", "8192", "--scale", "tiny") if case == "too-short-for-seq-len" else ()
    # a RoPE variant: learned positions would refuse --seq-len 8192 before the corpus is looked at
    variant = "llama-3.1-8b" if extra else "gpt2-small"
    o = cli("train", variant, "--tokens", "64", "--corpus", corpus, "--out", tmp_path / "out", *extra)
    assert_rejected(o, "corpus.txt", message)
    assert snapshot(tmp_path / "out") == {}  # nothing trained


@pytest.mark.hostile
@pytest.mark.parametrize("kind", ["missing", "directory", "symlink-loop"])
def test_corpus_path_that_is_not_a_file(tmp_path, kind):
    corpus = tmp_path / "corpus.txt"
    if kind == "directory":
        corpus.mkdir()
    elif kind == "symlink-loop":
        corpus.symlink_to(tmp_path / "loop.txt")
        (tmp_path / "loop.txt").symlink_to(corpus)
    needle = {"missing": "it does not exist", "directory": "it is a directory", "symlink-loop": "symbolic link loop"}
    o = cli("train", "gpt2-small", "--tokens", "64", "--corpus", corpus, "--out", tmp_path / "out")
    assert_rejected(o, "cannot read corpus file", "corpus.txt", needle[kind])


# ------------------------------------------------------------------ no NaN through a gate
FAST = ("--tokens", "128", "--seq-len", "16", "--batch-size", "2")


@pytest.mark.hostile
def test_a_diverged_learning_rate_is_never_picked(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(_text(6000))
    out = tmp_path / "out"
    o = cli("train", "gpt2-small", *FAST, "--corpus", corpus, "--lr", "1e6", "3e-3", "--out", out)
    assert_accepted(o)
    assert "lr 1e+06 diverged (non-finite training loss (nan) at step 2 of 4); it was not a candidate" in o.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_lr"] == 3e-3 and summary["selected"] == [str(out / "lr0.003-seed0")]
    assert summary["lr_sweep"]["1e+06"] is None and "1e+06" in summary["diverged"]
    record = json.loads((out / "lr1e+06-seed0" / "train.json").read_text())  # kept, marked diverged
    assert record["diverged"] is True and record["steps_run"] == 2 and record["val_loss"] is None


@pytest.mark.hostile
def test_every_rate_diverging_fails_and_names_the_rates(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(_text(6000))
    out = tmp_path / "out"
    o = cli("train", "gpt2-small", *FAST, "--corpus", corpus, "--lr", "1e6", "1e5", "--out", out)
    assert_exit(o, 1, "every learning rate diverged (lr 1e+06: non-finite training loss", "; lr 100000: non-finite")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_lr"] is None and summary["selected"] == [] and set(summary["diverged"]) == {"1e+06", "100000"}


def _nan_checkpoint(folder):
    from suite.model import build_model
    from suite.quality.checkpoint import save_trained
    from suite.registry import resolve_config

    model = build_model(resolve_config("gpt2-small", scale="tiny"), seed=0)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    return save_trained(model, folder, {"training_version": "test", "seq_len": 32})


@pytest.mark.hostile
def test_eval_of_a_nan_model_fails(tmp_path):
    folder = _nan_checkpoint(tmp_path / "ck")
    o = cli("eval", folder, "--tasks", "archbench_mqar_4", "--limit", "2", "--output", tmp_path / "r.json")
    # NaN logits still have an argmax: the accuracy looks finite, the logits check catches it
    assert_exit(o, 1, "the model produced non-finite logits")
    saved = json.loads((tmp_path / "r.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert saved["config"]["archbench_nonfinite_logits"] > 0  # the results are written, not lost


@pytest.mark.hostile
def test_eval_of_a_nan_bits_per_byte_fails(tmp_path):
    folder = _nan_checkpoint(tmp_path / "ck")
    o = cli("eval", folder, "--tasks", "archbench_bpb", "--limit", "2")
    assert_exit(o, 1, "non-finite results: archbench_bpb", "bits_per_byte,none = nan")


CHECKPOINT_FAULTS = {
    "truncated-weights": ("model.safetensors", b"\x08\x00", "are not a readable safetensors file"),
    "config-not-a-mapping": ("config.yaml", b"- 1\n- 2\n", "expected an object"),
    "config-bad-yaml": ("config.yaml", b"a: [\n", "YAML syntax error"),
    "train-json-nan": ("train.json", b'{"seq_len": NaN}', "NaN is not valid JSON"),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(CHECKPOINT_FAULTS))
def test_damaged_checkpoint_folder(tmp_path, case):
    name, content, message = CHECKPOINT_FAULTS[case]
    folder = _nan_checkpoint(tmp_path / "ck")
    (folder / name).write_bytes(content)
    assert_rejected(cli("eval", folder, "--tasks", "archbench_bpb", "--limit", "2"), name, message)


@pytest.mark.hostile
def test_eval_with_a_tokenizer_that_is_not_one(tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_text("hello")
    o = cli("eval", "gpt2-small", "--scale", "tiny", "--tasks", "archbench_bpb", "--tokenizer", bad)
    assert_rejected(o, f"tokenizer file {bad} is not a tokenizer.json")


# ------------------------------------------------------------------ escaping and strict JSON
EVIL = "close [/] and [link=file:///etc/passwd]click[/link] here"


def _registry(tmp_path):
    (tmp_path / "evil.yaml").write_text(
        "evil-variant:\n"
        "  base: gpt2-small\n"
        f"  family: '[red]fam[/red]'\n"
        f"  description: '{EVIL}'\n"
        "  source: '[bold]src[/bold] [/]'\n"
    )
    return tmp_path


@pytest.mark.hostile
def test_show_prints_markup_in_descriptions_literally(tmp_path):
    o = cli("show", "evil-variant", "--registry", _registry(tmp_path))
    assert_accepted(o)
    assert EVIL in o.out and "source: [bold]src[/bold] [/]" in o.out and "([red]fam[/red])" in o.out


@pytest.mark.hostile
def test_list_prints_markup_in_families_literally(tmp_path):
    o = cli("list", "--registry", _registry(tmp_path))
    assert_accepted(o)
    assert "[red]fam[/red]" in o.out


def _strict(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in --json output"))


JSON_COMMANDS = {
    "list": ("list", "--json"),
    "show": ("show", "evil-variant", "--json"),
    "budget": ("budget", "evil-variant", "--memory", "1GB", "--json"),
    "budget-weights-do-not-fit": ("budget", "evil-variant", "--memory", "1MB", "--json"),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(JSON_COMMANDS))
def test_json_output_is_strict(tmp_path, case):
    o = cli(*JSON_COMMANDS[case], "--registry", _registry(tmp_path))
    assert_accepted(o)
    data = _strict(o.out)
    text = json.dumps(data)
    assert "evil-variant" in text and ("list" == case or EVIL in text or "budget" in case)


CASES = (
    NUMERIC
    + TOO_BIG
    + [pytest.param(c, id=c) for c in ARGV_FAULTS]
    + [pytest.param("cuda", id="eval-device-cuda-missing")]
    + [pytest.param(c, id=f"device-{c}") for c in DEVICE_FAULTS]
    + [pytest.param(k, id=f"device-{k}") for k in ("missing", "directory")]
    + [pytest.param(c, id=c) for c in ("calibrate-out-dir", "calibrate-out-under-file", "train-out-file", "eval-out")]
    + [pytest.param(c, id=f"corpus-{c}") for c in CORPUS_FAULTS]
    + [pytest.param(k, id=f"corpus-{k}") for k in ("missing", "directory", "symlink-loop")]
    + [pytest.param(c, id=c) for c in ("lr-diverged-skipped", "all-diverged", "eval-nan-logits", "eval-nan-bpb")]
    + [pytest.param(c, id=f"checkpoint-{c}") for c in CHECKPOINT_FAULTS]
    + [pytest.param("tokenizer", id="eval-tokenizer-not-one")]
    + [pytest.param(c, id=f"escape-{c}") for c in ("show", "list")]
    + [pytest.param(c, id=f"json-{c}") for c in JSON_COMMANDS]
)
