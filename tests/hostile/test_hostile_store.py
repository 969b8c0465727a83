"""Hostile results folders, run flags and file-system faults: a clear error (exit 2) and nothing lost;
rows that cannot be right are skipped with a warning naming the line; hostile names in results files
come out escaped in every output format; no NaN is recorded as an ok number."""

from __future__ import annotations

import csv as csv_module
import errno
import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hostile import assert_accepted, assert_exit, assert_rejected, cli, snapshot

from suite import probes as probe_registry

FAKES = str(Path(__file__).resolve().parents[1] / "fake_probes.py")
SUITE = "variants: [gpt2-small]\nprobes:\n  - probe: fake_ok\n"

pytestmark = pytest.mark.hostile


@pytest.fixture(autouse=True)
def _forget_fake_probes():
    """Probes registered from a file by a case (`--probe-module`) never leak into other tests."""
    yield
    for name, spec in list(probe_registry.PROBES.items()):
        if spec.fn.__module__.startswith("archbench_probes_"):
            del probe_registry.PROBES[name]
    for name in [n for n in sys.modules if n.startswith("archbench_probes_")]:
        del sys.modules[name]


def _suite(tmp_path, text: str = SUITE) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def _run(tmp_path, out, *extra, report=False, modules=(FAKES,)):
    args = ["run", "--suite", _suite(tmp_path), "--out", out, *extra]
    for module in modules:
        args += ["--probe-module", module]
    return cli(*args, *([] if report else ["--no-report"]))


def _fail_for(name: str, code: int, real):
    """`real` (os.replace, os.write, ...) that fails with `code` when its path argument ends with `name`."""

    def fake(*args, **kwargs):
        if any(str(a).endswith(name) for a in args if isinstance(a, (str, os.PathLike))):
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    return fake


# ------------------------------------------------------------------ run flags
RUN_FLAGS = [
    pytest.param("--jobs", "0", id="jobs=0"),
    pytest.param("--jobs", "-1", id="jobs=-1"),
    pytest.param("--jobs", "two", id="jobs=two"),
    pytest.param("--jobs", "1.5", id="jobs=1.5"),
    pytest.param("--timeout", "0", id="timeout=0"),
    pytest.param("--timeout", "-1", id="timeout=-1"),
    pytest.param("--timeout", "nan", id="timeout=nan"),
    pytest.param("--timeout", "inf", id="timeout=inf"),
    pytest.param("--timeout", "1e400", id="timeout=1e400"),
    pytest.param("--timeout", "soon", id="timeout=soon"),
    pytest.param("--memory-cap", "0GB", id="memory-cap=0GB"),
    pytest.param("--memory-cap", "1e400GB", id="memory-cap=1e400GB"),
    pytest.param("--memory-cap", "lots", id="memory-cap=lots"),
    pytest.param("--memory-cap", "nan", id="memory-cap=nan"),
    pytest.param("--scale", "huge", id="scale=huge"),
]
FLAG_MESSAGES = {"--jobs": "must be a positive integer|expected an integer", "--timeout": "must be|expected a number"}


@pytest.mark.parametrize("flag, value", RUN_FLAGS)
def test_run_flags_out_of_range(tmp_path, flag, value):
    out = tmp_path / "out"
    o = _run(tmp_path, out, f"{flag}={value}")
    assert_rejected(o, f"argument {flag}")
    if flag in FLAG_MESSAGES:
        assert re.search(FLAG_MESSAGES[flag], o.err), o
    assert not out.exists()  # refused before any work


# ------------------------------------------------------------------ the results folder
def _refuse_mkstemp(code):
    real = tempfile.mkstemp

    def fake(*args, **kwargs):  # root ignores chmod, so the OS answer is simulated
        if ".archbench-write-check." in str(kwargs.get("prefix", "")):
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    return fake


