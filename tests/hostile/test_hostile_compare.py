"""Hostile inputs to the CI gate (`archbench compare`): every unusable file is exit 2 naming it;
no NaN, negative time, lost row or new failure passes; every exit 1 says which numbers block."""

from __future__ import annotations

import json

import pytest
from hostile import assert_accepted, assert_exit, assert_rejected, cli

from suite.analysis.noise import NoiseTable


@pytest.fixture(autouse=True)
def no_noise_floor(monkeypatch):
    """The cases pin exit codes of the statistics; the shipped table's floors (measured on a shared
    machine) are not what they test. A --noise file still replaces this."""
    monkeypatch.setattr("suite.analysis.compare.shipped", lambda: NoiseTable({}, source="none (tests)"))


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
    "nan-value": (
        [_row("a", value=float("nan")), *BASE_ROWS[1:]],
        1,
        ["a / latency / decode_ms: failed", "non-finite"],
    ),
    "inf-value": (
        [_row("a", value=float("inf")), *BASE_ROWS[1:]],
        1,
        ["a / latency / decode_ms: failed", "non-finite"],
    ),
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
    "negative-count": (
        [*BASE_ROWS[:2], _row("c", metric="params_total", value=-1e6, unit="count", probe="analytic", samples=())],
        1,
        ["c / analytic / params_total", "candidate value -1e+06 count is negative"],
    ),
    "zero-time": ([_row("a", value=0.0, samples=(0.0, 0.0, 0.0)), *BASE_ROWS[1:]], 1, ["candidate median time is 0"]),
    "value-a-string": ([_row("a", value="fast"), *BASE_ROWS[1:]], 1, ["a / latency / decode_ms: missing"]),
    "status-unknown": ([_row("a", status="weird", error="?"), *BASE_ROWS[1:]], 1, ["a / latency / decode_ms: missing"]),
    "settings-changed": (
        [_row("a", **{"settings.context": 128}), *BASE_ROWS[1:]],
        1,
        ["a / latency / decode_ms: missing", "new"],
    ),
    "renamed-metric": ([_row("a", metric="decode_ms2"), *BASE_ROWS[1:]], 1, ["decode_ms: missing"]),
    "every-cell-timed-out": (
        [_row(v, metric="", value=None, status="timeout", error="past 300 s") for v in "abc"],
        1,
        ["timeout: past 300 s", "and"],
    ),
    "improvement": ([_row("a", value=5.0, samples=(4.9, 5.0, 5.1) * 5), *BASE_ROWS[1:]], 0, ["improvement"]),
    "extra-not-json": ([_row("a", extra="{{{"), *BASE_ROWS[1:]], 0, ["PASS"]),
    "markup-in-a-name": ([*BASE_ROWS, _row("[red]evil[/red]|`x`")], 0, ["[red]evil[/red]|`x`"]),
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
    "benchmarks-an-object": ({"benchmarks": {"t": 1}}, "field 'benchmarks'"),
    "benchmarks-empty": (_bench(), "holds no benchmarks"),
    "params-a-list": (_bench({**_b("t"), "params": [1]}), "benchmarks[0].params"),
    "group-an-object": (_bench({**_b("t"), "group": {}}), "benchmarks[0].group"),
    "duplicate-names-same-group": (
        _bench({**_b("t"), "group": "g"}, {**_b("t"), "group": "g"}),
        "(benchmarks[0] and benchmarks[1]) with the same group and params",
    ),
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


BENCH_VALUES = {  # candidate benchmark -> (exit code, needles)
    "negative-median": (_b("t", data=(-1.0, -1.1, -0.9), median=-1.0), 1, ["negative"]),
    "zero-median": (_b("t", data=(0.0, 0.0, 0.0), median=0.0), 1, ["candidate median time is 0 s"]),
    "same-name-other-group": (None, 0, ["PASS"]),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(BENCH_VALUES))
def test_benchmark_values(tmp_path, case):
    bench, code, needles = BENCH_VALUES[case]
    good, cand = tmp_path / "good.json", tmp_path / "cand.json"
    if bench is None:  # two benchmarks of one name that their groups tell apart: both kept, not one
        good.write_text(json.dumps(_bench({**_b("t"), "group": "a"}, {**_b("t"), "group": "b"})))
        cand.write_text(json.dumps(_bench({**_b("t"), "group": "a"}, {**_b("t"), "group": "b"})))
        o = cli("compare", good, cand, "--all")
        assert "2 same" in o.out, o
    else:
        good.write_text(json.dumps(_bench(_b("t"))))
        cand.write_text(json.dumps(_bench(bench)))
        o = cli("compare", good, cand)
    assert_exit(o, code, *needles) if code else assert_accepted(o)
    for needle in needles:
        assert needle in o.out + o.err, o


