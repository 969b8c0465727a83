"""`archbench compare`: noise-aware verdicts between two runs, exit codes for CI, Markdown,
pytest-benchmark JSON in and out. Result folders are hand-made with the results store."""

import io
import json
import math

import numpy as np
import pytest

from suite.analysis.benchjson import to_pytest_benchmark
from suite.analysis.compare import bootstrap_ratio, compare, compare_entries, judge
from suite.analysis.entries import Entry
from suite.analysis.noise import NoiseTable
from suite.cli import main
from suite.report.compare_view import markdown
from suite.results import ResultStore, load_results, make_row


@pytest.fixture(autouse=True)
def no_noise_floor(monkeypatch):
    """These tests pin the statistics (bootstrap, threshold); the shipped noise table, measured on a
    shared machine, would set floors far above their changes. The floors have tests of their own."""
    monkeypatch.setattr("suite.analysis.compare.shipped", lambda: NoiseTable({}, source="none (tests)"))


def _samples(median: float, spread: float, n: int = 40, seed: int = 0) -> list[float]:
    """Timings around `median` with relative noise `spread` (uniform, so the median is ~exact)."""
    rng = np.random.default_rng(seed)
    return [float(x) for x in median * (1 + spread * rng.uniform(-1, 1, n))]


def latency(variant="v1", ms=10.0, spread=0.01, seed=0, context=64, status="ok"):
    xs = _samples(ms, spread, seed=seed)
    return dict(
        variant=variant,
        probe="latency",
        metric="prefill_ms",
        value=float(np.median(xs)),
        unit="ms",
        lower_is_better=True,
        settings={"context": context, "batch": 1},
        extra={"samples": xs},
        status=status,
    )


def analytic(variant="v1", metric="flops_decode_per_token", value=1.0e9, lower=True):
    return dict(
        variant=variant,
        probe="analytic",
        metric=metric,
        value=value,
        unit="FLOP",
        lower_is_better=lower,
        settings={"context": 1024},
        extra={},
    )


def quality(variant="v1", mean=1.50, half=0.02):
    return dict(
        variant=variant,
        probe="quality",
        metric="bits_per_byte",
        value=mean,
        unit="bits/byte",
        lower_is_better=True,
        settings={"tokens": 1000},
        extra={"values": [mean - half / 2, mean + half / 2], "ci_low": mean - half, "ci_high": mean + half},
    )


def write_run(directory, rows, run_id="r1"):
    """Each row its own cell (cell_id <variant>-<probe>-<index>), as the runner writes them."""
    for i, r in enumerate(rows):
        append_attempt(directory, r, f"{r['variant']}-{r['probe']}-{i}", f"{run_id}-{i}", run_id)
    return directory


def append_attempt(directory, row, cell_id, attempt, run_id="r3"):
    """One more attempt of a cell, as `archbench run --force` into the same folder appends it."""
    r = dict(row)
    cell = dict(
        run_id=run_id, cell_id=cell_id, variant=r.pop("variant"), family="f", scale="tiny", probe=r.pop("probe")
    )
    ResultStore(directory).append([make_row(cell=cell, bookkeeping=dict(attempt=attempt, cell_rows=1), **r)])


def run_pair(tmp_path, base_rows, cand_rows):
    return write_run(tmp_path / "base", base_rows), write_run(tmp_path / "cand", cand_rows, run_id="r2")


def verdicts(report):
    return {(c.variant, c.metric): c.verdict for c in report.comparisons}


# ------------------------------------------------------------------- verdicts
def test_identical_runs_are_all_same_and_exit_0(tmp_path, capsys):
    rows = [
        latency(),
        latency(context=128),
        analytic(),
        analytic(metric="params_total", value=1e6, lower=None),
        quality(),
    ]
    base, cand = run_pair(tmp_path, rows, rows)
    report = compare(base, cand)
    assert {c.verdict for c in report.comparisons} == {"same"} and len(report.comparisons) == 5
    assert report.exit_code() == 0
    assert main(["compare", str(base), str(cand)]) == 0
    assert "5 same" in capsys.readouterr().out


def test_30_percent_slower_with_tight_samples_is_a_regression_exit_1(tmp_path, capsys):
    base, cand = run_pair(tmp_path, [latency(ms=10.0)], [latency(ms=13.0, seed=1)])
    report = compare(base, cand)
    (c,) = report.comparisons
    assert c.verdict == "regression" and c.method == "bootstrap"
    assert c.ratio == pytest.approx(1.3, rel=0.01)
    assert 1.0 < c.ci_low <= c.ratio <= c.ci_high < 1.4
    assert main(["compare", str(base), str(cand)]) == 1
    out = capsys.readouterr().out
    assert "regression" in out and "FAIL" in out
    # the same change the other way is an improvement and passes
    assert main(["compare", str(cand), str(base)]) == 0
    assert verdicts(compare(cand, base)) == {("v1", "prefill_ms"): "improvement"}