FOLDER_FAULTS = [
    pytest.param("erofs", errno.EROFS, "the file system is read-only", id="out-read-only"),
    pytest.param("eacces", errno.EACCES, "permission denied", id="out-permission-denied"),
    pytest.param("enospc", errno.ENOSPC, "the disk is full", id="out-disk-full"),
]


@pytest.mark.parametrize("case, code, needle", FOLDER_FAULTS)
def test_out_is_not_writable(tmp_path, monkeypatch, case, code, needle):
    monkeypatch.setattr(tempfile, "mkstemp", _refuse_mkstemp(code))
    out = tmp_path / "out"
    assert_rejected(_run(tmp_path, out), "results folder (--out)", str(out), needle)
    assert not (out / "results.jsonl").exists() and not (out / "run.json").exists()


OUT_PATHS = [
    pytest.param("file", "is a file, not a folder", id="out-is-a-file"),
    pytest.param("under-a-file", "a part of the path is not a directory", id="out-under-a-file"),
]


@pytest.mark.parametrize("case, needle", OUT_PATHS)
def test_out_that_is_not_a_folder(tmp_path, case, needle):
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    out = blocker if case == "file" else blocker / "sub"
    assert_rejected(_run(tmp_path, out), str(out), needle)
    assert blocker.read_text() == "not a folder"
    assert_rejected(_run(tmp_path, out, "--resume"), str(out), needle)  # --resume says the same


WRITE_FAULTS = [
    pytest.param("append-full", "write", "results.jsonl", errno.ENOSPC, "the disk is full", id="append-disk-full"),
    pytest.param("append-erofs", "open", "results.jsonl", errno.EROFS, "read-only", id="append-read-only"),
    pytest.param("run-file-full", "replace", "run.json", errno.ENOSPC, "the disk is full", id="run-json-disk-full"),
    pytest.param("parquet-full", "replace", "results.parquet", errno.ENOSPC, "complete in", id="parquet-disk-full"),
]


