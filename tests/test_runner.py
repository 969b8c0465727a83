"""The runner: failures become rows, cache, resume after kill -9, executors, suites, CLI."""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from suite import probes as probe_registry
from suite.config import ConfigError
from suite.report.minimal import minimal_report
from suite.results import load_results
from suite.run.executors import ProcessPoolExecutor, SequentialExecutor
from suite.run.plan import make_plan
from suite.run.progress import PlainProgress
from suite.run.runner import run_cells
from suite.run.suite_file import load_suite
from suite.run.versioning import cell_id, code_version, source_files

ROOT = Path(__file__).resolve().parent.parent
FAKES = str(Path(__file__).resolve().parent / "fake_probes.py")


@pytest.fixture(autouse=True)
def fake_probes():
    """Register the fake probes for one test only, so they never leak into the real registry."""
    yield
    for name, spec in list(probe_registry.PROBES.items()):
        if spec.fn.__module__.startswith("archbench_probes_"):  # loaded from a file by the runner
            del probe_registry.PROBES[name]
    for name in [n for n in sys.modules if n.startswith("archbench_probes_")]:
        del sys.modules[name]


def suite_file(tmp_path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def plan(tmp_path, text, **kw):
    return make_plan(load_suite(suite_file(tmp_path, text)), probe_modules=[FAKES], **kw)


def run(cells, out, **kw):
    log = io.StringIO()
    summary = run_cells(cells, out, progress=PlainProgress(log), **kw)
    return summary, log.getvalue()


def cli(*args, timeout=120, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "suite.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


# ------------------------------------------------------------------ failures
def test_raise_oom_kill_and_timeout_become_rows_and_the_run_completes(tmp_path):
    cells = plan(
        tmp_path,
        """
        scale: tiny
        timeout: 60
        variants: [gpt2-small]
        probes:
          - fake_ok
          - fake_raise
          - {probe: fake_oom, memory_cap: 300MB}
          - fake_killed
          - {probe: fake_sleep, timeout: 2}
          - {probe: fake_slow, timeout: 0.5, settings: {seconds: 30}}
          - fake_isolated
        """,
    ).cells
    summary, log = run(cells, tmp_path / "out")
    assert summary.ran == 7 and summary.statuses == {"ok": 2, "error": 1, "oom": 2, "timeout": 2}
    df = load_results(tmp_path / "out")
    by_probe = df.groupby("probe")
    status = by_probe["status"].first().to_dict()
    error = by_probe["error"].first().to_dict()
    assert status == {
        "fake_ok": "ok",
        "fake_raise": "error",
        "fake_oom": "oom",
        "fake_killed": "oom",
        "fake_sleep": "timeout",
        "fake_slow": "timeout",
        "fake_isolated": "ok",
    }
    assert error["fake_raise"] == "ValueError: boom from the fake probe"
    assert error["fake_oom"].startswith("MemoryError")
    assert "SIGKILL" in error["fake_killed"] and "out-of-memory" in error["fake_killed"]
    assert error["fake_sleep"] == "exceeded the per-cell timeout of 2 s"
    assert error["fake_slow"] == "exceeded the per-cell timeout of 0.5 s"  # in-process: SIGALRM
    failed = df[df["status"] != "ok"]
    assert failed["value"].isna().all() and (failed["metric"] == "").all()
    ok = df[df["probe"] == "fake_ok"]
    assert ok["value"].tolist() == [64.0 * 2 * 1]  # d_model 64, 2 layers at tiny, x=1
    assert ok["lower_is_better"].tolist() == [True] and ok["unit"].tolist() == ["count"]
    assert "[7/7]" in log and "boom from the fake probe" in log
    iso = df[df["probe"] == "fake_isolated"]
    assert float(iso.loc[iso["metric"] == "fake_pid", "value"].iloc[0]) != os.getpid()  # really a subprocess
    assert iso.loc[iso["metric"] == "fake_pid", "settings.row_level"].iloc[0] == "yes"


def test_a_probe_can_mark_one_row_as_failed_and_empty_cells_are_cached(tmp_path):
    from suite.run.executors import Cell, Outcome
    from suite.run.runner import outcome_rows

    cell = Cell("v", "f", "tiny", "p", {"contexts": [64, 128], "dtype": "fp32"}, {}, cell_id="c")
    rows = outcome_rows(
        cell,
        Outcome(
            "ok",
            [
                dict(metric="prefill_ms", value=1.0, settings={"context": 64}, extra={}),
                dict(
                    metric="prefill_ms",
                    value=None,
                    settings={"context": 128},
                    status="oom",
                    error="too long",
                    extra={"kept": 1},
                ),
            ],
        ),
        run_id="r",
        prov={},
    )
    assert [r["status"] for r in rows] == ["ok", "oom"] and rows[1]["error"] == "too long"
    assert json.loads(rows[1]["extra"]) == {"kept": 1}
    # a sweep setting (list) is not copied onto rows; scalar cell settings are
    assert "settings.contexts" not in rows[0] and rows[0]["settings.dtype"] == "fp32"
    assert rows[1]["settings.context"] == 128
    cells = plan(tmp_path, "variants: [gpt2-small]\nprobes: [fake_empty]").cells
    run(cells, tmp_path / "out")
    assert run(cells, tmp_path / "out")[0].ran == 0


# --------------------------------------------------------------------- cache
def test_second_run_is_all_cache_hits_and_force_recomputes(tmp_path):
    text = "variants: [gpt2-small, gpt2-medium]\nprobes: [{probe: fake_ok, grid: {x: [1, 2, 3]}}, fake_raise]"
    cells = plan(tmp_path, text).cells
    first, _ = run(cells, tmp_path / "out")
    assert (first.ran, first.cached) == (8, 0)
    again, log = run(plan(tmp_path, text).cells, tmp_path / "out")
    assert (again.ran, again.cached) == (2, 6)  # failed cells are retried, ok ones are not
    assert "2 cell(s) to run, 6 cached" in log
    forced, _ = run(cells, tmp_path / "out", force=True)
    assert forced.ran == 8
    df = load_results(tmp_path / "out")
    assert len(df) == 8 and df["run_id"].nunique() == 1  # the forced attempt replaced the others


def test_changing_one_variant_reruns_only_its_cells(tmp_path, write_yaml):
    variants = """
        test-a: {base: gpt2-small}
        test-b: {base: gpt2-small, n_layers: 6}
    """
    reg = write_yaml(textwrap.dedent(variants))
    text = "variants: [test-a, test-b]\nprobes: [{probe: fake_ok, grid: {x: [1, 2]}}, fake_isolated]"
    run(plan(tmp_path, text, registry_dirs=[reg]).cells, tmp_path / "out")
    write_yaml(textwrap.dedent(variants.replace("n_layers: 6", "n_layers: 6, mlp_hidden: 512")))
    summary, _ = run(plan(tmp_path, text, registry_dirs=[reg]).cells, tmp_path / "out")
    assert (summary.ran, summary.cached) == (3, 3)
    df = load_results(tmp_path / "out")
    latest = df[df["run_id"] == summary.run_id]
    assert set(latest["variant"]) == {"test-b"} and len(latest[latest["probe"] == "fake_ok"]) == 2
    # a description is not part of the math: editing it recomputes nothing
    write_yaml(textwrap.dedent(variants.replace("n_layers: 6", "n_layers: 6, mlp_hidden: 512, description: x")))
    assert run(plan(tmp_path, text, registry_dirs=[reg]).cells, tmp_path / "out")[0].ran == 0


def test_cell_id_is_a_content_hash():
    base = cell_id({"d_model": 64, "description": "a"}, "p", {"x": 1}, "tiny", "0.1.0+abc")
    assert base == cell_id({"description": "b", "d_model": 64}, "p", {"x": 1}, "tiny", "0.1.0+abc")
    for other in (
        cell_id({"d_model": 65}, "p", {"x": 1}, "tiny", "0.1.0+abc"),
        cell_id({"d_model": 64}, "q", {"x": 1}, "tiny", "0.1.0+abc"),
        cell_id({"d_model": 64}, "p", {"x": 2}, "tiny", "0.1.0+abc"),
        cell_id({"d_model": 64}, "p", {"x": 1}, "tiny", "0.1.0+abd"),
    ):
        assert other != base


def test_code_version_covers_the_probe_module_and_what_it_imports_from_suite():
    names = {p.relative_to(ROOT).as_posix() for p in source_files("suite.run.runner")}
    assert "suite/run/runner.py" in names and "suite/metrics.py" in names
    assert not any(n.startswith("suite/report/") for n in names)  # presentation cannot change a probe's numbers
    if (ROOT / "suite/probes/latency.py").exists():
        latency = {p.relative_to(ROOT).as_posix() for p in source_files("suite.probes.latency")}
        assert {"suite/probes/latency.py", "suite/model/__init__.py", "suite/config.py"} <= latency


# ------------------------------------------------------------------ executors
def test_process_pool_gives_the_same_results_as_sequential(tmp_path):
    text = "variants: [gpt2-small, gpt2-medium]\nprobes: [{probe: fake_ok, grid: {x: [1, 2]}}, fake_raise]"
    cells = plan(tmp_path, text).cells
    run(cells, tmp_path / "seq", executor=SequentialExecutor())
    pool_summary, _ = run(cells, tmp_path / "pool", executor=ProcessPoolExecutor(2))
    assert pool_summary.statuses == {"ok": 4, "error": 2}
    key = ["variant", "probe", "metric", "value", "status", "error", "settings.x"]
    seq = load_results(tmp_path / "seq")[key].sort_values(key[:2] + ["settings.x"]).reset_index(drop=True)
    pool = load_results(tmp_path / "pool")[key].sort_values(key[:2] + ["settings.x"]).reset_index(drop=True)
    assert seq.equals(pool)


# ------------------------------------------------------------- kill -9, resume
def test_kill_9_mid_run_then_resume_gives_the_uninterrupted_results(tmp_path):
    suite = suite_file(
        tmp_path,
        """
        variants: [gpt2-small, gpt2-medium]
        probes:
          - {probe: fake_slow, settings: {seconds: 0.4}, grid: {x: [1, 2, 3, 4, 5]}}
        """,
    )
    common = ["--suite", str(suite), "--probe-module", FAKES, "--no-report"]
    ref = cli("run", *common, "--out", str(tmp_path / "ref"))
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "suite.cli", "run", *common, "--out", str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = out / "results.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not results.exists() or len(results.read_text().splitlines()) < 3):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(results.read_text().splitlines())
    assert 3 <= done_before < 10, "the run should have been killed mid-way"
    assert json.loads((out / "run.json").read_text())["status"] == "running"
    resumed = cli("run", "--out", str(out), "--resume")  # arguments come from run.json
    assert resumed.returncode == 0, resumed.stderr
    assert f"{done_before} cached" in resumed.stdout
    key = ["variant", "probe", "metric", "value", "settings.x", "settings.seconds", "status"]
    got = load_results(out)[key].sort_values(key).reset_index(drop=True)
    want = load_results(tmp_path / "ref")[key].sort_values(key).reset_index(drop=True)
    assert got.equals(want) and len(got) == 10
    assert load_results(out)["run_id"].nunique() == 1  # one run, continued
    assert json.loads((out / "run.json").read_text())["status"] == "finished"


def test_resume_without_a_previous_run_says_so(tmp_path):
    result = cli("run", "--out", str(tmp_path / "nothing"), "--resume")
    assert result.returncode == 2 and "nothing to resume in" in result.stderr


# --------------------------------------------------------------------- suites
def test_unknown_probe_fails_at_plan_time_listing_the_available_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown probe 'fake_okk' in suite 'suite'.*Available probes: .*fake_ok"):
        plan(tmp_path, "variants: [gpt2-small]\nprobes: [fake_okk]")


def test_optional_missing_probe_is_skipped_with_a_note(tmp_path):
    p = plan(tmp_path, "variants: [gpt2-small]\nprobes: [fake_ok, {family: not_here, optional: true}]")
    assert [c.probe for c in p.cells] == ["fake_ok"]
    assert "skipped optional family 'not_here': not registered" in p.notes


def test_family_entries_grids_and_probe_narrowing(tmp_path):
    text = """
        scale: tiny
        variants: [gpt2-small, {name: gpt2-medium, scale: small}]
        probes:
          - {family: fake, settings: {x: 3}, grid: {seconds: [0.0]}}
          - {probe: fake_slow, grid: {x: [1, 2]}, scale: full}
        """
    p = plan(tmp_path, text)
    fake_family = sorted(n for n, s in probe_registry.PROBES.items() if s.family == "fake")
    assert sorted({c.probe for c in p.cells}) == sorted(fake_family + ["fake_slow"])
    assert {(c.variant, c.scale) for c in p.cells if c.probe == "fake_ok"} == {
        ("gpt2-small", "tiny"),
        ("gpt2-medium", "small"),
    }
    assert {c.scale for c in p.cells if c.probe == "fake_slow"} == {"full"}
    ok = [c for c in p.cells if c.probe == "fake_ok"][0]
    assert ok.settings == {"x": 3, "seconds": 0.0}
    narrowed = plan(tmp_path, text, probes=["fake_ok"], variants=["gpt2-small"])
    assert [(c.probe, c.settings["x"]) for c in narrowed.cells] == [("fake_ok", 3)]  # suite's settings kept
    with pytest.raises(ConfigError, match="unknown probe 'nope'"):
        plan(tmp_path, text, probes=["nope"])


def test_suite_file_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown suite key.*field 'probez'|field 'probez'.*unknown suite key"):
        load_suite(suite_file(tmp_path, "variants: [gpt2-small]\nprobez: []"))
    with pytest.raises(ConfigError, match="grid axis is a non-empty list"):
        load_suite(suite_file(tmp_path, "probes: [{probe: fake_ok, grid: {x: 3}}]"))
    with pytest.raises(
        ConfigError,
        match="unknown suite 'nope'; shipped suites: extrapolation, full, ladder, quick, recall, recall-recipes, "
        "stability, standard",
    ):
        load_suite("nope")


# probe families too long for the default run: they have a suite of their own, and standard and full run them
OWN_SUITE = {"recall", "extrapolation", "stability"}


@pytest.mark.parametrize("name", ["quick", "standard", "full"])
def test_shipped_suites_plan_and_cover_every_probe_family(name):
    p = make_plan(load_suite(name))
    families = {s.family for s in probe_registry.load_all().values() if not s.family.startswith("fake")}
    if name == "quick":
        families -= OWN_SUITE
        for own in OWN_SUITE:  # each family has a suite of its own name
            assert own in {probe_registry.PROBES[c.probe].family for c in make_plan(load_suite(own)).cells}
    planned = {probe_registry.PROBES[c.probe].family for c in p.cells}
    assert families <= planned
    assert len({c.variant for c in p.cells}) >= 5


def test_the_ladder_suite_puts_cost_beside_seeded_quality_on_every_rung():
    from suite.registry import Registry

    rungs = {n for n in Registry().names() if n.startswith("ladder/")}
    cells = make_plan(load_suite("ladder")).cells
    for probe in ("analytic", "latency", "quality", "stability"):
        assert {c.variant for c in cells if c.probe == probe} == rungs, probe
    for c in cells:
        if c.probe in ("quality", "stability"):
            assert len(c.settings["seeds"]) >= 3 and c.settings["match_params"] == 100_000, c


# ------------------------------------------------------------------------ CLI
def test_cli_run_then_table_csv_markdown(tmp_path):
    suite = suite_file(tmp_path, "variants: [gpt2-small, gpt2-medium]\nprobes: [{probe: fake_ok, grid: {x: [1, 2]}}]")
    out = tmp_path / "out"
    result = cli("run", "--suite", str(suite), "--probe-module", FAKES, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "4 cells: 0 cached, 4 run (4 ok)" in result.stdout
    report = result.stdout.split("report: ")[1].strip()
    assert Path(report).exists() and Path(report).stat().st_size > 0
    assert (out / "results.parquet").exists()
    again = cli("run", "--suite", str(suite), "--probe-module", FAKES, "--out", str(out), "--no-report")
    assert "4 cells: 4 cached, 0 run (nothing new)" in again.stdout
    table = cli(
        "table",
        str(out),
        "--metrics",
        "fake_metric",
        "--baseline",
        "gpt2-small",
        "--csv",
        str(tmp_path / "t.csv"),
        "--markdown",
        str(tmp_path / "t.md"),
    )
    assert table.returncode == 0, table.stderr
    assert "gpt2-medium" in table.stdout and "×" in table.stdout
    md = (tmp_path / "t.md").read_text()
    assert "| # | variant | win rate | fake metric ↓ |" in md and "| gpt2-medium | 50% | 128 (1.00×) |" in md
    assert "fake_metric ratio" in (tmp_path / "t.csv").read_text().splitlines()[0]
    bad = cli("table", str(out), "--baseline", "nope", "--metrics", "fake_metric")
    assert bad.returncode == 2 and "baseline variant 'nope' is not in these results" in bad.stderr


def test_cli_run_exit_status_is_1_when_a_cell_crashed(tmp_path):
    suite = suite_file(tmp_path, "variants: [gpt2-small]\nprobes: [fake_ok, fake_raise]")
    result = cli("run", "--suite", str(suite), "--probe-module", FAKES, "--out", str(tmp_path / "o"), "--no-report")
    assert result.returncode == 1 and "1 error, 1 ok" in result.stdout


def test_minimal_report_is_a_leaderboard_and_lists_failures(tmp_path):
    run(plan(tmp_path, "variants: [gpt2-small]\nprobes: [fake_ok, fake_raise]").cells, tmp_path / "out")
    html = minimal_report([tmp_path / "out"], tmp_path / "r.html").read_text()
    assert "<h2>Leaderboard</h2>" in html and "boom from the fake probe" in html


def test_a_probe_entry_can_run_on_its_own_variants(tmp_path):
    """`variants:` on a probes item (names or globs) replaces the suite's list for that item only."""
    suite_file = tmp_path / "mini.yaml"
    suite_file.write_text(
        "variants: [gpt2-small]\nprobes:\n  - probe: analytic\n    scale: full\n"
        "  - probe: flop_check\n    variants: ['ladder/0[01]-*']\n"
    )
    plan = make_plan(load_suite(suite_file))
    by_probe = {(c.probe, c.variant) for c in plan.cells}
    assert by_probe == {
        ("analytic", "gpt2-small"),
        ("flop_check", "ladder/00-gpt2"),
        ("flop_check", "ladder/01-no-dropout-bias"),
    }
    suite_file.write_text("variants: [gpt2-small]\nprobes:\n  - probe: analytic\n    variants: ['nope/*']\n")
    with pytest.raises(ConfigError, match="variant pattern 'nope/\\*' matches no registered variant"):
        make_plan(load_suite(suite_file))


def test_the_planner_resolves_the_configs_a_probe_needs(tmp_path):
    """Probes never read the registry: `needs` configs come with the cell, outside its content hash."""
    p = plan(
        tmp_path,
        """
        variants: [gpt2-small]
        probes:
          - {probe: flop_check, scale: full}
          - {probe: scaling, settings: {other_variant: gpt2-medium, scale: tiny}}
        """,
    )
    by_probe = {c.probe: c for c in p.cells}
    assert by_probe["flop_check"].context["proxy"]["name"] == "gpt2-small@tiny"
    assert by_probe["scaling"].context["other"]["name"] == "gpt2-medium@tiny"
    cell = by_probe["flop_check"]
    assert cell.cell_id == cell_id(
        cell.config, "flop_check", cell.settings, "full", code_version("suite.probes.analytic")
    )
