"""`--executor ray`: the same rows as the local executor, the same cache, a dying worker retried once.

The cluster tests start one local Ray for the module (`ray.init(num_cpus=2)`, ~10 s); the bookkeeping
tests use a fake in-process `ray` module, and the error without Ray hides the installed one.
"""

import dataclasses
import io
import json
import math
import sys
import textwrap
from pathlib import Path

import pytest

from suite import probes as probe_registry
from suite.cli import main
from suite.config import ConfigError
from suite.results import read_jsonl
from suite.run.executors import Outcome, SequentialExecutor, make_executor
from suite.run.plan import make_plan
from suite.run.progress import PlainProgress
from suite.run.ray_executor import RayExecutor, resources
from suite.run.runner import run_cells
from suite.run.suite_file import load_suite

FAKES = str(Path(__file__).resolve().parent / "fake_probes.py")
SUITE = """\
scale: tiny
variants: [gpt2-small, qwen3-0.6b]
probes:
  - probe: analytic
    scale: full
    settings: {context: [128, 1024]}
  - probe: fake_ok
  - probe: latency
    variants: [gpt2-small]
    settings: {contexts: [32], budget_s: 0.1}
"""
# A probe module whose probes kill their Ray worker the way a segfault or the OOM killer would.
DYING = """\
import os
from pathlib import Path

from suite.probes import Row, probe


@probe("die_once", family="ray_test", defaults={"marker": ""})
def die_once(config, settings):
    marker = Path(settings["marker"])
    if not marker.exists():  # the first attempt dies; the retry finds the marker
        marker.write_text("died once")
        os._exit(1)
    return [Row("survived", 1.0)]


@probe("die_always", family="ray_test")
def die_always(config, settings):
    os._exit(1)
"""


@pytest.fixture(autouse=True)
def forget_file_probes():
    """Probes loaded from files by the runner are this test's only."""
    yield
    for name, spec in list(probe_registry.PROBES.items()):
        if spec.fn.__module__.startswith("archbench_probes_"):
            del probe_registry.PROBES[name]
    for name in [n for n in sys.modules if n.startswith("archbench_probes_")]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")  # in the `test` extra: installed wherever the tests run
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def plan_cells(tmp_path, text=SUITE, modules=(FAKES,)):
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text))
    return make_plan(load_suite(path), probe_modules=list(modules)).cells


def run(cells, out, executor):
    return run_cells(cells, out, executor=executor, progress=PlainProgress(io.StringIO()))


def rows_of(out) -> list[dict]:
    return read_jsonl(Path(out) / "results.jsonl", latest=False)


def key(row: dict) -> tuple:
    settings = tuple(sorted((k, str(v)) for k, v in row.items() if k.startswith("settings.")))
    return row["variant"], row["scale"], row["probe"], row["metric"], settings


# ------------------------------------------------------------------ on a local Ray
def test_ray_gives_the_local_executors_analytic_rows_and_well_formed_measured_rows(tmp_path, ray_cluster):
    cells = plan_cells(tmp_path)
    local, remote = run(cells, tmp_path / "local", SequentialExecutor()), run(cells, tmp_path / "ray", RayExecutor())
    assert local.statuses == remote.statuses == {"ok": len(cells)}
    by_local = {key(r): r for r in rows_of(tmp_path / "local")}
    by_ray = {key(r): r for r in rows_of(tmp_path / "ray")}
    assert by_local.keys() == by_ray.keys() and len(by_ray) > 20
    exact = [k for k in by_ray if k[2] in ("analytic", "fake_ok")]
    assert len(exact) > 20 and all(by_ray[k]["value"] == by_local[k]["value"] for k in exact)
    assert {r["cell_id"] for r in by_ray.values()} == {c.cell_id for c in cells}
    timed = [r for k, r in by_ray.items() if k[2] == "latency"]
    assert timed and all(r["status"] == "ok" and r["unit"] == by_local[key(r)]["unit"] for r in timed)
    assert all(isinstance(r["value"], float) and math.isfinite(r["value"]) and r["value"] > 0 for r in timed)
    assert all(r["settings.threads"] == 1 and r["threads"] == 1 for r in timed)  # a 1-CPU task, as it asked


