"""One metric table: every built-in probe's metric is in METRICS, which alone sets unit and direction."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

from suite.analysis.aggregate import direction
from suite.metrics import METRICS, metric_unit_and_direction
from suite.probes import Row

PROBES = Path(__file__).resolve().parents[1] / "suite" / "probes"


def _row_calls():
    for path in sorted(PROBES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Row":
                yield path.name, node


def _literal_metrics():
    for name, node in _row_calls():
        first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "metric"), None)
        if isinstance(first, ast.Constant):
            yield f"{name}:{node.lineno}", first.value


@pytest.mark.parametrize("where, metric", list(_literal_metrics()), ids=lambda v: v)
def test_every_literal_probe_metric_is_in_the_metric_table(where, metric):
    assert metric in METRICS, f"{where}: metric '{metric}' is not in suite.metrics.METRICS"


def test_built_in_probes_do_not_declare_unit_or_direction():
    offenders = [
        f"{name}:{node.lineno}"
        for name, node in _row_calls()
        if len(node.args) > 4
        or any(k.arg in ("unit", "lower_is_better") for k in node.keywords)
        and name != "quality.py"
    ]
    assert not offenders, f"unit/direction belong to METRICS, not to the row: {offenders}"


def test_a_row_cannot_override_a_known_metric():
    assert metric_unit_and_direction("params_active", "bananas", False) == ("count", True)
    assert metric_unit_and_direction("my_plugin_metric", "ms", True) == ("ms", True)
    assert Row("x", 1.0, unit="ms").unit == "ms"


def test_failed_rows_do_not_flip_a_direction():
    # one ok row and two failed rows that say otherwise: METRICS decides for known metrics,
    # and only ok rows count for unknown ones
    df = pd.DataFrame(
        {
            "metric": ["decode_ms_per_token"] * 3 + ["plug"] * 3,
            "lower_is_better": [True, False, False, True, False, False],
            "status": ["ok", "error", "error"] * 2,
        }
    )
    assert direction("decode_ms_per_token", df) is True
    assert direction("plug", df) is True