NOISE_FAULTS = {  # --noise FILE content -> needles
    "wrong-format": ('{"format": "x"}', ["field 'format'", "not an archbench noise table"]),
    "no-format": ('{"sigmas": {}}', ["field 'format'"]),
    "top-level-list": ("[1]", ["expected an object"]),
    "sigma-negative": ('{"format": "archbench-noise/1", "sigmas": {"latency/x": -1}}', ["sigmas.latency/x", "[0, 2]"]),
    "sigma-huge": ('{"format": "archbench-noise/1", "sigmas": {"latency/x": 50}}', ["sigmas.latency/x"]),
    "sigma-a-string": ('{"format": "archbench-noise/1", "sigmas": {"latency/x": "1%"}}', ["got str"]),
    "sigma-nan": ('{"format": "archbench-noise/1", "sigmas": {"latency/x": NaN}}', ["NaN is not valid JSON"]),
    "sigmas-a-list": ('{"format": "archbench-noise/1", "sigmas": [0.1]}', ["field 'sigmas'"]),
    "k-zero": ('{"format": "archbench-noise/1", "k": 0}', ["field 'k'", "k > 0"]),
    "k-negative": ('{"format": "archbench-noise/1", "k": -3}', ["field 'k'"]),
    "default-a-bool": ('{"format": "archbench-noise/1", "default": true}', ["field 'default'"]),
    "truncated": ('{"format": "archbench-noise/1", "sig', ["not valid JSON"]),
    "not-utf8": (b"\xff\xfe\x00", ["not UTF-8"]),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(NOISE_FAULTS))
def test_bad_noise_files(tmp_path, case):
    content, needles = NOISE_FAULTS[case]
    good = _run(tmp_path, "good", BASE_ROWS)
    noise = tmp_path / "noise.json"
    noise.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert_rejected(cli("compare", good, good, "--noise", noise), "noise.json", *needles)


CLI_MISUSE = {  # argv (after "compare"; {good} {empty} {missing} filled in) -> needles
    "calibrate-one-run": (["--calibrate-noise", "{good}"], ["at least two runs", "got 1"]),
    "calibrate-missing-run": (["--calibrate-noise", "{good}", "{missing}"], ["run 2 of --calibrate-noise", "missing"]),
    "calibrate-no-timed-rows": (["--calibrate-noise", "{untimed}", "{untimed}"], ["share no timed rows"]),
    "calibrate-and-positionals": (["{good}", "{good}", "--calibrate-noise", "{good}", "{good}"], ["no BASELINE"]),
    "one-positional": (["{good}"], ["compare needs BASELINE and CANDIDATE"]),
    "noise-out-alone": (["{good}", "{good}", "--noise-out", "x.json"], ["--noise-out"]),
    "remeasure-negative": (["{good}", "{good}", "--remeasure", "-1"], ["--remeasure"]),
    "noise-k-zero": (["{good}", "{good}", "--noise-k", "0"], ["--noise-k"]),
    "noise-is-a-directory": (["{good}", "{good}", "--noise", "{good}"], ["good", "directory"]),
    "noise-missing": (["{good}", "{good}", "--noise", "{missing}"], ["missing"]),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(CLI_MISUSE))
def test_cli_misuse(tmp_path, case):
    argv, needles = CLI_MISUSE[case]
    names = dict(
        good=_run(tmp_path, "good", BASE_ROWS),
        untimed=_run(tmp_path, "untimed", BASE_ROWS[2:]),
        missing=tmp_path / "missing",
    )
    assert_rejected(cli("compare", *(a.format(**names) for a in argv)), *needles)


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
    + [pytest.param(c) for c in BENCH_VALUES]
    + [pytest.param(c) for c in NOISE_FAULTS]
    + [pytest.param(c) for c in CLI_MISUSE]
    + [pytest.param(c) for c in FILE_FAULTS]
    + [pytest.param(c) for c in ("allow-missing", "empty-baseline", "empty-candidate", "mixed-kinds")]
    + [pytest.param(v) for v in ("-1", "nan", "inf", "x")]
)
