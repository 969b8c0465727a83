"""What each rung buys, and which quality numbers a board may rank (seed intervals, matched proxies)."""

from __future__ import annotations

import json

import pandas as pd
from test_report import _cell_rows, _r

from suite.analysis.ladder_buys import rung_changes
from suite.analysis.quality_gate import unranked_reason
from suite.report.boards import boards_view
from suite.report.figures import Figures
from suite.report.sections import buys_table, section_tradeoffs


def _quality(variant, value, half=None, size=1e5, family="ladder", metric="bits_per_byte", lower=True):
    extra = {"active_excl_embedding": size}
    if half is not None:
        extra.update(ci_low=value - half, ci_high=value + half, n_seeds=3)
    return _cell_rows(variant, family, "tiny", "quality", [dict(_r(metric, value, "bits/byte", lower), extra=extra)])


def _cost(variant, params, family="ladder"):
    return _cell_rows(variant, family, "full", "analytic", [_r("params_active", params, "count")])


def _frame(rows) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df["extra"] = df["extra"].map(json.loads)
    return df


def _ladder(halves: tuple, values=(3.0, 2.5, 2.45)) -> pd.DataFrame:
    rows = []
    for i, (value, half) in enumerate(zip(values, halves)):
        name = f"ladder/0{i}-rung"
        rows += _cost(name, 100e6 * (1 + i)) + _quality(name, value, half)
    return _frame(rows)


def test_a_change_larger_than_the_seeds_noise_is_told_apart_and_a_smaller_one_is_not():
    changes = rung_changes(_ladder((0.03, 0.04, 0.04)))
    bpb = changes[changes["metric"] == "bits_per_byte"].set_index("rung")
    # 3.0 -> 2.5: a drop of 0.5 against a noise of hypot(0.03, 0.04) = 0.05
    assert bpb.loc["ladder/01-rung", "verdict"] == "better"
    assert abs(bpb.loc["ladder/01-rung", "noise"] - 0.05) < 1e-9
    # 2.5 -> 2.45: 0.05 against hypot(0.04, 0.04) = 0.0566
    assert bpb.loc["ladder/02-rung", "verdict"] == "within noise"
    params = changes[changes["metric"] == "params_active"].set_index("rung")
    assert params.loc["ladder/02-rung", "ratio"] == 1.5 and params.loc["ladder/02-rung", "verdict"] == ""


def test_a_worse_quality_is_called_worse_and_one_seed_cannot_be_told():
    changes = rung_changes(_ladder((0.01, 0.01, None), values=(2.0, 2.5, 2.0)))
    bpb = changes[changes["metric"] == "bits_per_byte"].set_index("rung")
    assert bpb.loc["ladder/01-rung", "verdict"] == "worse"
    assert bpb.loc["ladder/02-rung", "verdict"] == ""  # no interval on the last rung
    table = buys_table(_ladder((0.01, 0.01, None), values=(2.0, 2.5, 2.0)), {})
    assert "1 cannot be told" in table["summary"] and "01-rung Bits per byte (worse)" in table["summary"]


def test_quality_without_intervals_or_on_unmatched_proxies_is_not_ranked():
    one_seed = _frame(_quality("a", 2.0, family="x") + _quality("b", 2.5, family="x"))
    assert "one seed" in unranked_reason(one_seed)
    unmatched = _frame(_quality("a", 2.0, 0.1, size=1e5, family="x") + _quality("b", 2.5, 0.1, size=2e5, family="x"))
    assert "not matched" in unranked_reason(unmatched)
    fair = _frame(_quality("a", 2.0, 0.1, family="x") + _quality("b", 2.5, 0.1, family="x"))
    assert unranked_reason(fair) == ""
    # on a board: the one-seed column has no rank and no win rate; with intervals it has both
    for df, ranked in ((one_seed, False), (fair, True)):
        (board,) = boards_view(df)
        cells = [r["cells"][0] for r in board["rows"]]
        assert all((c["rank"] is not None) == ranked for c in cells)
        assert board["ranked"] == ranked
        assert bool(board["columns"][0]["unranked"]) != ranked


def test_tradeoff_points_carry_their_seed_interval_as_error_bars():
    rows = []
    for name, params, value in (("a", 1e8, 2.0), ("b", 2e8, 1.9)):
        rows += _cost(name, params, family="x") + _quality(name, value, 0.2, family="x")
    section = section_tradeoffs(_frame(rows), Figures(), {})
    (fig,) = [f for f in section.figures if "Parameters" in f.title]
    data = json.loads(fig.json)["data"]
    bars = [t["error_y"] for t in data if "error_y" in t]
    assert len(bars) == 2 and all(abs(b["array"][0] - 0.2) < 1e-9 for b in bars)
    assert "within noise on the front: a and b" in fig.note
