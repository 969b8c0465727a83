"""`archbench table DIR...`: the leaderboard in the terminal, and as CSV / Markdown files."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from suite.analysis.aggregate import column_label, leaderboard, ratio_to_baseline, win_rates
from suite.config import ConfigError
from suite.results import load_results

_SI = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]


def fmt(value: float) -> str:
    """3 significant digits with an SI suffix for big numbers: 124M, 3.52k, 0.0123."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    for scale, suffix in _SI:
        if abs(value) >= scale * 0.9995:    # 999.97M rounds to 1G, not "1e+03M"
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def board_frame(dirs: list[str | Path], *, baseline: str | None = None,
                metrics: list[str] | None = None) -> pd.DataFrame:
    """Numbers for the table: metrics, win rate, and `<metric> ratio` columns given a baseline."""
    try:
        df = load_results(*dirs)
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from None
    board = leaderboard(df, metrics)
    out = board.copy()
    out["win_rate"] = win_rates(board)
    if baseline:
        try:
            ratios = ratio_to_baseline(board, baseline)
        except KeyError as exc:
            raise ConfigError(exc.args[0]) from None
        for metric in board.columns:
            out[f"{metric} ratio"] = ratios[metric]
    out.attrs = dict(board.attrs, baseline=baseline)
    return out


def _cells(out: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    board_cols = [c for c in out.columns if c != "win_rate" and not c.endswith(" ratio")]
    headers = ["variant"] + [column_label(out, c) for c in board_cols] + ["win rate"]
    body = []
    for variant, row in out.iterrows():
        cells = [str(variant)]
        for c in board_cols:
            text = fmt(row[c])
            ratio = row.get(f"{c} ratio")
            if text and ratio is not None and not pd.isna(ratio):
                text += f" (×{ratio:.2f})"
            cells.append(text)
        cells.append("" if pd.isna(row["win_rate"]) else f"{row['win_rate']:.2f}")
        body.append(cells)
    return headers, body


def markdown(out: pd.DataFrame) -> str:
    headers, body = _cells(out)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def render(out: pd.DataFrame, title: str = "archbench leaderboard") -> None:
    from suite.term import console
    from rich.table import Table
    headers, body = _cells(out)
    table = Table(title=title + (f" (ratios to {out.attrs['baseline']})" if out.attrs.get("baseline") else ""))
    for i, h in enumerate(headers):
        table.add_column(h, justify="left" if i == 0 else "right", overflow="fold")
    for row in body:
        table.add_row(*row)
    console().print(table)


def table_command(args) -> int:
    out = board_frame(args.dirs, baseline=args.baseline, metrics=args.metrics or None)
    if out.empty or not len(out.columns):
        print("archbench: no successful results to tabulate in " + ", ".join(map(str, args.dirs)))
        return 1
    render(out)
    if args.csv:
        out.to_csv(args.csv, index_label="variant")
        print(f"archbench: wrote {args.csv}")
    if args.markdown:
        Path(args.markdown).write_text(markdown(out))
        print(f"archbench: wrote {args.markdown}")
    return 0