def test_3_percent_noisy_difference_is_same(tmp_path):
    base, cand = run_pair(tmp_path, [latency(ms=10.0, spread=0.3)], [latency(ms=10.3, spread=0.3, seed=1)])
    (c,) = compare(base, cand).comparisons
    assert c.verdict == "same" and c.method == "bootstrap"
    assert c.ci_low < 1 < c.ci_high


def test_change_beyond_threshold_within_noise_is_same(tmp_path):
    """10% apart but the samples spread +-80%: not significant, so it cannot fail CI."""
    base, cand = run_pair(tmp_path, [latency(ms=10.0, spread=0.8)], [latency(ms=11.0, spread=0.8, seed=1)])
    (c,) = compare(base, cand).comparisons
    assert abs(c.ratio - 1) > 0.05 and c.ci_low < 1 < c.ci_high
    assert c.verdict == "same" and "within noise" in c.note


def test_real_but_small_change_is_under_the_threshold(tmp_path):
    """Tight samples make a 3% change significant; the threshold keeps it from failing CI."""
    base, cand = run_pair(tmp_path, [latency(ms=10.0, spread=0.001)], [latency(ms=10.3, spread=0.001, seed=1)])
    (c,) = compare(base, cand).comparisons
    assert c.verdict == "same" and c.ci_low > 1 and "threshold" in c.note
    (c,) = compare(base, cand, threshold=0.01).comparisons
    assert c.verdict == "regression"


def test_rerun_confirms_a_regression_or_clears_contention(tmp_path):
    """Timed rows pool the attempts of a cell, setting aside one far slower than the fastest: noise
    from a busy machine (all samples of one attempt slow) goes away when the cell is re-run; a real
    regression stays."""
    base, cand = run_pair(tmp_path, [latency(ms=10.0)], [latency(ms=30.0, seed=1)])  # a contended attempt
    assert verdicts(compare(base, cand)) == {("v1", "prefill_ms"): "regression"}
    append_attempt(cand, latency(ms=10.1, seed=2), "v1-latency-0", "retry")
    (c,) = compare(base, cand).comparisons
    assert (
        c.verdict == "same"
        and c.candidate == pytest.approx(10.1, rel=0.01)
        and "pooled 1 / 1 attempts, 1 contended attempt(s) set aside" in c.note
    )
    append_attempt(cand, latency(ms=13.0, seed=3), "v1-latency-0", "later")  # older attempts still count
    assert compare(base, cand).comparisons[0].verdict == "same"
    slow = write_run(tmp_path / "slow", [latency(ms=13.0, seed=1)], run_id="r4")
    append_attempt(slow, latency(ms=13.2, seed=4), "v1-latency-0", "retry")
    assert verdicts(compare(base, slow)) == {("v1", "prefill_ms"): "regression"}


def test_latest_failure_counts_and_fixed_failure_is_dropped(tmp_path):
    base, cand = run_pair(tmp_path, [latency()], [latency()])
    append_attempt(cand, latency(status="oom") | {"value": None}, "v1-latency-0", "broke")
    assert verdicts(compare(base, cand)) == {("v1", "prefill_ms"): "failed"}
    append_attempt(cand, latency(seed=5), "v1-latency-0", "fixed")
    assert verdicts(compare(base, cand)) == {("v1", "prefill_ms"): "same"}


def test_bootstrap_is_seeded():
    a, b = _samples(10, 0.2), _samples(11, 0.2, seed=3)
    assert bootstrap_ratio(a, b) == bootstrap_ratio(a, b)


def test_analytic_flop_change_by_direction(tmp_path):
    base, cand = run_pair(
        tmp_path,
        [
            analytic("v1"),
            analytic("v2"),
            analytic("v3", "params_total", 1e6, None),
            analytic("v4", "max_context_at_budget", 8192, False),
        ],
        [
            analytic("v1", value=1.0e9 * (1 + 1e-6)),
            analytic("v2", value=0.9e9),
            analytic("v3", "params_total", 1e6 + 1, None),
            analytic("v4", "max_context_at_budget", 8191, False),
        ],
    )
    report = compare(base, cand)
    assert verdicts(report) == {
        ("v1", "flops_decode_per_token"): "regression",  # exact: 1e-6 counts
        ("v2", "flops_decode_per_token"): "improvement",
        ("v3", "params_total"): "changed",  # no direction
        ("v4", "max_context_at_budget"): "regression",
    }  # higher is better
    assert {c.method for c in report.comparisons} == {"exact"}
    assert report.exit_code() == 1


def test_analytic_within_float_tolerance_is_same(tmp_path):
    base, cand = run_pair(tmp_path, [analytic()], [analytic(value=1.0e9 * (1 + 1e-12))])
    assert verdicts(compare(base, cand)) == {("v1", "flops_decode_per_token"): "same"}


