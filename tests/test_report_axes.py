"""Log axes where values span orders of magnitude, error bars on measured points."""

from __future__ import annotations

import json

import pandas as pd
from test_report import _cell_rows, _r, synthetic_rows

from suite.report.figures import Figures
from suite.report.memory import section_memory, wide_span
from suite.report.scaling import section_scaling


def _frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["extra"] = df["extra"].map(json.loads)
    return df


def test_wide_span_is_more_than_two_orders_of_magnitude():
    assert wide_span([1e8, 1e12]) and not wide_span([1e8, 5e9]) and not wide_span([0.0, 1e12])


def test_memory_bars_go_log_and_side_by_side_when_models_differ_by_orders_of_magnitude():
    rows = []
    for name, weights in (("small", 2.5e8), ("huge", 1.3e12)):
        rows += _cell_rows(name, "x", "full", "analytic", [_r("weights_bytes", weights, "bytes", dtype="bf16")])
    section = section_memory(_frame(rows), Figures())
    layout = json.loads(section.figures[0].json)["layout"]
    assert layout["xaxis"]["type"] == "log" and layout["barmode"] == "group"
    assert "log axis" in section.figures[0].note
    close = section_memory(
        _frame(rows[:1] + _cell_rows("b", "x", "full", "analytic", [_r("weights_bytes", 5e8, "bytes", dtype="bf16")])),
        Figures(),
    )
    assert json.loads(close.figures[0].json)["layout"].get("barmode") == "stack"


def test_measured_latency_points_carry_their_interquartile_range():
    rows = synthetic_rows(failures=False)
    for row in rows:  # the timings as the latency probe writes them: quartiles of the repeats
        if row["metric"] == "prefill_ms":
            row["extra"] = json.dumps(dict(q25=row["value"] * 0.9, q75=row["value"] * 1.2))
    section = section_scaling(_frame(rows), Figures(), {})
    fig = next(f for f in section.figures if f.title.startswith("Prefill"))
    traces = [t for t in json.loads(fig.json)["data"] if t.get("mode") == "lines+markers"]
    assert traces and all("error_y" in t for t in traces)
    t = traces[0]
    assert abs(t["error_y"]["array"][0] - 0.2 * t["y"][0]) < 1e-9
    assert abs(t["error_y"]["arrayminus"][0] - 0.1 * t["y"][0]) < 1e-9
