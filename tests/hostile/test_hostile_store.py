"""Hostile results folders, run flags and file-system faults: a clear error (exit 2) and nothing lost;
hostile names in results files come out escaped in every output format."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import pytest
from hostile import assert_rejected, cli, snapshot

FAKES = str(Path(__file__).resolve().parents[1] / "fake_probes.py")
SUITE = "variants: [gpt2-small]\nprobes:\n  - probe: fake_ok\n"


def _suite(tmp_path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SUITE)
    return path


def _run(tmp_path, out, *extra, report=False):
    args = ["run", "--suite", _suite(tmp_path), "--probe-module", FAKES, "--out", out, *extra]
    return cli(*args, *([] if report else ["--no-report"]))


# ------------------------------------------------------------------ run flags
RUN_FLAGS = [
    ("--jobs", "0"),
    ("--jobs", "-1"),
    ("--jobs", "two"),
    ("--jobs", "1.5"),
    ("--timeout", "0"),
    ("--timeout", "-1"),
    ("--timeout", "nan"),
    ("--timeout", "inf"),
    ("--timeout", "soon"),
    ("--memory-cap", "0GB"),
    ("--memory-cap", "1e400GB"),
    ("--memory-cap", "lots"),
    ("--scale", "huge"),
]


@pytest.mark.hostile
@pytest.mark.parametrize("flag, value", RUN_FLAGS, ids=[f"{f}={v}" for f, v in RUN_FLAGS])
def test_run_flags_out_of_range(tmp_path, flag, value):
    out = tmp_path / "out"
    o = _run(tmp_path, out, flag, value)
    assert_rejected(o, flag)
    assert not (out / "results.jsonl").exists()


# ------------------------------------------------------------------ the results folder
@pytest.mark.hostile
def test_out_is_a_file(tmp_path):
    out = tmp_path / "out"
    out.write_text("not a folder")
    assert_rejected(_run(tmp_path, out), "is a file, not a folder")
    assert out.read_text() == "not a folder"


@pytest.mark.hostile
@pytest.mark.parametrize("code, needle", [(errno.EROFS, "read-only"), (errno.EACCES, "permission denied")])
def test_out_is_not_writable(tmp_path, monkeypatch, code, needle):
    import tempfile

    def refuse(*args, **kwargs):  # root ignores chmod, so the OS answer is simulated
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    out = tmp_path / "out"
    assert_rejected(_run(tmp_path, out), "results folder", needle)
    assert not (out / "results.jsonl").exists()


@pytest.mark.hostile
def test_disk_full_while_appending_keeps_the_earlier_rows(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _run(tmp_path, out).code == 0
    before = (out / "results.jsonl").read_bytes()
    real_write = os.write

    def full(fd, data):
        real_write(fd, bytes(data)[:10])  # half a row reaches the disk, then it is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    o = _run(tmp_path, out, "--force")
    monkeypatch.undo()
    assert_rejected(o, "results.jsonl", "the disk is full", "intact")
    assert (out / "results.jsonl").read_bytes() == before


@pytest.mark.hostile
def test_disk_full_while_writing_the_report_keeps_the_earlier_report(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert _run(tmp_path, out, report=True).code == 0
    good = (out / "report.html").read_bytes()
    real_replace = os.replace

    def full(src, dst):
        if str(dst).endswith("report.html"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full)
    o = _run(tmp_path, out, "--force", report=True)
    monkeypatch.undo()
    assert_rejected(o, "report.html", "the disk is full")
    assert (out / "report.html").read_bytes() == good
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.hostile
def test_report_out_is_a_directory(tmp_path):
    out = tmp_path / "out"
    assert _run(tmp_path, out).code == 0
    assert_rejected(cli("report", out, "--out", tmp_path), "is a directory")


RUN_FILES = {
    "not-json": "{run_id: 1",
    "nan": '{"run_id": "x", "args": {}, "cells": NaN}',
    "list": "[1, 2]",
    "no-args": '{"run_id": "x"}',
    "run-id-number": '{"run_id": 3, "args": {}}',
    "binary": "\udcff",
    "empty": "",
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(RUN_FILES))
def test_corrupted_run_file_on_resume(tmp_path, case):
    out = tmp_path / "out"
    out.mkdir()
    text = RUN_FILES[case]
    (out / "run.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    before = snapshot(out)
    assert_rejected(_run(tmp_path, out, "--resume"), "run.json")
    assert snapshot(out) == before


@pytest.mark.hostile
def test_nothing_to_resume(tmp_path):
    assert_rejected(_run(tmp_path, tmp_path / "fresh", "--resume"), "nothing to resume")


@pytest.mark.hostile
@pytest.mark.parametrize(
    "extra, field",
    [
        (["gpt2-medium"], "variants"),
        (["--probes", "fake_isolated"], "--probes"),
        (["--scale", "small"], "--scale"),
        (["--timeout", "7"], "--timeout"),
    ],
    ids=["new-variant", "other-probes", "other-scale", "other-timeout"],
)
def test_resume_refuses_different_arguments(tmp_path, extra, field):
    out = tmp_path / "out"
    assert _run(tmp_path, out).code == 0
    before = snapshot(out)
    o = cli("run", "--out", out, "--resume", "--no-report", *extra)
    assert_rejected(o, field, "differs", "run.json")
    assert snapshot(out) == before


@pytest.mark.hostile
def test_resume_with_the_same_or_no_arguments_is_accepted(tmp_path):
    out = tmp_path / "out"
    assert _run(tmp_path, out).code == 0
    assert cli("run", "--out", out, "--resume", "--no-report").code == 0
    assert cli("run", "--out", out, "--resume", "--no-report", "--jobs", "2").code == 0  # speed may differ


@pytest.mark.hostile
def test_a_second_run_into_a_locked_folder_is_refused(tmp_path):
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".archbench.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("4242")
        held.flush()
        assert_rejected(_run(tmp_path, out), "being written by another run", "4242")
    assert _run(tmp_path, out).code == 0  # released: a lock never outlives its holder


# ------------------------------------------------------------------ results files
def _row(variant="v", metric="params_total", value=1.0e6, **kw):
    row = dict(
        run_id="r", cell_id=f"c-{variant}-{metric}", attempt=f"a-{variant}", variant=variant, family="f",
        scale="tiny", probe="analytic", metric=metric, value=value, unit="count", lower_is_better=True,
        status="ok", error="", extra="{}", cell_rows=1,
    )  # fmt: skip
    row.update(kw)
    return row


def _results(tmp_path, rows, raw_lines=()) -> Path:
    folder = tmp_path / "res"
    folder.mkdir(exist_ok=True)
    lines = [json.dumps(r) for r in rows] + list(raw_lines)
    (folder / "results.jsonl").write_text("\n".join(lines) + "\n")
    return folder


BROKEN_LINES = {
    "list-line": "[1, 2, 3]",
    "number-line": "42",
    "string-line": '"row"',
    "torn-line": '{"run_id": "r", "metr',
    "nan-line": '{"metric": NaN}',
    "metric-not-string": '{"metric": [1]}',
    "deep-line": "[" * 3000 + "]" * 3000,
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(BROKEN_LINES))
def test_unreadable_result_lines_are_skipped_with_a_warning(tmp_path, case):
    folder = _results(tmp_path, [_row()], [BROKEN_LINES[case]])
    o = cli("table", folder)
    assert o.code == 0, o
    assert "v" in o.out


HOSTILE_NAMES = {
    "rich-close": "[/]",
    "rich-link": "[link=file:///etc/passwd]click[/link]",
    "script": "<script>alert(1)</script>",
    "formula": '=HYPERLINK("http://x","y")',
    "at-formula": "@SUM(A1:A9)",
    "plus-formula": "+1+cmd",
    "pipe-newline": "a | b\n| c |",
    "markdown-link": "[x](javascript:alert(1))",
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(HOSTILE_NAMES))
def test_hostile_names_in_a_results_file_are_escaped_everywhere(tmp_path, case):
    name = HOSTILE_NAMES[case]
    folder = _results(tmp_path, [_row(variant=name), _row(variant="plain")])
    terminal = cli("table", folder)
    assert terminal.code == 0, terminal
    assert "click" not in terminal.out or "[link=" in terminal.out  # a link is shown as text, not made
    md, csv = tmp_path / "t.md", tmp_path / "t.csv"
    assert cli("table", folder, "--markdown", md, "--csv", csv).code == 0
    text = md.read_text()
    assert "<script>" not in text and not re.search(r"(?<!\\)\]\(", text)  # no raw HTML, no link
    assert all(line.count("|") >= 2 for line in text.splitlines() if line.startswith("|"))
    import csv as csv_module

    for row in csv_module.reader(csv.read_text().splitlines()):
        for cell in row:
            assert not cell.startswith(("=", "@", "+")), cell
    report = tmp_path / "r.html"
    assert cli("report", folder, "--out", report).code == 0
    assert "<script>alert(1)</script>" not in report.read_text()


CASES = (
    [pytest.param(f, v) for f, v in RUN_FLAGS]
    + [pytest.param(c) for c in RUN_FILES]
    + [pytest.param(c) for c in BROKEN_LINES]
    + [pytest.param(c) for c in HOSTILE_NAMES]
    + [pytest.param(c) for c in ("out-file", "erofs", "eacces", "append-full", "report-full", "report-dir")]
    + [pytest.param(c) for c in ("nothing", "new-variant", "probes", "scale", "timeout", "same-args", "lock")]
)
