"""The report's training-stability section: U-curves with the seeds' intervals as error bars."""

import json

import pandas as pd

from suite.report.figures import Figures
from suite.report.stability import section_stability


def _rows():
    rows = []
    for variant, losses in (("base", [3.1, 2.4, 2.9]), ("qk", [3.1, 2.5, 2.6])):
        for lr, loss in zip((1e-3, 1e-2, 1e-1), losses):
            extra = json.dumps(dict(ci_low=loss - 0.1, ci_high=loss + 0.2))
            rows.append(dict(variant=variant, metric="final_loss", value=loss, status="ok", probe="stability",
                             **{"settings.lr": lr}, extra=extra))  # fmt: skip
    return pd.DataFrame(rows)


def test_u_curves_per_variant_with_error_bars():
    section = section_stability(_rows(), Figures(), {})
    assert [f.title for f in section.figures] == ["final loss (nats) vs learning rate"]
    data = json.loads(section.figures[0].json.replace("<\\/", "</"))
    base = next(t for t in data["data"] if t["name"] == "base")
    assert base["x"] == [1e-3, 1e-2, 1e-1] and base["y"] == [3.1, 2.4, 2.9]
    assert [round(v, 6) for v in base["error_y"]["array"]] == [0.2, 0.2, 0.2]
    assert [round(v, 6) for v in base["error_y"]["arrayminus"]] == [0.1, 0.1, 0.1]
    assert data["layout"]["xaxis"]["type"] == "log"


def test_without_stability_rows_the_section_says_how_to_get_them():
    empty = pd.DataFrame(columns=["variant", "metric", "value", "status", "probe"])
    section = section_stability(empty, Figures(), {})
    assert not section.figures and "stability" in section.empty
