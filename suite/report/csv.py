"""The CSV writer: the boards as one flat table of raw values, ranks and ratios (a `board` column says which)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from suite.safeio import escape_csv_cell


def leaderboard_frame(board: dict[str, Any]) -> pd.DataFrame:
    """The leaderboard as a flat table: raw values (units in the header), ranks, ratio, win rate;
    the rows and metric columns of the view, in its order."""
    records = []
    for row in board["rows"]:
        record: dict[str, Any] = {"variant": row["variant"], "family": row["family"], "mean_win_rate": row["win_rate"]}
        for col, cell in zip(board["columns"], row["cells"]):
            head = (
                col["metric"]
                + (f" [{col['unit']}]" if col["unit"] else "")
                + (f" @ {col['settings']}" if col["settings"] else "")
            )
            record[head] = cell["sort"] if cell["status"] == "ok" else cell["status"]
            record[f"{col['metric']} rank"] = cell["rank"]
            if board["baseline"]:
                record[f"{col['metric']} ratio to {board['baseline']}"] = cell["ratio"]
        records.append(record)
    return pd.DataFrame.from_records(records)


def boards_frame(boards: list[dict[str, Any]]) -> pd.DataFrame:
    """Every board's rows, in order, with the board's id first (columns a board lacks stay empty)."""
    frames = [leaderboard_frame(b).assign(board=b["id"]) for b in boards]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["board", "variant"])
    return frame[["board"] + [c for c in frame.columns if c != "board"]]


def render_csv(boards: list[dict[str, Any]]) -> str:
    """CSV text; a cell a spreadsheet would run as a formula (=, +, -, @) is prefixed with a quote."""
    frame = boards_frame(boards)
    frame.columns = [escape_csv_cell(c) for c in frame.columns]
    for col in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[col]):  # object or pandas' string dtype
            frame[col] = frame[col].map(escape_csv_cell)
    return frame.to_csv(index=False)
