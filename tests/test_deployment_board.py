"""The report's deployment board: full-size models on a device grid, from the configs alone."""

import pandas as pd

from suite.registry import Registry
from suite.report.deployment import DEVICES, section_deployment


def _rows(*variants, scale="full"):
    return pd.DataFrame(
        [
            dict(variant=v, scale=scale, status="ok", metric="params_total", value=1.0, probe="analytic")
            for v in variants
        ]  # fmt: skip
    )


def test_full_size_models_get_a_device_grid():
    section = section_deployment(_rows("gpt-oss-20b", "deepseek-v3"), Registry())
    table = section.extra["table"]
    assert table["devices"] == list(DEVICES)
    oss, deepseek = table["rows"]
    cells = dict(zip(DEVICES, oss["cells"]))
    assert cells["rtx4090"]["fits"] and cells["rtx4090"]["gpus"] == 1  # MXFP4 in 24 GB
    assert "mxfp4 weights 13.8 GB" in cells["rtx4090"]["title"]
    # DeepSeek-V3 (673 GB in FP8) needs several H200s in tensor parallel, and says how many
    h200 = dict(zip(DEVICES, deepseek["cells"]))["h200"]
    assert h200["fits"] and h200["gpus"] == 8 and h200["text"].startswith("8 GPUs")
    assert not dict(zip(DEVICES, deepseek["cells"]))["rtx4090"]["fits"]


def test_proxies_never_enter_the_board():
    section = section_deployment(_rows("gpt2-small", scale="tiny"), Registry())
    assert "table" not in section.extra and "No full-size models" in section.empty


def test_study_variants_are_left_out():
    section = section_deployment(_rows("ladder/05-gqa", "mixers/mamba2-all", "llama-3.1-8b"), Registry())
    assert [r["variant"] for r in section.extra["table"]["rows"]] == ["llama-3.1-8b"]