def test_ray_keeps_the_cache_and_resume_semantics(tmp_path, ray_cluster):
    cells = plan_cells(tmp_path)
    first = run(cells[:3], tmp_path / "out", SequentialExecutor())  # an interrupted local run
    rest = run(cells, tmp_path / "out", RayExecutor())
    again = run(cells, tmp_path / "out", RayExecutor())
    assert (first.ran, rest.cached, rest.ran) == (3, 3, len(cells) - 3)
    assert (again.cached, again.ran) == (len(cells), 0)
    assert len({r["cell_id"] for r in rows_of(tmp_path / "out")}) == len(cells)


def test_a_dying_worker_is_retried_once_then_recorded_and_no_row_is_lost(tmp_path, ray_cluster):
    module = tmp_path / "dying.py"
    module.write_text(DYING)
    suite = f"""\
        scale: tiny
        variants: [gpt2-small]
        probes:
          - probe: die_once
            settings: {{marker: "{tmp_path / "marker"}"}}
          - probe: die_always
          - probe: fake_ok
        """
    cells = plan_cells(tmp_path, suite, modules=(FAKES, str(module)))
    log = io.StringIO()
    executor = RayExecutor(log=log)
    summary = run(cells, tmp_path / "out", executor)
    rows = {r["probe"]: r for r in rows_of(tmp_path / "out")}
    assert summary.statuses == {"ok": 2, "error": 1}
    assert rows["die_once"]["status"] == "ok" and rows["die_once"]["metric"] == "survived"
    assert rows["die_always"]["status"] == "error"
    assert (
        "the worker died running this cell, and again on its retry: WorkerCrashedError" in rows["die_always"]["error"]
    )
    assert rows["fake_ok"]["status"] == "ok"
    by_id = {c.probe: c.cell_id for c in cells}
    assert sorted(executor.retried) == sorted([by_id["die_once"], by_id["die_always"]])
    assert log.getvalue().count("retrying once") == 2


def test_a_cell_no_node_can_run_fails_at_once_instead_of_waiting(tmp_path, ray_cluster):
    cells = plan_cells(tmp_path, "variants: [gpt2-small]\nscale: tiny\nprobes: [{probe: fake_ok}]\n")
    gpu = dataclasses.replace(cells[0], settings={**cells[0].settings, "device": "cuda"}, cell_id="gpu")
    huge = dataclasses.replace(cells[0], memory_cap=2**50, cell_id="huge")
    summary = run([gpu, huge, cells[0]], tmp_path / "out", RayExecutor())
    errors = {r["cell_id"]: r["error"] for r in rows_of(tmp_path / "out") if r["status"] == "error"}
    assert summary.statuses == {"error": 2, "ok": 1}
    assert "offers 1 CPU, 1 GPU at once" in errors["gpu"] and "offers 1 CPU, 1048576.0 GiB memory" in errors["huge"]


def test_archbench_run_executor_ray_on_the_command_line(tmp_path, ray_cluster, capsys):
    (tmp_path / "s.yaml").write_text("scale: full\nvariants: [gpt2-small]\nprobes: [{probe: analytic}]\n")
    out = tmp_path / "out"
    assert (
        main(["run", "--suite", str(tmp_path / "s.yaml"), "--out", str(out), "--executor", "ray", "--no-report"]) == 0
    )
    assert "cells sent as tasks" in capsys.readouterr().err
    record = json.loads((out / "run.json").read_text())
    assert record["args"]["executor"] == "ray" and record["status"] == "finished"
    assert rows_of(out) and all(r["status"] == "ok" for r in rows_of(out))


# ------------------------------------------------------------------ without Ray
def test_without_ray_executor_ray_is_a_clear_error_naming_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    with pytest.raises(ConfigError, match=r"pip install 'archbench\[ray\]'"):
        make_executor(kind="ray")
    (tmp_path / "s.yaml").write_text("scale: full\nvariants: [gpt2-small]\nprobes: [{probe: analytic}]\n")
    args = ["run", "--suite", str(tmp_path / "s.yaml"), "--no-report"]
    assert main([*args, "--out", str(tmp_path / "ray"), "--executor", "ray"]) == 2
    err = capsys.readouterr().err
    assert "--executor ray needs Ray, which is an optional extra" in err and err.count("\n") == 1
    assert not (tmp_path / "ray").exists()  # refused before any work
    assert main([*args, "--out", str(tmp_path / "local")]) == 0  # the default executor does not need it
    assert rows_of(tmp_path / "local")


def test_address_without_ray_is_refused():
    with pytest.raises(ConfigError, match="--address names a Ray cluster"):
        make_executor(kind="local", address="auto")


