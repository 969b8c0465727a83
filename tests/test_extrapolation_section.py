"""The report's length-extrapolation section: bits per byte by length factor, the paired rise per
line, and in words which lines stay flat, which rise and which cannot run at every length."""

import json

import pandas as pd

from suite.report.extrapolation import section_extrapolation
from suite.report.figures import Figures


def _row(variant, factor, seeds, scaling="none", error=""):
    mean = sum(seeds) / len(seeds) if seeds else None
    extra = dict(values=seeds, ci_low=mean - 0.05, ci_high=mean + 0.05) if seeds else {}
    return {"variant": variant, "metric": "extrapolation_bpb", "value": mean, "status": "error" if error else "ok",
            "error": error, "probe": "extrapolation", "settings.length_factor": factor,
            "settings.eval_rope_scaling": scaling, "extra": json.dumps(extra)}  # fmt: skip


def _frame():
    rows = []
    for f, rise in ((1, 0.0), (2, 0.1), (4, 0.3)):
        rows.append(_row("rope", f, [3.0 + rise, 3.5 + rise, 3.2 + rise + 0.01]))  # the same rise in every seed
        rows.append(_row("rope", f, [3.0 + rise / 3, 3.5 + rise / 3, 3.2 + rise / 3], scaling="yarn"))
        rows.append(_row("window", f, [3.1, 3.6 + (0.01 if f > 1 else 0), 3.3 - (0.01 if f > 1 else 0)]))
    rows.append(_row("learned", 1, [3.4, 3.5, 3.6]))
    rows.append(_row("learned", 2, [3.5, 3.6, 3.7]))
    rows.append(_row("learned", 4, [], error="512 tokens need more than the 256 learned positions"))
    return pd.DataFrame(rows)


def test_rise_is_paired_per_seed_and_the_lines_are_named_in_words():
    section = section_extrapolation(_frame(), Figures(), {})
    grid = section.extra["grid"]
    assert grid["headers"] == ["1×", "2×", "4×", "rise"]
    rows = {r["name"]: r for r in grid["rows"]}
    assert set(rows) == {"rope", "rope + yarn", "window", "learned"}
    # seeds differ by 0.5 in level but rise by 0.3 each: the paired interval is narrow, so it rises
    assert rows["rope"]["note"] == "rises" and rows["rope"]["cells"][-1]["text"].startswith("+0.30 ±0.0")
    assert rows["window"]["note"] == "flat"
    assert rows["learned"]["note"] == "stops" and "cannot run past 2×" in rows["learned"]["cells"][-1]["text"]
    assert (
        rows["learned"]["cells"][2]["text"] == "error" and "learned positions" in rows["learned"]["cells"][2]["title"]
    )
    assert "Flat within the seeds' noise: window." in grid["summary"]
    assert "Rising past the training length: rope, rope + yarn." in grid["summary"]
    assert "Cannot run at every length (hover the errors): learned." in grid["summary"]
    data = json.loads(section.figures[0].json.replace("<\\/", "</"))
    yarn = next(t for t in data["data"] if t["name"] == "rope + yarn")
    assert yarn["x"] == [1, 2, 4] and yarn["line"]["dash"] == "dot"
    assert [round(v, 6) for v in yarn["error_y"]["array"]] == [0.05, 0.05, 0.05]


def test_without_extrapolation_rows_the_section_says_how_to_get_them():
    empty = pd.DataFrame(columns=["variant", "metric", "value", "status", "probe"])
    section = section_extrapolation(empty, Figures(), {})
    assert not section.figures and "--suite extrapolation" in section.empty
