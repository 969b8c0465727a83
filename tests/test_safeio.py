"""suite.safeio: every read/write failure is one InputError naming the path; writes are atomic."""

import errno
import json
import os

import pytest

from suite import safeio
from suite.config import ConfigError
from suite.safeio import InputError


def test_input_error_is_a_config_error_naming_the_file():
    exc = InputError("bad", file="x.yaml", field="d_model")
    assert isinstance(exc, ConfigError)
    assert str(exc) == "In file x.yaml, field 'd_model': bad"


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: None, "it does not exist"),
        (lambda p: p.mkdir(), "it is a directory, not a file"),
        (lambda p: os.symlink(p, p), "it is a symbolic link loop"),
    ],
    ids=["missing", "directory", "symlink-loop"],
)
def test_read_text_os_faults(tmp_path, make, reason):
    path = tmp_path / "v.yaml"
    make(path)
    with pytest.raises(InputError, match=reason) as info:
        safeio.read_text(path, "variant file")
    assert str(path) in str(info.value) and "cannot read variant file" in str(info.value)


def test_read_text_refuses_binary_and_huge(tmp_path):
    path = tmp_path / "v.yaml"
    path.write_bytes(b"a: 1\n\xff\xfe\x00")
    with pytest.raises(InputError, match=r"is not UTF-8 text \(byte 5"):
        safeio.read_text(path)
    with pytest.raises(InputError, match="larger than 0 MiB"):
        safeio.read_text(path, limit=3)


@pytest.mark.parametrize(
    "text, message",
    [
        ("a: 1\na: 2\n", "duplicate key 'a' (first at line 1)"),
        ("a: [1\n", "YAML syntax error at line"),
        ("[" * 5000 + "]" * 5000, "nest"),
        (
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                for p, c in zip("abcdefghijklm", "bcdefghijklmn")
            ),
            "YAML bomb",
        ),
        ("? [1, 2]\n: 3\n", "a mapping key must be a scalar"),
    ],
    ids=["duplicate-key", "syntax", "deep-nesting", "billion-laughs", "unhashable-key"],
)
def test_parse_yaml_refuses(text, message):
    with pytest.raises(InputError) as info:
        safeio.parse_yaml(text, "v.yaml")
    assert message in str(info.value) and "v.yaml" in str(info.value)


def test_parse_yaml_accepts_normal_files_and_safe_tags_only():
    assert safeio.parse_yaml("a: 1\nb: {c: [1, 2]}\nd: &x 3\ne: *x\n", "v.yaml") == {
        "a": 1,
        "b": {"c": [1, 2]},
        "d": 3,
        "e": 3,
    }
    with pytest.raises(InputError, match="python/object"):
        safeio.parse_yaml("a: !!python/object/apply:os.system ['true']\n", "v.yaml")


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'])
def test_parse_json_is_strict(text):
    with pytest.raises(InputError, match="is not valid JSON"):
        safeio.parse_json(text, "config.json")


def test_parse_json_names_line_and_column_and_refuses_deep_nesting():
    with pytest.raises(InputError, match="at line 2, column 1"):
        safeio.parse_json('{"a": 1,\n}', "config.json")
    with pytest.raises(InputError, match="nest"):
        safeio.parse_json("[" * 100 + "]" * 100, "config.json")


def test_expect_type_names_file_field_and_types():
    assert safeio.expect_type({}, dict, file="c.json", field="text_config") == {}
    with pytest.raises(InputError) as info:
        safeio.expect_type([1], dict, file="c.json", field="text_config")
    assert str(info.value) == "In file c.json, field 'text_config': expected an object (mapping), got list ([1])."
    with pytest.raises(InputError, match="expected an integer, got bool"):
        safeio.expect_type(True, int, file="c.json", field="hidden_size")


def test_dumps_is_strict_json():
    text = safeio.dumps({"a": float("nan"), "b": [float("inf"), 1.5], "c": (1, 2)})
    assert json.loads(text, parse_constant=lambda name: pytest.fail(name)) == {"a": None, "b": [None, 1.5], "c": [1, 2]}


def test_atomic_write_keeps_the_old_file_on_a_full_disk(tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    safeio.atomic_write_text(path, "good report")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(InputError, match="the disk is full. Free some space"):
        safeio.atomic_write_text(path, "new report", "report")
    assert path.read_text() == "good report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temp file left behind


def test_atomic_write_refuses_a_directory(tmp_path):
    with pytest.raises(InputError, match="it is a directory; give a file name"):
        safeio.atomic_write_text(tmp_path, "x")


def test_writable_dir(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        safeio.writable_dir(tmp_path / "file")
    assert safeio.writable_dir(tmp_path / "new" / "deep").is_dir()
    assert list((tmp_path / "new" / "deep").iterdir()) == []


@pytest.mark.parametrize(
    "name, message",
    [
        ("", "is empty"),
        ("   ", "is empty"),
        (None, "must be a string, got null"),
        (True, "quote it"),
        (3, "must be a string, got 3 (int)"),
        ("a\nb", "contains '\\n'"),
        ("a\tb", "contains '\\t'"),
        ("../x", "'..' part"),
        ("a//b", "empty"),
        ("/abs", "empty"),
        ("[/]", "contains '['"),
        ("[link=file:///etc/passwd]x", "'['"),
        ("<script>", "contains '<'"),
        ("a\\b", "contains '\\\\'"),
        ("=HYPERLINK(1)", "contains '('"),
        (".hidden", "starts with '.'"),
        (" x", "starts or ends with a space"),
        ("x" * 201, "longer than 200"),
        ("模型", "contains"),
    ],
)
def test_check_name_refuses(name, message):
    with pytest.raises(InputError) as info:
        safeio.check_name(name, file="v.yaml")
    assert message in str(info.value) and "v.yaml" in str(info.value)


@pytest.mark.parametrize(
    "name", ["gpt2-small", "Qwen3-30B-A3B", "llama_3.1-8b", "a b", "ladder/06-sliding-window", "x@tiny"]
)
def test_check_name_accepts(name):
    assert safeio.check_name(name) == name


def test_escaping():
    assert safeio.escape_markup("[link=file:///etc/passwd]x[/]") == "\\[link=file:///etc/passwd]x\\[/]"
    md = safeio.escape_markdown("<script>alert(1)</script> | [x](y)\nz")
    assert "<script>" not in md and "\n" not in md and "\\|" in md and "\\[x\\]" in md
    assert safeio.escape_csv_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert safeio.escape_csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safeio.escape_csv_cell("-1.5") == "-1.5"
    assert safeio.escape_csv_cell(3) == 3


def test_a_small_alias_dag_with_a_huge_expansion_is_read_without_expanding_it():
    # 5 aliases per level, 12 levels: 60 aliases (under the limit), 5^12 = 244M nodes if expanded
    lines = ["a: &a [x, x, x, x, x]"]
    names = "abcdefghijklm"
    for prev, cur in zip(names, names[1:]):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 5) + "]")
    data = safeio.parse_yaml("\n".join(lines) + "\n", "v.yaml")
    assert len(data) == 13 and data["m"][0] is data["m"][1]  # shared, not copied
