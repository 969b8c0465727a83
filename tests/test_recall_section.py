"""The report's recall section: accuracy per (length, pairs) with the seeds' intervals, and in words
which variants part beyond noise and whose accuracy falls as the pairs grow."""

import json

import pandas as pd

from suite.report.figures import Figures
from suite.report.recall import section_recall

POINTS = ((64, 4, True), (64, 16, True), (128, 32, False))


def _rows(accuracies: dict[str, tuple[float, float, float]], half: float = 0.02):
    rows = []
    for variant, values in accuracies.items():
        for (length, pairs, trained), acc in zip(POINTS, values):
            extra = dict(ci_low=acc - half, ci_high=acc + half, values=[acc - 0.01, acc, acc + 0.01],
                         trained_on=trained, width=64, chance=1 / 127)  # fmt: skip
            where = {"settings.seq_len": length, "settings.pairs": pairs}
            rows.append(dict(variant=variant, metric="recall_accuracy", value=acc, status="ok", probe="recall",
                             **where, extra=json.dumps(extra)))  # fmt: skip
    return pd.DataFrame(rows)


def test_table_figure_and_the_separations_in_words():
    df = _rows({"attention": (0.97, 0.96, 0.90), "window": (0.05, 0.01, 0.01), "mixer": (0.80, 0.30, 0.05)})
    section = section_recall(df, Figures(), {})
    grid = section.extra["grid"]
    assert [r["name"] for r in grid["rows"]] == ["attention", "mixer", "window"]  # best first, one recipe: no label
    assert grid["headers"] == ["L64 / 4", "L64 / 16", "L128 / 32"]
    attention = next(r for r in grid["rows"] if r["name"] == "attention")
    assert [c["text"] for c in attention["cells"]] == ["0.97 ±0.02*", "0.96 ±0.02*", "0.90 ±0.02"]
    assert "width 64" in attention["note"] and "0.960" in attention["cells"][1]["title"]
    # the hardest trained point (64 tokens, 16 pairs) ranks them with '>' where intervals part
    assert "At L64 / 16 (the most pairs trained on)" in grid["summary"]
    assert "attention 0.96 ±0.02* > mixer 0.30 ±0.02* > window 0.01 ±0.02*" in grid["summary"]
    # the mixer falls from 4 to 16 pairs beyond noise; attention (0.97 -> 0.96) stays within it
    assert "mixer at L64 (0.80 at 4 pairs → 0.30 at 16)" in grid["summary"]
    assert "It holds within noise for: attention at L64 (0.97 at 4 pairs → 0.96 at 16)." in grid["summary"]
    assert "window at" not in grid["summary"]  # never learned (below 0.5): neither falls nor holds
    data = json.loads(section.figures[0].json.replace("<\\/", "</"))
    mixer = next(t for t in data["data"] if t["name"] == "mixer")
    assert mixer["x"] == grid["headers"] and mixer["y"] == [0.80, 0.30, 0.05]
    assert [round(v, 6) for v in mixer["error_y"]["array"]] == [0.02, 0.02, 0.02]
    assert next(t for t in data["data"] if t["name"] == "chance")["y"] == [1 / 127] * 3


def test_variants_within_noise_are_grouped_and_no_fall_is_claimed():
    df = _rows({"a": (0.9, 0.9, 0.9), "b": (0.91, 0.91, 0.91)}, half=0.05)
    summary = section_recall(df, Figures(), {}).extra["grid"]["summary"]
    ranking = summary.split(". '>'")[0]
    assert ranking.endswith("{b 0.91 ±0.05*, a 0.90 ±0.05*}") and " > " not in ranking
    assert "No variant's accuracy falls beyond noise" in summary
    assert "holds within noise for: b at L64 (0.91 at 4 pairs → 0.91 at 16); a at L64" in summary  # best first


def test_without_recall_rows_the_section_says_how_to_get_them():
    empty = pd.DataFrame(columns=["variant", "metric", "value", "status", "probe"])
    section = section_recall(empty, Figures(), {})
    assert not section.figures and "--suite recall" in section.empty


def test_a_variant_trained_under_two_recipes_gets_a_line_per_recipe():
    one = _rows({"attention": (0.97, 0.96, 0.90), "mixer": (0.02, 0.01, 0.01)}).assign(**{"settings.preset": "cpu"})
    two = _rows({"mixer": (0.99, 0.30, 0.10)}).assign(**{"settings.preset": "cpu-small-pairs"})
    grid = section_recall(pd.concat([one, two], ignore_index=True), Figures(), {}).extra["grid"]
    # every line names its recipe (the lines come from two), best line first
    assert [r["name"] for r in grid["rows"]] == ["attention (cpu)", "mixer (cpu-small-pairs)", "mixer (cpu)"]
    assert [c["text"] for c in grid["rows"][1]["cells"]] == ["0.99 ±0.02*", "0.30 ±0.02*", "0.10 ±0.02"]
    assert "mixer (cpu-small-pairs) at L64 (0.99 at 4 pairs → 0.30 at 16)" in grid["summary"]