def test_quality_intervals_overlap_or_not(tmp_path):
    base, cand = run_pair(
        tmp_path, [quality("v1"), quality("v2")], [quality("v1", mean=1.53, half=0.05), quality("v2", mean=1.80)]
    )
    report = compare(base, cand)
    assert verdicts(report) == {("v1", "bits_per_byte"): "same", ("v2", "bits_per_byte"): "regression"}
    assert {c.method for c in report.comparisons} == {"interval"}


def test_failed_cell_new_and_missing_variants(tmp_path, capsys):
    base, cand = run_pair(
        tmp_path,
        [latency("v1"), latency("gone"), analytic("v1")],
        [latency("v1", status="oom") | {"value": None}, latency("added"), analytic("v1")],
    )
    # a whole cell that crashed in the candidate: its baseline rows are failed, not missing
    ResultStore(cand).append(
        [
            make_row(
                cell=dict(run_id="r2", cell_id="crash", variant="v1", family="f", scale="tiny", probe="analytic"),
                metric="",
                value=None,
                status="error",
                error="ValueError: boom",
                bookkeeping=dict(attempt="x", cell_rows=1),
            )
        ]
    )
    report = compare(base, cand)
    got = verdicts(report)
    assert got[("v1", "prefill_ms")] == "failed"
    assert got[("added", "prefill_ms")] == "new"
    assert got[("gone", "prefill_ms")] == "missing"
    assert report.exit_code() == 1  # a newly failed cell blocks under --fail-on regression
    assert main(["compare", str(base), str(cand), "--fail-on", "never"]) == 0
    capsys.readouterr()
    assert main(["compare", str(base), str(cand), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["failed"] >= 1 and data["counts"]["new"] == 1 and data["counts"]["missing"] == 1
    failed = [c for c in data["comparisons"] if c["verdict"] == "failed"]
    assert any("oom" in c["note"] for c in failed) and all(c["blocking"] for c in failed)


def test_whole_cell_failure_reports_the_error(tmp_path):
    base, cand = run_pair(tmp_path, [analytic("v1")], [latency("v1")])
    ResultStore(cand).append(
        [
            make_row(
                cell=dict(run_id="r2", cell_id="crash", variant="v1", family="f", scale="tiny", probe="analytic"),
                metric="",
                value=None,
                status="error",
                error="ValueError: boom",
                bookkeeping=dict(attempt="x", cell_rows=1),
            )
        ]
    )
    report = compare(base, cand)
    failed = [c for c in report.comparisons if c.verdict == "failed"]
    assert [(c.metric, c.note) for c in failed] == [("flops_decode_per_token", "error: ValueError: boom")]


def test_failure_already_in_the_baseline_does_not_block(tmp_path):
    row = latency(status="timeout") | {"value": None}
    base, cand = run_pair(tmp_path, [row], [row])
    report = compare(base, cand)
    assert [c.verdict for c in report.comparisons] == ["failed"] and report.comparisons[0].baseline_failed
    assert report.exit_code() == 0
    assert compare(base, cand, fail_on="any").exit_code() == 1


def test_fail_on_any_blocks_on_improvement(tmp_path):
    base, cand = run_pair(tmp_path, [analytic(value=2e9)], [analytic(value=1e9)])
    assert compare(base, cand).exit_code() == 0
    assert compare(base, cand, fail_on="any").exit_code() == 1


def test_metrics_filter_and_noise_metrics(tmp_path):
    cv = dict(latency(), metric="prefill_ms_cv", value=0.01, unit="ratio", extra={})
    cv2 = dict(cv, value=0.05)
    base, cand = run_pair(tmp_path, [latency(), analytic(), cv], [latency(), analytic(value=2e9), cv2])
    assert {c.metric for c in compare(base, cand).comparisons} == {"prefill_ms", "flops_decode_per_token"}
    report = compare(base, cand, metrics=["prefill_ms"])
    assert [c.metric for c in report.comparisons] == ["prefill_ms"] and report.exit_code() == 0
    assert [c.metric for c in compare(base, cand, metrics=["prefill_ms_cv"]).comparisons] == ["prefill_ms_cv"]
    assert main(["compare", str(base), str(cand), "--metrics", "nope"]) == 2


def test_single_measurement_uses_the_threshold():
    b = Entry("v", "peak_memory_bytes", {}, 100.0, lower_is_better=True, probe="memory")
    assert judge(b, Entry("v", "peak_memory_bytes", {}, 104.0, lower_is_better=True, probe="memory")).verdict == "same"
    c = judge(b, Entry("v", "peak_memory_bytes", {}, 120.0, lower_is_better=True, probe="memory"))
    assert c.verdict == "regression" and c.method == "threshold"


def test_settings_match_across_int_and_float(tmp_path):
    """A column with gaps loads as float (64.0); it still matches 64."""
    base = write_run(tmp_path / "base", [latency(), analytic() | {"settings": {}}])
    cand = write_run(tmp_path / "cand", [latency()], run_id="r2")
    assert verdicts(compare(base, cand))[("v1", "prefill_ms")] == "same"


# --------------------------------------------------------------------- output
def test_markdown_lists_changes_for_a_pr_comment(tmp_path):
    base, cand = run_pair(tmp_path, [latency(), latency("v2")], [latency(ms=13.0, seed=1), latency("v2")])
    text = markdown(compare(base, cand))
    assert "FAIL" in text and "regression" in text and "×1.29" in text
    assert text.count("| regression") + text.count("🔴 regression") >= 1
    path = tmp_path / "comment.md"
    assert main(["compare", str(base), str(cand), "--markdown", str(path), "--remeasure", "0"]) == 1
    assert path.read_text() == text


# ----------------------------------------------------------- pytest-benchmark
def _bench_json(path, medians, data=True, spread=0.01, seed=0):
    benches = []
    for i, (name, median) in enumerate(medians.items()):
        xs = sorted(_samples(median, spread, seed=seed + i))
        q1, q3 = np.quantile(xs, [0.25, 0.75])
        stats = dict(
            min=xs[0],
            max=xs[-1],
            mean=float(np.mean(xs)),
            stddev=float(np.std(xs, ddof=1)),
            rounds=len(xs),
            median=float(np.median(xs)),
            iqr=float(q3 - q1),
            q1=float(q1),
            q3=float(q3),
        )
        if data:
            stats["data"] = xs
        benches.append(dict(name=name, fullname=f"tests/bench.py::{name}[ctx=64]", group=None, stats=stats))
    path.write_text(json.dumps(dict(benchmarks=benches, machine_info={}, commit_info={})))
    return path


@pytest.mark.parametrize("data", [True, False], ids=["raw-data", "stats-only"])
def test_pytest_benchmark_json(tmp_path, data, capsys):
    base = _bench_json(tmp_path / "a.json", {"test_prefill": 0.010, "test_decode": 0.002, "test_gone": 1.0}, data)
    cand = _bench_json(
        tmp_path / "b.json", {"test_prefill": 0.013, "test_decode": 0.00203, "test_new": 1.0}, data, seed=5
    )
    report = compare(base, cand)
    assert report.kind == "benchmark"
    got = {c.variant.split("::")[1].removesuffix("[ctx=64]"): (c.verdict, c.method) for c in report.comparisons}
    method = "bootstrap" if data else "stats"
    assert got == {
        "test_prefill": ("regression", method),
        "test_decode": ("same", method),
        "test_gone": ("missing", ""),
        "test_new": ("new", ""),
    }
    assert main(["compare", str(base), str(cand), "--benchmark"]) == 1
    assert "tests/bench.py::test_prefill[ctx=64]" in capsys.readouterr().out


def test_export_pytest_benchmark_roundtrip(tmp_path):
    base, cand = run_pair(tmp_path, [latency(), analytic()], [latency(ms=13.0, seed=1), analytic()])
    data = to_pytest_benchmark(load_results(base))
    (bench,) = data["benchmarks"]  # only timed rows with samples
    assert bench["name"] == "v1@tiny::prefill_ms[batch=1,context=64]"
    assert bench["stats"]["median"] == pytest.approx(0.010, rel=0.02)  # ms -> s
    assert len(bench["stats"]["data"]) == 40
    out_a, out_b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["compare", str(base), str(base), "--export-benchmark", str(out_a)]) == 0
    assert main(["compare", str(base), str(cand), "--export-benchmark", str(out_b)]) == 1
    assert verdicts(compare(out_a, out_b)) == {(bench["fullname"], "median_time"): "regression"}


def test_cannot_mix_results_and_benchmark_json(tmp_path):
    base = write_run(tmp_path / "base", [latency()])
    bench = _bench_json(tmp_path / "b.json", {"t": 1.0})
    with pytest.raises(Exception, match="cannot compare a results side"):
        compare(base, bench)


# ---------------------------------------------------------------------- errors
def test_bad_dir_names_the_path(tmp_path, capsys):
    good = write_run(tmp_path / "good", [latency()])
    missing = tmp_path / "nope"
    assert main(["compare", str(missing), str(good)]) == 2
    err = capsys.readouterr().err
    assert f"baseline not found: {missing} does not exist" in err and err.count("\n") == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["compare", str(good), str(empty)]) == 2
    assert f"candidate {empty} has no results.jsonl or results.parquet" in capsys.readouterr().err
    (empty / "results.jsonl").write_text("")
    assert main(["compare", str(good), str(empty)]) == 2
    assert f"candidate {empty} holds no result rows" in capsys.readouterr().err