@pytest.mark.parametrize("case, call, name, code, needle", WRITE_FAULTS)
def test_a_failed_write_keeps_every_earlier_file(tmp_path, monkeypatch, case, call, name, code, needle):
    out = tmp_path / "out"
    assert_accepted(_run(tmp_path, out))
    before = snapshot(out)
    if call == "write":
        real_write = os.write

        def full(fd, data):
            real_write(fd, bytes(data)[:10])  # half a row reaches the disk, then it is full
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(os, "write", full)
    else:
        monkeypatch.setattr(os, call, _fail_for(name, code, getattr(os, call)))
    o = _run(tmp_path, out, "--force")
    monkeypatch.undo()
    assert_rejected(o, name, needle)
    after = snapshot(out)
    assert after[name] == before[name], f"{name} changed"
    assert after.get("results.jsonl") == before["results.jsonl"] or case == "parquet-full"
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_disk_full_while_writing_the_report_keeps_the_earlier_report(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert_accepted(_run(tmp_path, out, report=True))
    good = (out / "report.html").read_bytes()
    monkeypatch.setattr(os, "replace", _fail_for("report.html", errno.ENOSPC, os.replace))
    o = _run(tmp_path, out, "--force", report=True)
    monkeypatch.undo()
    assert_rejected(o, "report.html", "the disk is full", "The run itself finished", f"archbench report {out}")
    assert (out / "report.html").read_bytes() == good  # never the minimal page over a good report
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_bug_in_the_report_code_writes_the_minimal_page_and_exits_1(tmp_path, monkeypatch):
    from suite.report import html

    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(html, "build_view", broken)
    out = tmp_path / "out"
    o = _run(tmp_path, out, report=True)
    assert_exit(o, 1, "the report failed (KeyError: 'a bug'); writing a minimal one", "minimal")
    assert "<h2>Leaderboard</h2>" in (out / "report.html").read_text()


def _results_folder(tmp_path) -> Path:
    out = tmp_path / "res"
    assert_accepted(_run(tmp_path, out))
    return out


OUTPUT_FAULTS = [
    pytest.param("report", "--out", "dir", "is a directory", id="report-out-is-a-directory"),
    pytest.param("report", "--out", "under-file", "is a file, not a folder", id="report-out-under-a-file"),
    pytest.param("report", "--out", "read-only", "read-only", id="report-out-read-only"),
    pytest.param("report", "--out", "full", "the disk is full", id="report-out-disk-full"),
    pytest.param("table", "--csv", "dir", "is a directory", id="table-csv-is-a-directory"),
    pytest.param("table", "--csv", "full", "the disk is full", id="table-csv-disk-full"),
    pytest.param("table", "--markdown", "dir", "is a directory", id="table-markdown-is-a-directory"),
    pytest.param("table", "--markdown", "read-only", "read-only", id="table-markdown-read-only"),
]


@pytest.mark.parametrize("command, flag, case, needle", OUTPUT_FAULTS)
def test_outputs_that_cannot_be_written(tmp_path, monkeypatch, command, flag, case, needle):
    folder = _results_folder(tmp_path)
    extra = ["--metrics", "fake_metric"] if command == "table" else []  # not a key metric
    target = tmp_path / "target"
    if case == "dir":
        target.mkdir()
    elif case == "under-file":
        target.write_text("x")
        target = target / "r.html"
    elif case == "full":
        assert_accepted(cli(command, folder, flag, target, *extra))  # a good earlier file
        monkeypatch.setattr(os, "replace", _fail_for(target.name, errno.ENOSPC, os.replace))
    elif case == "read-only":
        monkeypatch.setattr(tempfile, "mkstemp", _refuse_mkstemp(errno.EROFS))
    before = snapshot(tmp_path)
    o = cli(command, folder, flag, target, *extra)
    monkeypatch.undo()
    assert_rejected(o, str(target), needle)
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------ run.json and --resume
RUN_FILES = [
    pytest.param("{run_id: 1", "is not valid JSON", id="run-json-not-json"),
    pytest.param('{"run_id": "x", "args": {}, "cells": NaN}', "NaN is not valid JSON", id="run-json-nan"),
    pytest.param("[1, 2]", "is not an archbench run file", id="run-json-list"),
    pytest.param('{"run_id": "x"}', "is not an archbench run file", id="run-json-no-args"),
    pytest.param('{"run_id": 3, "args": {}}', "is not an archbench run file", id="run-json-run-id-number"),
    pytest.param("\udcff\udcfe", "is not UTF-8 text", id="run-json-binary"),
    pytest.param("", "is not valid JSON", id="run-json-empty"),
    pytest.param('{"run_id": "x", "args": {"variants": "gpt2"}}', "args.variants", id="args-variants-string"),
    pytest.param('{"run_id": "x", "args": {"variants": [1]}}', "args.variants", id="args-variants-numbers"),
    pytest.param('{"run_id": "x", "args": {"jobs": 0}}', "args.jobs", id="args-jobs-0"),
    pytest.param('{"run_id": "x", "args": {"jobs": "x"}}', "args.jobs", id="args-jobs-string"),
    pytest.param('{"run_id": "x", "args": {"timeout": -1}}', "args.timeout", id="args-timeout-negative"),
    pytest.param('{"run_id": "x", "args": {"timeout": 1e999}}', "args.timeout", id="args-timeout-inf"),
    pytest.param('{"run_id": "x", "args": {"scale": "huge"}}', "args.scale", id="args-scale-unknown"),
    pytest.param('{"run_id": "x", "args": {"memory_cap": "lots"}}', "args.memory_cap", id="args-memory-cap"),
    pytest.param('{"run_id": "x", "args": {"force": "yes"}}', "args.force", id="args-force-string"),
    pytest.param('{"run_id": "x", "args": {"probes": {"a": 1}}}', "args.probes", id="args-probes-mapping"),
]


@pytest.mark.parametrize("text, needle", RUN_FILES)
def test_corrupted_run_file_on_resume(tmp_path, text, needle):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    before = snapshot(out)
    o = _run(tmp_path, out, "--resume")
    assert_rejected(o, str(out / "run.json"), needle)
    assert "start a new run with another --out, or delete it" in o.err.lower()
    assert snapshot(out) == before


def test_nothing_to_resume(tmp_path):
    out = tmp_path / "fresh"
    assert_rejected(_run(tmp_path, out, "--resume"), f"nothing to resume in {out}: no run.json there")
    assert not out.exists()


RESUME_MISMATCHES = [
    pytest.param(["gpt2-medium"], "variants differs: given ['gpt2-medium'], recorded []", id="resume-new-variant"),
    pytest.param(["--probes", "fake_isolated"], "--probes differs", id="resume-other-probes"),
    pytest.param(["--scale", "small"], "--scale differs: given 'small', recorded None", id="resume-other-scale"),
    pytest.param(["--timeout", "7"], "--timeout differs: given 7.0, recorded None", id="resume-other-timeout"),
    pytest.param(["--memory-cap", "1GB"], "--memory-cap differs", id="resume-other-memory-cap"),
    pytest.param(["--force"], "--force differs: given True, recorded False", id="resume-force"),
    pytest.param(["--suite", "quick"], "--suite differs", id="resume-other-suite"),
]


@pytest.mark.parametrize("extra, needle", RESUME_MISMATCHES)
def test_resume_refuses_different_arguments(tmp_path, extra, needle):
    out = tmp_path / "out"
    assert_accepted(_run(tmp_path, out))
    before = snapshot(out)
    o = cli("run", "--out", out, "--resume", "--no-report", *extra)
    assert_rejected(o, str(out / "run.json"), needle, "Drop the argument to resume")
    assert snapshot(out) == before  # the old run's record and rows are untouched


RESUME_ACCEPTED = [
    pytest.param([], id="resume-no-arguments"),
    pytest.param(["--jobs", "2"], id="resume-other-jobs"),
    pytest.param(["--probe-module", FAKES], id="resume-same-arguments"),
]


@pytest.mark.parametrize("extra", RESUME_ACCEPTED)
def test_resume_with_the_same_or_no_arguments_is_accepted(tmp_path, extra):
    out = tmp_path / "out"
    assert_accepted(_run(tmp_path, out))
    run_id = json.loads((out / "run.json").read_text())["run_id"]
    o = cli("run", "--out", out, "--resume", "--no-report", *extra)
    assert_accepted(o)
    assert "1 cached, 0 run" in o.out
    assert json.loads((out / "run.json").read_text())["run_id"] == run_id


# ------------------------------------------------------------------ the lock
def _holder(lock: Path) -> subprocess.Popen:
    """Another process holding the folder's lock, as a concurrent run would."""
    code = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.write(fd, str(os.getpid()).encode())\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


LOCK_CASES = [
    pytest.param("held-in-process", id="lock-held-here"),
    pytest.param("held-by-a-process", id="lock-held-by-another-process"),
    pytest.param("killed-holder", id="lock-of-a-killed-process"),
    pytest.param("stale-file", id="lock-file-left-behind"),
]


@pytest.mark.parametrize("case", LOCK_CASES)
def test_a_folder_is_written_by_one_run_at_a_time(tmp_path, case):
    out = tmp_path / "out"
    out.mkdir()
    lock = out / ".archbench.lock"
    if case == "held-in-process":
        with open(lock, "w") as held:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held.write("4242")
            held.flush()
            o = _run(tmp_path, out)
        assert_rejected(o, f"{out} is being written by another run (pid 4242)")
        assert not (out / "results.jsonl").exists()
    elif case in ("held-by-a-process", "killed-holder"):
        proc = _holder(lock)
        try:
            if case == "held-by-a-process":
                assert_rejected(_run(tmp_path, out), f"being written by another run (pid {proc.pid})")
                assert not (out / "results.jsonl").exists()
        finally:
            proc.kill()
            proc.wait()
    else:
        lock.write_text("999999")  # a pid, but no process holds the flock
    if case != "held-by-a-process":
        assert_accepted(_run(tmp_path, out))  # a lock never outlives its holder


# ------------------------------------------------------------------ results files
def _row(variant="v", metric="params_total", value=1.0e6, **kw):
    row = dict(
        run_id="r", cell_id=f"c-{variant}-{metric}", attempt=f"a-{variant}-{metric}", variant=variant,
        family="f", scale="tiny", probe="analytic", metric=metric, value=value, unit="count",
        lower_is_better=True, status="ok", error="", extra="{}", cell_rows=1,
    )  # fmt: skip
    row.update(kw)
    return row


def _results(tmp_path, rows, raw_lines=()) -> Path:
    folder = tmp_path / "res"
    folder.mkdir(exist_ok=True)
    lines = [json.dumps(r).encode() for r in rows] + [line.encode("utf-8", "surrogateescape") for line in raw_lines]
    (folder / "results.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return folder


def _table_and_csv(folder, tmp_path):
    o = cli("table", folder, "--csv", tmp_path / "t.csv")
    return o, list(csv_module.DictReader((tmp_path / "t.csv").read_text().splitlines())) if o.code == 0 else []


def _bad(field: str, value, **more) -> str:
    """A results line for variant "w" with one field set to `value`."""
    return json.dumps({**_row("w"), field: value, **more})


BROKEN_LINES = [
    pytest.param("[1, 2, 3]", "skipped line 2: it is a list, not a results row", id="line-list"),
    pytest.param("42", "skipped line 2: it is an integer, not a results row", id="line-number"),
    pytest.param('"row"', "skipped line 2: it is a string, not a results row", id="line-string"),
    pytest.param('{"run_id": "r", "metr', "skipped unreadable line 2 (torn by a crash?)", id="line-torn"),
    pytest.param("[" * 3000 + "]" * 3000, "skipped unreadable line 2", id="line-deep"),
    pytest.param("\udcff\udcfe garbage", "skipped unreadable line 2", id="line-not-utf8"),
    pytest.param(_bad("variant", ["w"]), "line 2: field 'variant' is a list, expected a string", id="variant-list"),
    pytest.param(_bad("variant", {"a": 1}), "field 'variant' is an object", id="variant-object"),
    pytest.param(_bad("metric", [1]), "field 'metric' is a list", id="metric-list"),
    pytest.param(_bad("value", "12"), "field 'value' is a string, expected a number or null", id="value-string"),
    pytest.param(_bad("value", True), "field 'value' is true/false", id="value-bool"),
    pytest.param(_bad("status", "great"), "field 'status' is 'great', expected one of ok", id="status-unknown"),
    pytest.param(_bad("cell_rows", "2"), "field 'cell_rows' is a string, expected an integer", id="cell-rows-string"),
    pytest.param(_bad("lower_is_better", "yes"), "field 'lower_is_better' is a string", id="direction-string"),
    pytest.param(_bad("cell_id", [1]), "field 'cell_id' is a list", id="cell-id-list"),
    pytest.param(_bad("error", {"a": 1}, status="error"), "field 'error' is an object", id="error-object"),
]


@pytest.mark.parametrize("line, warning", BROKEN_LINES)
def test_rows_that_cannot_be_right_are_skipped_with_a_warning(tmp_path, line, warning):
    folder = _results(tmp_path, [_row()], [line])
    o, rows = _table_and_csv(folder, tmp_path)
    assert_accepted(o)
    assert f"archbench: warning: {folder / 'results.jsonl'}: " in o.err and warning in o.err, o
    assert [r["variant"] for r in rows] == ["v"]  # the good row is kept, the bad one is not shown


NONFINITE = [
    pytest.param("NaN", id="value-nan"),
    pytest.param("Infinity", id="value-infinity"),
    pytest.param("-Infinity", id="value-minus-infinity"),
    pytest.param("1e999", id="value-overflow"),
]


@pytest.mark.parametrize("literal", NONFINITE)
def test_a_non_finite_value_is_a_failed_row_never_an_ok_number(tmp_path, literal):
    bad = json.dumps(_row("w", value=1.0)).replace('"value": 1.0', f'"value": {literal}')
    folder = _results(tmp_path, [_row()], [bad])
    o, rows = _table_and_csv(folder, tmp_path)
    assert_accepted(o)
    w = next(r for r in rows if r["variant"] == "w")
    assert w["params_total [count]"] == "error" and w["params_total rank"] == ""
    assert not re.search(r"\b(nan|inf|infinity)\b", o.out.lower()), o
    assert "failed" in o.out  # the terminal shows the failure, not a number


EMPTY_RESULTS = [
    pytest.param("empty", "no results in {file}: it holds no result rows", id="empty-file"),
    pytest.param("blank", "no results in {file}: it holds no result rows", id="blank-lines"),
    pytest.param("only-bad", "no results in {file}: it holds no result rows", id="only-bad-lines"),
    pytest.param("missing", "no results in {folder}: expected {file}", id="missing-folder"),
    pytest.param("no-file", "no results in {folder}: expected {file}", id="folder-without-results"),
    pytest.param("txt", "is not a results file: give a results folder, a .jsonl or a .parquet file", id="a-text-file"),
    pytest.param("dir", "cannot read results file {file}: it is a directory", id="results-file-is-a-directory"),
    pytest.param("parquet", "is not a readable parquet file", id="corrupt-parquet"),
    pytest.param("failed-only", "no successful results to tabulate in {folder}", id="only-failed-cells"),
]


@pytest.mark.parametrize("command", ["table", "report"])
@pytest.mark.parametrize("case, needle", EMPTY_RESULTS)
def test_no_results_is_an_error_naming_the_file(tmp_path, command, case, needle):
    folder = tmp_path / "res"
    file = folder / "results.jsonl"
    if case != "missing":
        folder.mkdir()
    source = folder
    if case in ("empty", "blank", "only-bad", "failed-only"):
        text = {"empty": "", "blank": "\n  \n\n", "only-bad": "[1]\n{torn\n"}.get(case)
        file.write_text(text if text is not None else json.dumps(_row(status="error", value=None, error="boom")))
    elif case == "txt":
        source = folder / "results.txt"
        source.write_text("variant,value\n")
    elif case == "dir":
        file.mkdir()
    elif case == "parquet":
        (folder / "results.parquet").write_bytes(b"PAR1 not really")
    o = cli(command, source, *(["--out", tmp_path / "r.html"] if command == "report" else []))
    if case == "failed-only" and command == "report":
        assert_accepted(o)  # a report of failed cells is still a report
        return
    assert_rejected(o, needle.format(file=file, folder=folder))


def test_table_with_metrics_that_are_not_there(tmp_path):
    folder = _results(tmp_path, [_row()])
    o = cli("table", folder, "--metrics", "params_totl")
    assert_rejected(o, f"no metric 'params_totl' in {folder} (did you mean 'params_total'?)", "field 'metrics'")


# ------------------------------------------------------------------ escaping in every output
HOSTILE_TEXT = [
    pytest.param("[/]", id="rich-close"),
    pytest.param("[link=file:///etc/passwd]click[/link]", id="rich-link"),
    pytest.param("[bold red]shout", id="rich-style"),
    pytest.param("<script>alert(1)</script>", id="script"),
    pytest.param("</script><script>alert(1)</script>", id="close-script"),
    pytest.param("<img src=x onerror=alert(1)>", id="img-onerror"),
    pytest.param('=HYPERLINK("http://x","y")', id="formula"),
    pytest.param("@SUM(A1:A9)", id="at-formula"),
    pytest.param("+1+cmd|' /C calc'!A0", id="plus-formula"),
    pytest.param("-2+3+cmd", id="minus-formula"),
    pytest.param("a | b\n| c |", id="pipe-newline"),
    pytest.param("[x](javascript:alert(1))", id="markdown-link"),
    pytest.param("`code` *bold* _it_", id="markdown-inline"),
]


def _check_escaped(text: str, name: str, tmp_path, folder) -> None:
    md, csv_file = tmp_path / "t.md", tmp_path / "t.csv"
    assert_accepted(cli("table", folder, "--markdown", md, "--csv", csv_file))
    markdown = md.read_text()
    assert "<script" not in markdown and "<img" not in markdown  # no raw HTML
    assert not re.search(r"(?<!\\)\]\(", markdown)  # no link
    table_lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len({line.count("|") - line.count("\\|") for line in table_lines}) == 1  # no broken table
    for row in csv_module.reader(csv_file.read_text().splitlines()):
        for cell in row:
            assert not cell.startswith(("=", "@", "+", "-")) or cell.lstrip("-").replace(".", "").isdigit(), cell
    for fmt in ("md", "csv", "html"):
        assert_accepted(cli("report", folder, "--format", fmt, "--out", tmp_path / f"r.{fmt}"))
    page = (tmp_path / "r.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert (tmp_path / "r.md").read_text().count("<script") == 0
    assert (tmp_path / "r.csv").read_text() == csv_file.read_text()


@pytest.mark.parametrize("name", HOSTILE_TEXT)
def test_hostile_variant_names_are_escaped_everywhere(tmp_path, name):
    folder = _results(tmp_path, [_row(variant=name, family=name), _row(variant="plain", value=2.0e6)])
    terminal = cli("table", folder)
    assert_accepted(terminal)
    assert name.splitlines()[0][:20] in terminal.out  # printed as text: nothing swallowed as markup
    _check_escaped(name, name, tmp_path, folder)


HOSTILE_FIELDS = [
    pytest.param("metric", "[/]<script>alert(1)</script>", id="field-metric"),
    pytest.param("error", "boom [/] </script><script>alert(2)</script> =cmd", id="field-error"),
    pytest.param("settings.context", "[link=x]</script>", id="field-setting"),
    pytest.param("device", "<script>alert(3)</script>", id="field-device"),
]


@pytest.mark.parametrize("field, text", HOSTILE_FIELDS)
def test_hostile_metrics_errors_settings_and_provenance_are_escaped(tmp_path, field, text):
    hostile = _row("w", **{field: text})
    if field == "error":
        hostile.update(status="error", value=None)
    folder = _results(tmp_path, [_row(), hostile])
    metrics = ["--metrics", text, "params_total"] if field == "metric" else []
    assert_accepted(cli("table", folder, *metrics))
    _check_escaped(text, "w", tmp_path, folder)


# ------------------------------------------------------------------ no NaN through a run
NAN_PROBE = """
from suite.probes import Row, probe


@probe("fake_nonfinite", family="fake_nonfinite")
def fake_nonfinite(config, settings):
    return [Row("fake_metric", float(settings.get("value", "nan")), unit="count", lower_is_better=True)]
"""
RUN_NONFINITE = [
    pytest.param("nan", id="probe-returns-nan"),
    pytest.param("inf", id="probe-returns-inf"),
    pytest.param("-inf", id="probe-returns-minus-inf"),
]


@pytest.mark.parametrize("value", RUN_NONFINITE)
def test_a_probe_that_returns_a_non_finite_number_records_an_error_row(tmp_path, value):
    module = tmp_path / "nan_probe.py"
    module.write_text(NAN_PROBE)
    text = f"variants: [gpt2-small]\nprobes:\n  - {{probe: fake_nonfinite, settings: {{value: '{value}'}}}}\n"
    out = tmp_path / "out"
    o = cli("run", "--suite", _suite(tmp_path, text), "--probe-module", module, "--out", out, "--no-report")
    assert_accepted(o)
    raw = (out / "results.jsonl").read_text()
    assert "NaN" not in raw and "Infinity" not in raw  # strict JSON
    (row,) = [json.loads(line) for line in raw.splitlines()]
    assert row["status"] == "error" and row["value"] is None
    assert row["error"] == f"non-finite value ({float(value)}) for fake_metric"


def test_a_memory_cap_runs_in_process_cells_in_a_subprocess(tmp_path):
    """The cap is an RLIMIT of a whole process: an in-process cell with a cap would silently not be capped."""
    module = tmp_path / "pid_probe.py"
    module.write_text(
        "import os\nfrom suite.probes import Row, probe\n\n\n"
        "@probe('fake_pid_inprocess', family='fake_pid')\n"
        "def fake_pid(config, settings):\n"
        "    return [Row('fake_pid', float(os.getpid()))]\n"
    )
    text = "variants: [gpt2-small]\nprobes: [fake_pid_inprocess]\n"
    out = tmp_path / "out"
    o = cli("run", "--suite", _suite(tmp_path, text), "--probe-module", module, "--out", out, "--no-report",
            "--memory-cap", "8GB")  # fmt: skip
    assert_accepted(o)
    assert "a memory cap applies only to a whole process: 1 cell(s) of in-process probes run in a subprocess" in o.err
    (row,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert row["status"] == "ok" and row["value"] != os.getpid()


def test_a_non_finite_quality_score_is_an_error_row(monkeypatch):
    """A diverged proxy scores NaN bits/byte: the quality probe records an error with the reason."""
    from types import SimpleNamespace

    from suite.probes import quality
    from suite.quality import training

    meta = dict(tokens_seen=1, active_excl_embedding=1, params_total=1, corpus="c", corpus_sha256="s",
                seconds=0.1, val_loss=float("nan"))  # fmt: skip
    sweep = SimpleNamespace(runs=[SimpleNamespace(model=None, meta=meta)], best_lr=1e-3, sweep={1e-3: float("nan")})
    monkeypatch.setattr(training, "train_sweep", lambda *a, **k: sweep)
    monkeypatch.setattr(
        quality, "evaluate", lambda *a, **k: dict(results={"archbench_bpb": {"bits_per_byte,none": float("nan")}},
                                                  samples={}, info={}, overflow=[])
    )  # fmt: skip
    settings = dict(lrs=[1e-3], seeds=[0], limit=None, corpus="c", batch_size=1, tokens=64)
    (row,) = quality._quality(SimpleNamespace(position="rope"), settings, None, None, 64, ["archbench_bpb"])
    assert row.status == "error" and row.value is None
    assert row.error.startswith("bits_per_byte is not a finite number (nan over the seeds; validation loss nan)")


def test_the_progress_bar_prints_labels_and_errors_as_text(capsys):
    from suite.run.executors import Cell, Outcome
    from suite.run.progress import RichProgress

    cell = Cell("v", "f", "tiny", "fake_ok", {"x": "[/]"}, {}, given=("x",))
    progress = RichProgress()
    progress.start(1, 0)
    progress.advance(cell, Outcome("error", error="[link=file:///etc/passwd]boom[/link] [/]"))
    progress.close()
    out = capsys.readouterr().out
    assert "v@tiny fake_ok [x=[/]]:" in out and "[link=file:///etc/passwd]boom[/link]" in out  # literal text


CASES = (
    RUN_FLAGS
    + FOLDER_FAULTS
    + OUT_PATHS
    + WRITE_FAULTS
    + OUTPUT_FAULTS
    + RUN_FILES
    + RESUME_MISMATCHES
    + RESUME_ACCEPTED
    + LOCK_CASES
    + BROKEN_LINES
    + NONFINITE
    + [pytest.param(c, id=f"{c.id}-{cmd}") for c in EMPTY_RESULTS for cmd in ("table", "report")]
    + HOSTILE_TEXT
    + HOSTILE_FIELDS
    + RUN_NONFINITE
    + [pytest.param(id=i) for i in ("report-disk-full", "report-bug", "metrics-not-there", "nothing-to-resume")]
    + [pytest.param(id="memory-cap-in-process")]
)
