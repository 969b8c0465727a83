"""Aggregation on hand-made tidy frames: leaderboard, ranks, ratios, Pareto, win rates, exponents, ladder."""

import math

import pandas as pd
import pytest

from suite.analysis.aggregate import (
    canonical_settings,
    column_label,
    ladder,
    leaderboard,
    pareto_front,
    ranks,
    ratio_to_baseline,
    scaling_exponents,
    win_rates,
)


def frame(rows):
    """Rows as (variant, metric, value, settings dict[, lower_is_better[, status]])."""
    records = []
    for r in rows:
        variant, metric, value, settings = r[:4]
        lower = r[4] if len(r) > 4 else None
        status = r[5] if len(r) > 5 else "ok"
        records.append(
            dict(
                variant=variant,
                family=variant.split("/")[0],
                scale="tiny",
                metric=metric,
                value=value,
                lower_is_better=lower,
                status=status,
                **{f"settings.{k}": v for k, v in settings.items()},
            )
        )
    return pd.DataFrame.from_records(records)


DF = frame(
    [
        # decode latency at two contexts: only 256 is measured for every variant -> canonical 256
        ("a", "decode_ms_per_token", 1.0, {"context": 128}, True),
        ("a", "decode_ms_per_token", 2.0, {"context": 256}, True),
        ("b", "decode_ms_per_token", 3.0, {"context": 256}, True),
        ("c", "decode_ms_per_token", 4.0, {"context": 256}, True),
        ("c", "decode_ms_per_token", 9.0, {"context": 512}, True),
        ("a", "mqar_accuracy", 0.5, {}, False),
        ("b", "mqar_accuracy", 0.9, {}, False),
        ("c", "mqar_accuracy", 0.9, {}, False),
        ("a", "params_total", 100.0, {}, None),
        ("b", "params_total", 200.0, {}, None),
        ("c", "params_total", 50.0, {}, None),
        ("d", "mqar_accuracy", float("nan"), {}, False, "oom"),
    ]
)


def test_leaderboard_picks_the_largest_context_measured_for_every_variant():
    board = leaderboard(DF, ["decode_ms_per_token", "mqar_accuracy", "params_total"])
    assert list(board.index) == ["a", "b", "c", "d"]
    assert board["decode_ms_per_token"].tolist()[:3] == [2.0, 3.0, 4.0]
    assert board.attrs["settings"]["decode_ms_per_token"] == {"settings.context": 256}
    assert board.attrs["lower_is_better"] == {"decode_ms_per_token": True, "mqar_accuracy": False, "params_total": None}
    assert math.isnan(board.loc["d", "mqar_accuracy"])  # failed rows are not numbers
    assert column_label(board, "decode_ms_per_token") == "Decode latency/token (ms) @ context=256"


def test_leaderboard_canonical_override_and_key_metric_default():
    board = leaderboard(DF, ["decode_ms_per_token"], canonical={"decode_ms_per_token": {"settings.context": 128}})
    assert board["decode_ms_per_token"].dropna().to_dict() == {"a": 1.0}
    default = leaderboard(DF)  # key metrics present, METRICS order
    assert list(default.columns) == ["params_total", "decode_ms_per_token", "mqar_accuracy"]


def test_leaderboard_takes_the_median_of_repeated_rows():
    df = frame([("a", "prefill_ms", v, {"context": 64}, True) for v in (1.0, 2.0, 10.0)])
    assert leaderboard(df, ["prefill_ms"]).loc["a", "prefill_ms"] == 2.0


def test_canonical_settings_prefers_coverage_then_batch_one_then_context():
    rows = frame(
        [(v, "prefill_ms", 1.0, {"context": c, "batch": b}, True) for v in "ab" for c in (64, 128) for b in (1, 8)]
        + [("a", "prefill_ms", 1.0, {"context": 1024, "batch": 1}, True)]
    )
    assert canonical_settings(rows) == {"settings.context": 128, "settings.batch": 1}


def test_ranks_respect_direction_and_skip_undirected_metrics():
    r = ranks(leaderboard(DF, ["decode_ms_per_token", "mqar_accuracy", "params_total"]))
    assert r["decode_ms_per_token"].tolist()[:3] == [1.0, 2.0, 3.0]
    assert r["mqar_accuracy"].tolist()[:3] == [3.0, 1.0, 1.0]  # higher is better; ties share rank 1
    assert r["params_total"].isna().all()


def test_ratio_to_baseline():
    board = leaderboard(DF, ["decode_ms_per_token", "params_total"])
    ratios = ratio_to_baseline(board, "b")
    assert ratios.loc["a"].tolist() == pytest.approx([2 / 3, 0.5])
    assert ratios.loc["b"].tolist() == [1.0, 1.0]
    with pytest.raises(KeyError, match="baseline variant 'z' is not in the results; variants: a, b, c, d"):
        ratio_to_baseline(board, "z")


def test_mean_win_rate():
    board = leaderboard(DF, ["decode_ms_per_token", "mqar_accuracy", "params_total"])
    wins = win_rates(board)
    # decode: a beats 2 of 2, b 1, c 0; mqar: a 0, b and c beat a and tie each other (1.5 of 2)
    assert wins["a"] == pytest.approx((1.0 + 0.0) / 2)
    assert wins["b"] == pytest.approx((0.5 + 0.75) / 2)
    assert wins["c"] == pytest.approx((0.0 + 0.75) / 2)
    assert math.isnan(wins["d"])