def test_bad_threshold(tmp_path, capsys):
    good = write_run(tmp_path / "good", [latency()])
    with pytest.raises(SystemExit) as info:
        main(["compare", str(good), str(good), "--threshold", "-0.1"])
    assert info.value.code == 2
    assert "argument --threshold: must be 0 or a positive number, got '-0.1'" in capsys.readouterr().err


def test_compare_entries_without_files():
    b = [
        Entry(
            "v",
            "prefill_ms",
            {"context": 64},
            10.0,
            lower_is_better=True,
            probe="latency",
            extra={"samples": _samples(10, 0.01)},
        )
    ]
    c = [
        Entry(
            "v",
            "prefill_ms",
            {"context": 64},
            13.0,
            lower_is_better=True,
            probe="latency",
            extra={"samples": _samples(13, 0.01, seed=2)},
        )
    ]
    (r,) = compare_entries(b, c)
    assert r.verdict == "regression" and r.blocks("regression") and not r.blocks("never")


def test_direction_of_a_known_metric_comes_from_the_metric_table():
    # a row that says peak memory is higher-is-better cannot turn a rise into an improvement
    b = Entry("v", "peak_memory_bytes", {}, 100.0, lower_is_better=False, probe="memory")
    c = Entry("v", "peak_memory_bytes", {}, 120.0, lower_is_better=False, probe="memory")
    assert judge(b, c).verdict == "regression"
    # a metric the table does not know keeps the direction its rows declare
    b = Entry("v", "plugin_score", {}, 100.0, lower_is_better=False, probe="plugin")
    c = Entry("v", "plugin_score", {}, 120.0, lower_is_better=False, probe="plugin")
    assert judge(b, c).verdict == "improvement"


