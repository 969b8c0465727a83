"""`archbench table`: the terminal writer renders the report's leaderboard view with the report's
number format (the command itself is exercised in test_runner's CLI test)."""

import json

import pandas as pd

from suite.report.markdown import render_markdown
from suite.report.terminal import render, table_command
from suite.report.view import leaderboard_view, text_table


def _frame(rows):
    return pd.DataFrame(
        [
            dict(
                variant=v,
                family="f",
                probe="analytic",
                metric=m,
                value=x,
                unit=u,
                lower_is_better=None,
                status="ok",
                error="",
                scale="full",
                extra="{}",
            )
            for v, m, x, u in rows
        ]
    )


BOARD = _frame(
    [
        ("a|b", "params_total", 1.5e9, "count"),
        ("c", "params_total", 124_439_808, "count"),
        ("a|b", "kv_cache_bytes_per_token", 1.5 * 2**30, "bytes"),
        ("c", "kv_cache_bytes_per_token", 36864.0, "bytes"),
    ]
)


def test_terminal_cells_use_the_one_number_format():
    headers, body = text_table(leaderboard_view(BOARD, baseline="c"))
    assert headers == ["#", "variant", "win rate", "Parameters (total)", "KV cache/token (bytes) ↓"]
    rows = {r[1]: r for r in body}
    assert rows["a|b"][3:] == ["1.50B (12.05×)", "1.50 GiB (43690.67×)"]
    assert rows["c (baseline)"][3:] == ["124M", "36.0 KiB"]


def test_terminal_prints_what_the_markdown_shows(capsys):
    board = leaderboard_view(BOARD)
    render(board)
    printed = capsys.readouterr().out
    md = render_markdown(
        dict(
            header=dict(n_variants=2, dates=None, generated="now", devices=[], git_shas=[]),
            boards=[dict(board, title="Board", lead="")],
        )
    )
    headers, body = text_table(board)
    assert "| " + " | ".join(headers) + " |" in md
    for cell in [c for row in body for c in row] + headers:
        assert cell in printed, cell
    assert "1.5G" not in printed and "1.50B" in printed


def test_table_command_writes_the_report_csv_and_markdown(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    with (tmp_path / "run" / "results.jsonl").open("w") as f:
        for row in BOARD.to_dict("records"):
            f.write(json.dumps(row) + "\n")
    code = table_command([tmp_path / "run"], csv=tmp_path / "t.csv", markdown=tmp_path / "t.md")
    assert code == 0
    csv = pd.read_csv(tmp_path / "t.csv")
    assert list(csv.columns[:4]) == ["board", "variant", "family", "mean_win_rate"]
    assert "params_total ratio to a|b" in csv.columns
    md = (tmp_path / "t.md").read_text()
    assert "| # | variant | win rate | Parameters (total) | KV cache/token (bytes) ↓ |" in md
    assert "a\\|b (baseline)" in md