def test_pareto_front_respects_directions():
    df = frame(
        [
            ("fast-bad", "decode_ms_per_token", 1.0, {}, True),
            ("fast-bad", "mqar_accuracy", 0.2, {}, False),
            ("slow-good", "decode_ms_per_token", 5.0, {}, True),
            ("slow-good", "mqar_accuracy", 0.9, {}, False),
            ("middle", "decode_ms_per_token", 3.0, {}, True),
            ("middle", "mqar_accuracy", 0.6, {}, False),
            ("dominated", "decode_ms_per_token", 4.0, {}, True),
            ("dominated", "mqar_accuracy", 0.5, {}, False),
            ("tied", "decode_ms_per_token", 5.0, {}, True),
            ("tied", "mqar_accuracy", 0.9, {}, False),
        ]
    )
    front = pareto_front(df, "decode_ms_per_token", "mqar_accuracy")
    assert front.set_index("variant")["on_front"].to_dict() == {
        "fast-bad": True,
        "middle": True,
        "dominated": False,
        "slow-good": True,
        "tied": True,
    }
    assert front["x"].is_monotonic_increasing
    flipped = pareto_front(df, "decode_ms_per_token", "mqar_accuracy", x_lower_is_better=False)
    assert set(flipped.loc[flipped["on_front"], "variant"]) == {"slow-good", "tied"}


def test_scaling_exponents_recover_known_powers_and_record_the_range():
    rows = []
    for L in (64, 128, 256, 512):
        rows.append(("quad", "prefill_ms", 0.001 * L**2, {"context": L, "phase": "prefill"}, True))
        rows.append(("lin", "prefill_ms", 0.5 * L, {"context": L, "phase": "prefill"}, True))
        rows.append(("lin", "prefill_ms", 7.0, {"context": L, "phase": "decode"}, True))
    rows.append(("one", "prefill_ms", 1.0, {"context": 64, "phase": "prefill"}, True))
    fit = scaling_exponents(frame(rows), "prefill_ms").set_index(["variant", "settings.phase"])
    assert fit.loc[("quad", "prefill"), "exponent"] == pytest.approx(2.0)
    assert fit.loc[("lin", "prefill"), "exponent"] == pytest.approx(1.0)
    assert fit.loc[("lin", "decode"), "exponent"] == pytest.approx(0.0, abs=1e-12)
    assert fit.loc[("quad", "prefill"), ["x_min", "x_max", "n"]].tolist() == [64, 512, 4]
    assert fit.loc[("quad", "prefill"), "r2"] == pytest.approx(1.0)
    assert "one" not in fit.index.get_level_values(0)  # one point: no fit


def test_ladder_deltas_rung_by_rung_in_name_order():
    df = frame(
        [
            ("ladder/01-rope", "params_total", 110.0, {}),
            ("ladder/00-gpt2", "params_total", 100.0, {}),
            ("ladder/02-gqa", "params_total", 88.0, {}),
            ("other", "params_total", 1.0, {}),
            ("ladder/00-gpt2", "kv_cache_bytes_per_token", 8.0, {}, True),
            ("ladder/02-gqa", "kv_cache_bytes_per_token", 2.0, {}, True),
        ]
    )
    out = ladder(df, family=None)
    params = out[out["metric"] == "params_total"]
    assert params["rung"].tolist() == ["ladder/00-gpt2", "ladder/01-rope", "ladder/02-gqa"]
    assert params["previous"].tolist() == ["", "ladder/00-gpt2", "ladder/01-rope"]
    assert params["delta"].tolist()[1:] == [10.0, -22.0] and math.isnan(params["delta"].iloc[0])
    assert params["ratio"].tolist()[1:] == pytest.approx([1.1, 0.8])
    kv = out[out["metric"] == "kv_cache_bytes_per_token"].set_index("rung")
    assert math.isnan(kv.loc["ladder/01-rope", "value"]) and math.isnan(kv.loc["ladder/02-gqa", "delta"])
    assert ladder(frame([("x", "params_total", 1.0, {})])).empty


def test_aggregation_on_an_empty_frame():
    empty = frame([])
    if empty.empty:
        empty = pd.DataFrame(columns=["variant", "family", "scale", "metric", "value", "lower_is_better", "status"])
    assert leaderboard(empty).empty
    assert scaling_exponents(empty, "prefill_ms").empty


def test_leaderboard_reads_a_metric_from_its_home_probe():
    """prefill_ms comes from both `latency` and `scaling`; the leaderboard reads the latency probe's."""
    df = frame(
        [
            ("a", "prefill_ms", 1.0, {"context": 128}, True),
            ("a", "prefill_ms", 50.0, {"context": 256}, True),
            ("b", "prefill_ms", 2.0, {"context": 128}, True),
            ("b", "prefill_ms", 60.0, {"context": 256}, True),
        ]
    )
    df["probe"] = ["latency", "scaling", "latency", "scaling"]
    board = leaderboard(df, ["prefill_ms"])
    assert board["prefill_ms"].to_dict() == {"a": 1.0, "b": 2.0}
    assert board.attrs["settings"]["prefill_ms"] == {}


def test_size_metrics_alone_give_no_win_rate():
    """The smallest model wins every size column by construction: those are never averaged into a ranking."""
    import pandas as pd

    from suite.analysis.aggregate import win_rates

    board = pd.DataFrame(
        {"params_active": [1e8, 1e9, 1e10], "kv_cache_bytes_per_token": [1e3, 1e4, 1e5]}, index=["s", "m", "l"]
    )
    board.attrs["lower_is_better"] = {"params_active": True, "kv_cache_bytes_per_token": True}
    assert win_rates(board).isna().all()
    # a speed column ranks them, and only it counts
    board["decode_ms_per_token"] = [3.0, 1.0, 2.0]
    board.attrs["lower_is_better"]["decode_ms_per_token"] = True
    assert win_rates(board).to_dict() == {"s": 0.0, "m": 1.0, "l": 0.5}