# ------------------------------------------------------------- run-to-run noise floors
def _noise_table(floor: float, key: str = "latency/prefill_ms", **more):
    """A noise table whose floor for `key` is `floor` between two single attempts (k = 1)."""
    from suite.analysis.noise import NoiseTable

    return NoiseTable(sigmas={key: float(np.log1p(floor) / np.sqrt(2))}, k=1.0, source="test", **more)


def _timed(ms: float, seed: int = 0) -> Entry:
    row = latency(ms=ms, spread=0.005, seed=seed)
    return Entry(
        variant=row["variant"], metric=row["metric"], settings=row["settings"], value=row["value"],
        lower_is_better=True, unit="ms", probe="latency", extra=row["extra"],
    )  # fmt: skip


def test_noise_floor_suppresses_an_aa_sized_change():
    """x1.2 between two runs of the same code is significant within each run's samples, but under
    a measured run-to-run noise floor of 30%: not a regression, and the note names the floor."""
    base, cand = _timed(10.0), _timed(12.0, seed=1)
    bare = judge(base, cand)
    assert bare.verdict == "regression" and bare.ci_low > 1  # what the A/A run flagged before
    c = judge(base, cand, noise=_noise_table(0.3))
    assert c.verdict == "same" and c.method == "bootstrap" and c.ci_low > 1
    assert c.floor == pytest.approx(0.3)
    assert "30.0% noise floor" in c.note and "latency/prefill_ms" in c.note


def test_change_beyond_the_noise_floor_still_fails():
    c = judge(_timed(10.0), _timed(15.0, seed=1), noise=_noise_table(0.3))
    assert c.verdict == "regression" and c.floor == pytest.approx(0.3)
    assert judge(_timed(15.0), _timed(10.0, seed=1), noise=_noise_table(0.3)).verdict == "improvement"
    # a floor below the threshold leaves the threshold in charge
    c = judge(_timed(10.0), _timed(10.3, seed=1), noise=_noise_table(0.01))
    assert c.verdict == "same" and c.floor == pytest.approx(0.05) and "5% threshold" in c.note


def test_noise_floor_of_another_metric_does_not_apply():
    c = judge(_timed(10.0), _timed(12.0, seed=1), noise=_noise_table(0.3, key="latency/train_step_ms"))
    assert c.verdict == "regression" and c.floor == pytest.approx(0.05)


def test_exact_change_is_unaffected_by_noise_floors():
    """Analytic numbers are exact: a 1% change is real whatever floor a table sets."""
    from suite.analysis.noise import NoiseTable

    huge = NoiseTable(sigmas={"analytic/flops_decode_per_token": 1.0, "*/flops_decode_per_token": 1.0}, default=1.0)
    entry = dict(variant="v1", metric="flops_decode_per_token", settings={"context": 1024}, unit="FLOP")
    base = Entry(**entry, value=1.0e9, lower_is_better=True, probe="analytic")
    c = judge(base, Entry(**entry, value=1.01e9, lower_is_better=True, probe="analytic"), noise=huge)
    assert c.verdict == "regression" and c.method == "exact" and c.floor is None


def test_noise_file_overrides_the_shipped_table(tmp_path, capsys):
    base, cand = run_pair(tmp_path, [latency(ms=10.0, spread=0.005)], [latency(ms=12.0, spread=0.005, seed=1)])
    quiet = tmp_path / "quiet.json"  # no floors: the threshold alone
    quiet.write_text(json.dumps({"format": "archbench-noise/1", "k": 1.0, "sigmas": {}}))
    noisy = tmp_path / "noisy.json"
    noisy.write_text(json.dumps(_noise_table(0.3).to_dict()))
    assert main(["compare", str(base), str(cand), "--noise", str(quiet), "--remeasure", "0"]) == 1
    capsys.readouterr()
    assert main(["compare", str(base), str(cand), "--noise", str(noisy), "--remeasure", "0", "--json"]) == 0
    (c,) = json.loads(capsys.readouterr().out)["comparisons"]
    assert c["verdict"] == "same" and c["floor"] == pytest.approx(0.3) and "noise floor" in c["note"]
    assert [c.verdict for c in compare(base, cand, noise=noisy).comparisons] == ["same"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "archbench-noise/1", "sigmas": {"latency/prefill_ms": -1}}))
    assert main(["compare", str(base), str(cand), "--noise", str(bad), "--remeasure", "0"]) == 2
    assert "bad.json" in capsys.readouterr().err


