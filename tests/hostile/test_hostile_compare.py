"""Hostile inputs to the CI gate (`archbench compare`): every unusable file is exit 2 naming it;
no NaN, negative time, lost row or new failure passes; every exit 1 says which numbers block."""

from __future__ import annotations

import json

import pytest
from hostile import assert_accepted, assert_exit, assert_rejected, cli


def _row(variant="v", metric="decode_ms", value=10.0, samples=(9.0, 10.0, 11.0), **kw):
    row = dict(
        run_id="r", cell_id=f"c-{variant}-{metric}", attempt=f"a-{variant}-{metric}", variant=variant, family="f",
        scale="tiny", probe="latency", metric=metric, value=value, unit="ms", lower_is_better=True, status="ok",
        error="", extra=json.dumps({"samples": list(samples)}), cell_rows=1,
    )  # fmt: skip
    row.update(kw)
    return row


def _run(tmp_path, name, rows, raw=()):
    folder = tmp_path / name
    folder.mkdir()
    lines = [json.dumps(r) for r in rows] + list(raw)
    (folder / "results.jsonl").write_text("\n".join(lines) + "\n")
    return folder


BASE_ROWS = [
    _row("a"),
    _row("b"),
    _row("c", metric="params_total", value=1e6, unit="count", probe="analytic", samples=()),
]

# candidate rows -> (exit code, needles)
RESULT_CASES = {
    "identical": (BASE_ROWS, 0, ["PASS"]),
    "nan-value": ([_row("a", value=float("nan")), *BASE_ROWS[1:]], 1, ["a / latency / decode_ms", "no value"]),
    "inf-value": ([_row("a", value=float("inf")), *BASE_ROWS[1:]], 1, ["not a finite"]),
    "negative-time": ([_row("a", value=-5.0, samples=(-5.0,)), *BASE_ROWS[1:]], 1, ["negative"]),
    "lost-variant": (BASE_ROWS[1:], 1, ["a / latency / decode_ms: missing", "--allow-missing"]),
    "lost-everything-but-one": (BASE_ROWS[2:], 1, ["a / latency / decode_ms: missing", "b / latency"]),
    "timeout-cell": (
        [_row("a", metric="", value=None, status="timeout", error="past 300 s"), *BASE_ROWS[1:]],
        1,
        ["timeout"],
    ),
    "oom-row": ([_row("a", value=None, status="oom", error="cap 1GB"), *BASE_ROWS[1:]], 1, ["oom"]),
    "error-row": ([_row("a", value=None, status="error", error="boom"), *BASE_ROWS[1:]], 1, ["boom"]),
    "exact-change": (
        [*BASE_ROWS[:2], _row("c", metric="params_total", value=2e6, unit="count", probe="analytic", samples=())],
        0,
        ["changed"],
    ),
    "new-variant": ([*BASE_ROWS, _row("d")], 0, ["new"]),
    "real-regression": ([_row("a", value=20.0, samples=(19.0, 20.0, 21.0) * 5), *BASE_ROWS[1:]], 1, ["regression"]),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(RESULT_CASES))
def test_results_candidates(tmp_path, case):
    rows, code, needles = RESULT_CASES[case]
    if case == "real-regression":
        base_rows = [_row("a", samples=(9.0, 10.0, 11.0) * 5), *BASE_ROWS[1:]]
    else:
        base_rows = BASE_ROWS
    base, cand = _run(tmp_path, "base", base_rows), _run(tmp_path, "cand", rows)
    o = cli("compare", base, cand)
    if code == 0:
        assert_accepted(o)
        for needle in needles:
            assert needle in o.out, o
    else:
        assert_exit(o, code, *needles)
    j = cli("compare", base, cand, "--json")
    assert j.code == code
    json.loads(j.out, parse_constant=lambda name: pytest.fail(f"bare {name} in --json output"))
    if code:
        assert "blocking" in j.err  # --json says why on stderr too


