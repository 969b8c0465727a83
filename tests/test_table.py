"""`archbench table` formatting (the command itself is exercised in test_runner's CLI test)."""
import pandas as pd

from suite.report.terminal import fmt, markdown


def test_fmt_uses_si_suffixes_and_three_digits():
    assert [fmt(v) for v in (124_439_808, 999_970_000, 1536, 0.0123, 7.0)] == ["124M", "1G", "1.54k", "0.0123", "7"]
    assert fmt(float("nan")) == ""


def test_markdown_escapes_pipes_and_right_aligns_numbers():
    board = pd.DataFrame({"params_total": [1e6], "win_rate": [0.5]}, index=pd.Index(["a|b"], name="variant"))
    text = markdown(board)
    assert text.splitlines()[1] == "|---|---:|---:|"
    assert "| a\\|b | 1M | 0.50 |" in text