def test_calibrate_noise_from_aa_runs(tmp_path, capsys):
    """Three A/A runs 10 / 11 / 12 ms: the table's floor covers the spread between them, so the
    gate passes the next A/A pair but still fails a 3x slowdown."""
    runs = [
        write_run(tmp_path / f"aa{i}", [latency(ms=ms, seed=i)], run_id=f"aa{i}") for i, ms in enumerate([10, 11, 12])
    ]
    table = tmp_path / "noise.json"
    assert main(["compare", "--calibrate-noise", *map(str, runs), "--noise-out", str(table)]) == 0
    assert "latency/prefill_ms" in capsys.readouterr().out
    data = json.loads(table.read_text())
    assert data["runs"] == 3 and data["pairs"] == 3 and data["sigmas"]["latency/prefill_ms"] > 0
    aa = write_run(tmp_path / "aa3", [latency(ms=11.5, seed=7)], run_id="aa3")
    assert main(["compare", str(runs[0]), str(aa), "--noise", str(table), "--remeasure", "0"]) == 0
    slow = write_run(tmp_path / "slow", [latency(ms=30.0, seed=8)], run_id="slow")
    assert main(["compare", str(runs[0]), str(slow), "--noise", str(table), "--remeasure", "0"]) == 1
    assert main(["compare", "--calibrate-noise", str(runs[0])]) == 2  # one run has no pairs


# ------------------------------------------------------------ noise floors (A/A)
def _timed_entry(value, xs, attempts=1, groups=None, probe="latency", metric="train_step_ms"):
    return Entry("v", metric, {"context": 64}, value, lower_is_better=True, unit="ms", probe=probe,
                 extra={"samples": xs}, attempts=attempts, groups=groups or [])  # fmt: skip


def test_noise_floor_keeps_a_run_to_run_sized_change_from_failing():
    """x1.27 with tight samples: the within-attempt bootstrap calls it real; a metric that varies
    8% run to run (k=4, one attempt a side: floor expm1(4 * 0.08 * sqrt 2) = 57%) does not."""
    b, c = _timed_entry(10.0, _samples(10.0, 0.01)), _timed_entry(12.7, _samples(12.7, 0.01, seed=1))
    assert judge(b, c).verdict == "regression"
    table = NoiseTable({"latency/train_step_ms": 0.08})
    r = judge(b, c, noise=table)
    assert r.verdict == "same" and r.ci_low > 1 and r.floor == pytest.approx(math.expm1(4 * 0.08 * math.sqrt(2)))
    assert "under the 57.2% noise floor (latency/train_step_ms varies 8.0% run to run)" in r.note
    # beyond the floor it is a regression; a metric the table does not know keeps the threshold
    assert judge(b, _timed_entry(20.0, _samples(20.0, 0.01, seed=1)), noise=table).verdict == "regression"
    assert judge(b, c, noise=NoiseTable({"latency/prefill_ms": 0.08})).verdict == "regression"


def test_noise_floor_shrinks_with_pooled_attempts_and_honours_k():
    table = NoiseTable({"latency/prefill_ms": 0.05}, k=3.0)
    assert table.floor("latency", "prefill_ms", 0.05) == pytest.approx(math.expm1(3 * 0.05 * math.sqrt(2)))
    assert table.floor("latency", "prefill_ms", 0.05, 4, 4) == pytest.approx(math.expm1(3 * 0.05 * math.sqrt(0.5)))
    assert table.floor("latency", "prefill_ms", 0.5) == 0.5  # never under the threshold
    assert table.floor("memory", "peak_bytes", 0.05) == 0.05  # unknown metric: default 0


def test_shipped_table_names_its_machine_and_is_the_default(tmp_path, monkeypatch):
    from suite.analysis import noise

    table = noise.shipped()
    assert set(table.sigmas) >= {"latency/prefill_ms", "latency/decode_ms_per_token", "latency/train_step_ms"}
    assert table.machine["cpu_model"] and table.runs >= 2 and table.k == noise.DEFAULT_K
    monkeypatch.setattr("suite.analysis.compare.shipped", noise.shipped)
    base, cand = run_pair(tmp_path, [latency(ms=10.0)], [latency(ms=13.0, seed=1)])
    report = compare(base, cand)
    assert report.noise.source == "shipped" and "noise floors: shipped table, k=4" in report.summary()


