"""`archbench compare`: noise-aware verdicts between two runs, exit codes for CI, Markdown,
pytest-benchmark JSON in and out. Result folders are hand-made with the results store."""

import json

import numpy as np
import pytest

from suite.analysis.benchjson import to_pytest_benchmark
from suite.analysis.compare import bootstrap_ratio, compare, compare_entries, judge
from suite.analysis.entries import Entry
from suite.cli import main
from suite.report.compare_view import markdown
from suite.results import ResultStore, load_results, make_row


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
    """Timed rows take the fastest attempt of a cell: noise from a busy machine (all samples of one
    attempt slow) goes away when the cell is re-run; a real regression stays."""
    base, cand = run_pair(tmp_path, [latency(ms=10.0)], [latency(ms=30.0, seed=1)])  # a contended attempt
    assert verdicts(compare(base, cand)) == {("v1", "prefill_ms"): "regression"}
    append_attempt(cand, latency(ms=10.1, seed=2), "v1-latency-0", "retry")
    (c,) = compare(base, cand).comparisons
    assert c.verdict == "same" and c.candidate == pytest.approx(10.1, rel=0.01) and "fastest of 1 / 2" in c.note
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
    assert main(["compare", str(base), str(cand), "--markdown", str(path)]) == 1
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