def test_resources_ask_for_threads_a_gpu_and_the_memory_cap(tmp_path):
    cell = plan_cells(tmp_path, "variants: [gpt2-small]\nscale: tiny\nprobes: [{probe: fake_ok}]\n")[0]
    assert resources(cell) == {"num_cpus": 1, "num_gpus": 0}
    cell = dataclasses.replace(cell, settings={"threads": 4, "device": "cuda:1"}, memory_cap=4 * 2**30)
    assert resources(cell) == {"num_cpus": 4, "num_gpus": 1, "memory": 4 * 2**30}


# ------------------------------------------------------------------ bookkeeping, with a fake Ray
class WorkerCrashedError(Exception):
    pass


class OutOfMemoryError(Exception):
    pass


class RayTaskError(Exception):
    pass


class FakeRay:
    """Enough of Ray's API for RayExecutor: each attempt of a cell returns or raises what `script` says."""

    def __init__(self, script: dict[str, list]):
        self.script, self.attempts, self.cancelled, self.started = script, {}, [], False

    def is_initialized(self):
        return self.started

    def init(self, **options):
        self.started, self.options = True, options

    def shutdown(self):
        self.started = False

    def nodes(self):
        return [{"Alive": True, "Resources": {"CPU": 2.0, "memory": 8e9}}]

    def remote(self, fn):
        return self

    def options(self, **request):
        assert request["max_retries"] == 0  # retries are ours, so the log can name them
        return self

    def remote_call(self, fields):
        n = self.attempts[fields["cell_id"]] = self.attempts.get(fields["cell_id"], 0) + 1
        return fields["cell_id"], n

    def wait(self, refs, num_returns=1):
        return refs[:1], refs[1:]

    def get(self, ref):
        result = self.script[ref[0]][ref[1] - 1]
        if isinstance(result, BaseException):
            raise result
        return dataclasses.asdict(Outcome("ok", [], seconds=0.1))

    def cancel(self, ref, force=False):
        self.cancelled.append(ref)


def fake_executor(script):
    ray = FakeRay(script)
    executor = RayExecutor(ray_module=ray, log=io.StringIO())
    executor._submit = lambda task, cell: ray.remote_call(dataclasses.asdict(cell))
    return ray, executor


def test_retry_bookkeeping_with_a_fake_ray(tmp_path):
    cell = plan_cells(tmp_path, "variants: [gpt2-small]\nscale: tiny\nprobes: [{probe: fake_ok}]\n")[0]
    cells = [dataclasses.replace(cell, cell_id=name) for name in ("ok", "once", "twice", "oom", "raised")]
    ray, executor = fake_executor(
        {
            "ok": ["ok"],
            "once": [WorkerCrashedError("killed"), "ok"],
            "twice": [WorkerCrashedError("killed"), WorkerCrashedError("killed again")],
            "oom": [OutOfMemoryError("memory monitor"), OutOfMemoryError("memory monitor")],
            "raised": [RayTaskError("cannot import suite")],
        }
    )
    outcomes = {c.cell_id: o for c, o in executor.run(cells)}
    assert {k: o.status for k, o in outcomes.items()} == {
        "ok": "ok",
        "once": "ok",
        "twice": "error",
        "oom": "oom",
        "raised": "error",
    }
    assert "again on its retry: WorkerCrashedError: killed again" in outcomes["twice"].error
    assert outcomes["raised"].error == "ray: the task failed: RayTaskError: cannot import suite"
    assert ray.attempts == {"ok": 1, "once": 2, "twice": 2, "oom": 2, "raised": 1}  # a task's own error: no retry
    assert executor.retried == ["once", "twice", "oom"] and not ray.started  # the Ray it started is stopped


def test_an_interrupted_run_cancels_what_is_still_pending(tmp_path):
    cell = plan_cells(tmp_path, "variants: [gpt2-small]\nscale: tiny\nprobes: [{probe: fake_ok}]\n")[0]
    cells = [dataclasses.replace(cell, cell_id=f"c{i}") for i in range(4)]
    ray, executor = fake_executor({f"c{i}": ["ok"] for i in range(4)})
    stream = executor.run(cells)
    next(stream)
    stream.close()  # what the runner's loop does on Ctrl-C
    assert sorted(ref[0] for ref in ray.cancelled) == ["c1", "c2", "c3"] and not ray.started