def test_calibrate_noise_from_aa_runs_and_use_it(tmp_path, capsys):
    runs = [write_run(tmp_path / f"r{i}", [latency(ms=10.0 * f, seed=i), latency("v2", ms=5.0 * f, seed=i)],
                      run_id=f"r{i}") for i, f in enumerate((1.0, 1.1, 0.95))]  # fmt: skip
    out = tmp_path / "noise.json"
    assert main(["compare", "--calibrate-noise", *map(str, runs), "--noise-out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 runs (3 pairs)" in printed and "latency/prefill_ms" in printed
    data = json.loads(out.read_text())
    assert data["format"] == "archbench-noise/1" and data["counts"] == {"latency/prefill_ms": 6}
    assert 0.05 < data["sigmas"]["latency/prefill_ms"] < 0.1
    # a 13% slowdown is within this noise with the file, a regression without a floor
    base, cand = run_pair(tmp_path, [latency(ms=10.0)], [latency(ms=11.3, seed=1)])
    assert main(["compare", str(base), str(cand)]) == 1
    assert main(["compare", str(base), str(cand), "--noise", str(out)]) == 0
    assert "noise floors: " + str(out) in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, needles",
    [
        ('{"format": "other"}', ["format", "not an archbench noise table"]),
        ('{"format": "archbench-noise/1", "sigmas": {"latency/prefill_ms": -0.1}}', ["sigmas.latency/prefill_ms"]),
        (
            '{"format": "archbench-noise/1", "sigmas": {"latency/prefill_ms": "big"}}',
            ["sigmas.latency/prefill_ms", "expected an integer or a number, got str"],
        ),
        ('{"format": "archbench-noise/1", "k": 0}', ["field 'k'", "k > 0"]),
        ('{"format": "archbench-noise/1", "sigmas": [1]}', ["field 'sigmas'", "expected an object"]),
    ],
)
def test_bad_noise_file_is_exit_2_naming_the_field(tmp_path, capsys, content, needles):
    good = write_run(tmp_path / "good", [latency()])
    bad = tmp_path / "noise.json"
    bad.write_text(content)
    assert main(["compare", str(good), str(good), "--noise", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "noise.json" in err and all(n in err for n in needles), err


def test_pooled_attempts_use_a_two_level_bootstrap():
    """Four attempts a side that disagree with each other 10%: the interval shows it, unlike the
    bootstrap of the pooled samples as if they were one attempt."""
    groups_b = [_samples(10.0 * f, 0.01, seed=i) for i, f in enumerate((0.95, 1.0, 1.05, 1.1))]
    groups_c = [_samples(10.4 * f, 0.01, seed=9 + i) for i, f in enumerate((0.95, 1.0, 1.05, 1.1))]
    flat = bootstrap_ratio(sum(groups_b, []), sum(groups_c, []))
    b = _timed_entry(10.0, sum(groups_b, []), attempts=4, groups=groups_b, metric="prefill_ms")
    c = _timed_entry(10.4, sum(groups_c, []), attempts=4, groups=groups_c, metric="prefill_ms")
    r = judge(b, c)
    assert (r.ci_high - r.ci_low) > 2 * (flat[2] - flat[1])
    assert r.verdict == "same" and "pooled 4 / 4 attempts" in r.note and r.attempts == [4, 4]


def test_zero_or_infinite_timings_fail_naming_the_side():
    b = _timed_entry(10.0, _samples(10.0, 0.01))
    r = judge(b, _timed_entry(0.0, [0.0, 0.0, 0.0]))
    assert r.verdict == "failed" and "candidate median time is 0 ms" in r.note and not r.baseline_failed
    r = judge(_timed_entry(float("inf"), [1.0, 2.0, 3.0]), b)
    assert r.verdict == "failed" and "baseline value is inf" in r.note and r.baseline_failed


# ------------------------------------------------------------------ re-measure
FAKE_TIMED = '''
import os
from suite.probes import Row, probe


@probe("fake_timed_cmp", family="fake_timed_cmp", defaults={"x": 1})
def fake_timed_cmp(config, settings):
    """A timing whose speed a file sets: 1.0 normal, 1.5 a contended or slower attempt."""
    scale = float(open(os.environ["FAKE_TIMED_SCALE"]).read())
    xs = [scale * (10.0 + 0.01 * i) for i in range(21)]
    return [Row("fake_ms", xs[10], unit="ms", lower_is_better=True, extra={"samples": xs})]
'''


@pytest.fixture(scope="module")
def timed_probe(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake_timed")
    (root / "fake_timed_cmp.py").write_text(FAKE_TIMED)
    (root / "suite.yaml").write_text("scale: tiny\nvariants: [gpt2-small]\nprobes:\n  - probe: fake_timed_cmp\n")
    return root


def _measure(timed_probe, out, scale, monkeypatch):
    from suite.run.progress import PlainProgress
    from suite.run.runner import run_suite

    (timed_probe / "scale.txt").write_text(str(scale))
    monkeypatch.setenv("FAKE_TIMED_SCALE", str(timed_probe / "scale.txt"))
    run_suite(str(timed_probe / "suite.yaml"), out=out, probe_modules=[str(timed_probe / "fake_timed_cmp.py")],
              force=True, progress=PlainProgress(io.StringIO()))  # fmt: skip
    return out


def test_remeasure_interleaves_both_sides_and_clears_a_contended_attempt(tmp_path, timed_probe, monkeypatch):
    base = _measure(timed_probe, tmp_path / "base", 1.0, monkeypatch)
    cand = _measure(timed_probe, tmp_path / "cand", 1.5, monkeypatch)  # one contended attempt
    assert verdicts(compare(base, cand)) == {("gpt2-small", "fake_ms"): "regression"}
    (timed_probe / "scale.txt").write_text("1.0")  # the machine is quiet again
    lines_before = (cand / "results.jsonl").read_text().count("\n")
    report = compare(base, cand, remeasure=2)
    (c,) = report.comparisons
    assert c.verdict == "same" and c.attempts == [3, 2] and "1 contended attempt(s) set aside" in c.note
    assert report.remeasured[0].startswith("re-measured 1 cell(s) x 2 round(s), interleaved baseline/candidate")
    assert f"were appended to {cand}" in report.remeasured[0]
    assert "gpt2-small@tiny / fake_timed_cmp / fake_ms" in report.remeasured[1]
    assert "regression x1.500 -> same x1.000" in report.remeasured[1]
    assert (cand / "results.jsonl").read_text().count("\n") == lines_before + 2  # appended, nothing lost
    assert verdicts(compare(base, cand)) == {("gpt2-small", "fake_ms"): "same"}  # kept for the next compare


def test_remeasure_confirms_a_real_regression_candidate_only_when_code_differs(tmp_path, timed_probe, monkeypatch):
    base = _measure(timed_probe, tmp_path / "base", 1.0, monkeypatch)
    text = (base / "results.jsonl").read_text()
    cell = json.loads(text.splitlines()[0])["cell_id"]
    (base / "results.jsonl").write_text(text.replace(cell, "cell-of-older-code"))
    cand = _measure(timed_probe, tmp_path / "cand", 1.5, monkeypatch)  # stays slow: a real regression
    report = compare(base, cand, remeasure=2)
    (c,) = report.comparisons
    assert c.verdict == "regression" and c.attempts == [1, 3]
    assert "candidate only: the baseline's rows are from other code" in report.remeasured[0]
    assert "regression x1.500 -> regression x1.500" in report.remeasured[1]


def test_remeasure_says_why_it_could_not(tmp_path):
    base, cand = run_pair(tmp_path, [latency(ms=10.0)], [latency(ms=13.0, seed=1)])
    report = compare(base, cand, remeasure=3)
    assert report.exit_code() == 1 and report.comparisons[0].verdict == "regression"
    assert report.remeasured == [
        f"not re-measured (1 unsure timed number(s)): cannot plan the candidate's cells again: "
        f"{cand} has no run.json (it was not written by `archbench run`)"
    ]
    assert compare(base, base, remeasure=3).remeasured == []  # nothing unsure: nothing to say


def test_the_floor_never_exceeds_the_largest_change_calibration_saw():
    import math

    from suite.analysis.noise import LARGEST_MARGIN, NoiseTable

    heavy = NoiseTable(sigmas={"latency/prefill_ms": 0.7}, largest={"latency/prefill_ms": 0.5})
    uncapped = NoiseTable(sigmas={"latency/prefill_ms": 0.7})
    assert uncapped.floor("latency", "prefill_ms", 0.05) == pytest.approx(math.expm1(4 * 0.7 * math.sqrt(2)))
    assert heavy.floor("latency", "prefill_ms", 0.05) == pytest.approx(math.expm1(LARGEST_MARGIN * 0.5))
    assert heavy.floor("latency", "decode_ms_per_token", 0.05) == 0.05  # no noise known: the threshold


def test_timed_verdicts_from_the_shipped_noise_table_are_advisory():
    from suite.analysis.entries import Entry
    from suite.analysis.noise import NoiseTable
    from suite.analysis.verdict import judge

    def entry(scale):
        samples = [10.0 * scale + 0.01 * i for i in range(20)]
        return Entry("v", "prefill_ms", {}, 10.0 * scale, unit="ms", probe="latency", extra={"samples": samples})

    table = {"latency/prefill_ms": 0.05}
    shipped_table = NoiseTable(dict(table), source="shipped")
    calibrated = NoiseTable(dict(table), source="noise.json")
    advisory = judge(entry(1.0), entry(3.0), noise=shipped_table)
    assert advisory.verdict == "regression" and advisory.advisory and "advisory" in advisory.note
    assert not advisory.blocks("regression")
    measured_here = judge(entry(1.0), entry(3.0), noise=calibrated)
    assert measured_here.verdict == "regression" and measured_here.blocks("regression")