@pytest.mark.hostile
def test_allow_missing_accepts_dropped_variants(tmp_path):
    base, cand = _run(tmp_path, "base", BASE_ROWS), _run(tmp_path, "cand", BASE_ROWS[1:])
    assert_accepted(cli("compare", base, cand, "--allow-missing"))


def _bench(*benches):
    return {"benchmarks": list(benches)}


def _b(name="t", data=(1.0, 1.1, 0.9), **stats):
    return {"name": name, "fullname": name, "stats": {"median": 1.0, "data": list(data), **stats}}


BENCH_FAULTS = {
    "stats-a-list": (_bench({"name": "t", "fullname": "t", "stats": [1, 2]}), "stats"),
    "benchmark-a-number": (_bench(3), "benchmarks[0]"),
    "benchmark-a-string": (_bench("t"), "benchmarks[0]"),
    "name-a-number": (_bench({"fullname": 7, "stats": {"median": 1.0}}), "fullname"),
    "duplicate-names": (_bench(_b("t"), _b("t")), "two benchmarks are named 't'"),
    "data-a-string": (_bench(_b("t", data="fast")), "stats.data"),
    "data-with-a-string": (_bench(_b("t", data=[1.0, "x"])), "stats.data"),
    "median-a-string": (_bench({"fullname": "t", "stats": {"median": "1s"}}), "stats.median"),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(BENCH_FAULTS))
def test_malformed_benchmark_json(tmp_path, case):
    data, needle = BENCH_FAULTS[case]
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(_bench(_b("t"))))
    bad.write_text(json.dumps(data))
    assert_rejected(cli("compare", good, bad, "--benchmark"), "bad.json", needle)


FILE_FAULTS = {
    "missing": (None, "does not exist"),
    "empty-json": ("", "not valid JSON"),
    "nan-json": ('{"benchmarks": [{"fullname": "t", "stats": {"median": NaN}}]}', "NaN is not valid JSON"),
    "truncated-json": ('{"benchmarks": [', "not valid JSON"),
    "not-utf8": (b"\xff\xfe{}", "not UTF-8"),
    "top-level-list": ("[1, 2]", "not pytest-benchmark JSON"),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(FILE_FAULTS))
def test_unreadable_benchmark_files(tmp_path, case):
    content, needle = FILE_FAULTS[case]
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(_bench(_b("t"))))
    if isinstance(content, bytes):
        bad.write_bytes(content)
    elif content is not None:
        bad.write_text(content)
    assert_rejected(cli("compare", good, bad, "--benchmark"), "bad.json", needle)


@pytest.mark.hostile
@pytest.mark.parametrize("side", ["baseline", "candidate"])
def test_empty_or_foreign_results_folders(tmp_path, side):
    good = _run(tmp_path, "good", BASE_ROWS)
    empty = tmp_path / "empty"
    empty.mkdir()
    args = (empty, good) if side == "baseline" else (good, empty)
    assert_rejected(cli("compare", *args), side, "empty")
    (empty / "results.jsonl").write_text("")
    assert_rejected(cli("compare", *args), side, "no result rows")


@pytest.mark.hostile
def test_a_results_folder_against_a_benchmark_file(tmp_path):
    good = _run(tmp_path, "good", BASE_ROWS)
    bench = tmp_path / "b.json"
    bench.write_text(json.dumps(_bench(_b("t"))))
    assert_rejected(cli("compare", good, bench), "cannot compare")


@pytest.mark.hostile
@pytest.mark.parametrize("value", ["-1", "nan", "inf", "x"])
def test_bad_threshold(tmp_path, value):
    good = _run(tmp_path, "good", BASE_ROWS)
    assert_rejected(cli("compare", good, good, "--threshold", value), "--threshold")


CASES = (
    [pytest.param(c) for c in RESULT_CASES]
    + [pytest.param(c) for c in BENCH_FAULTS]
    + [pytest.param(c) for c in FILE_FAULTS]
    + [pytest.param(c) for c in ("allow-missing", "empty-baseline", "empty-candidate", "mixed-kinds")]
    + [pytest.param(v) for v in ("-1", "nan", "inf", "x")]
)
