"""CLI contracts held equal to copies stored before the package was split into layers (issue 12).

`tests/data/golden/` was written by the flat package at f0e4df8: the quick suite's analytic rows
(every key a row has, minus run id, timings and provenance), and the JSON of `list`, `show`,
`budget` and `import --check`. A refactor may add keys; it may not change or drop one. Changed on
purpose since: GLA's executed prefill FLOPs (`extra.executed` of the gla rows), since its exact
diagonal sub-blocks are sqrt(chunk) long (8 at chunk 64, was 16): fewer pairwise products.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from suite.results import PROVENANCE_COLUMNS

GOLDEN = Path(__file__).parent / "data" / "golden"
RUN_SPECIFIC = {"run_id", "attempt", "cell_seconds", "cell_id", *PROVENANCE_COLUMNS}
# Parity errors of a random tiny model are floating-point noise: equal to within this.
NOISY_KEYS = {"max_abs_diff", "decode_max_abs_diff"}


def cli(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "suite.cli", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_same(expected, actual, path="$"):
    """Every key and value of `expected` is in `actual` (new keys allowed), numbers to 1e-12 rel."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{path}: key '{key}' is gone"
            if key in NOISY_KEYS:
                assert actual[key] < 1e-4, f"{path}.{key}: {actual[key]}"
                continue
            assert_same(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: list differs"
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_same(e, a, f"{path}[{i}]")
    elif isinstance(expected, float) and not isinstance(actual, bool) and isinstance(actual, (int, float)):
        assert math.isclose(expected, actual, rel_tol=1e-12, abs_tol=0.0) or expected == actual, (
            f"{path}: {actual} != {expected}"
        )
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


def _row_key(row: dict) -> tuple:
    settings = {k: v for k, v in row.items() if k.startswith("settings.")}
    return row["variant"], row["metric"], json.dumps(settings, sort_keys=True)


def test_quick_suite_analytic_rows_unchanged(tmp_path):
    out = tmp_path / "run"
    cli("run", "--probes", "analytic", "--no-report", "--out", str(out))
    actual = {}
    for line in (out / "results.jsonl").read_text().splitlines():
        row = {k: v for k, v in json.loads(line).items() if k not in RUN_SPECIFIC}
        actual[_row_key(row)] = row
    expected = [json.loads(line) for line in (GOLDEN / "quick_analytic_rows.jsonl").read_text().splitlines()]
    # + the hybrid (qwen3-next-80b-a3b) and the mixer ladder (issue 13), + marginal KV per token per cell (issue 17)
    assert len(expected) == 528 + 33 + 210 + 63 + 34
    assert set(actual) == {_row_key(r) for r in expected}
    for row in expected:
        got = actual[_row_key(row)]
        if isinstance(row.get("extra"), str):  # extra is a JSON string in the store: compare parsed
            row, got = dict(row), dict(got)
            assert_same(json.loads(row.pop("extra")), json.loads(got.pop("extra")), f"{_row_key(row)}.extra")
        assert_same(row, got, str(_row_key(row)))


@pytest.mark.parametrize(
    "args, golden",
    [
        (("list", "--json"), "list.json"),
        (("show", "gpt2-small", "--json"), "show_gpt2-small.json"),
        (("show", "deepseek-v3", "--json"), "show_deepseek-v3.json"),
        (("show", "gpt-oss-20b", "--json"), "show_gpt-oss-20b.json"),
        (("show", "qwen3-0.6b", "--scale", "tiny", "--json"), "show_qwen3-0.6b_tiny.json"),
        (("budget", "gpt-oss-120b", "--memory", "80GB", "--dtype", "mxfp4", "--json"), "budget_gpt-oss-120b.json"),
        (("budget", "llama-3.1-8b", "--device", "h100", "--json"), "budget_llama-3.1-8b.json"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_cli_json_unchanged(args, golden):
    assert_same(json.loads((GOLDEN / golden).read_text()), json.loads(cli(*args)))


@pytest.mark.parametrize(
    "model_type, golden", [("llama", "import_check_llama.json"), ("gpt_oss", "import_check_gptoss.json")]
)
def test_import_check_json_unchanged(tmp_path, model_type, golden):
    from hf_tiny import make_checkpoint

    folder = make_checkpoint(model_type, tmp_path / f"tiny_{model_type.replace('_', '')}")
    actual = json.loads(cli("import", str(folder), "--check", "--json").replace(str(folder), "{dir}"))
    assert_same(json.loads((GOLDEN / golden).read_text()), actual)
