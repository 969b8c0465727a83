"""The leaderboard as boards of things that compare: full-size models, their proxies, the ladder, studies.

One table across everything ranked unlike things side by side: a published model's full-size
parameter count next to a 124M ladder rung, a tiny proxy's latency next to a matched study
proxy's, so the smallest model won by construction. Each board holds variants and numbers of one
kind and ranks only within itself; every writer (HTML, Markdown, CSV, terminal) shows the same boards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd

from suite.analysis import aggregate
from suite.config import ConfigError
from suite.report.view import leaderboard_view


@dataclass(frozen=True)
class Board:
    id: str
    title: str
    lead: str
    scale: str  # "full": analytic rows at full size; "proxy": measured rows; "": both
    order: str  # "win": by mean win rate; "given": as listed (the ladder's rung order)


MODELS = Board(
    "models",
    "Published models, measured on their proxies",
    "Each published model's components at proxy size (latency, memory, quality). Ranks compare "
    "components, not the models' real speed: for that see the full-size board and Deployment.",
    "proxy",
    "win",
)
FULL_SIZE = Board(
    "full-size",
    "Published models at full size (analytic)",
    "Exact counts from the published configs, no weights allocated. Size metrics only, so no win rate: "
    "sort by the column that matters to you, or read Deployment for what fits on which GPU.",
    "full",
    "given",
)
LADDER = Board(
    "ladder-board",
    "Evolution ladder",
    "GPT-2 to gpt-oss, one change per rung, in rung order: full-size cost beside the proxy's measurements.",
    "",
    "given",
)
STUDIES = Board(
    "studies",
    "Studies (matched proxies)",
    "Variants made to isolate one question (mixers, recall, stability, extrapolation), ranked among themselves.",
    "",
    "win",
)


# Study variants live in a folder of the registry and are named after it (`mixers/gla-all`).
_NAMESPACED = re.compile(r"[\w.-]+/")


def _groups(df: pd.DataFrame) -> list[tuple[Board, Callable[[str], bool]]]:
    rungs = set(aggregate.ladder_variants(df))
    study = lambda v: v not in rungs and bool(_NAMESPACED.match(v))
    published = lambda v: v not in rungs and not study(v)
    return [(MODELS, published), (FULL_SIZE, published), (LADDER, lambda v: v in rungs), (STUDIES, study)]


def _rows_at(df: pd.DataFrame, scale: str) -> pd.DataFrame:
    if not scale or "scale" not in df:
        return df
    full = df["scale"].astype(str).eq("full")
    return df[full] if scale == "full" else df[~full]


def boards_view(
    df: pd.DataFrame, baseline: str | None = None, metrics: list[str] | None = None
) -> list[dict[str, Any]]:
    """The boards these results fill, each a `leaderboard_view` plus its id, title and lead.
    `baseline` applies to the boards that hold it; the others use their own default."""
    if baseline is not None and baseline not in set(df["variant"]):
        raise ConfigError(
            f"baseline variant '{baseline}' is not in these results; they have: "
            f"{', '.join(aggregate.variants_in_order(df))}."
        )
    boards = []
    for board, chosen in _groups(df):
        sub = _rows_at(df[df["variant"].astype(str).map(chosen)], board.scale)
        if sub.empty or not aggregate.ok_rows(sub).shape[0]:
            continue
        view = leaderboard_view(
            sub,
            baseline=baseline if baseline in set(sub["variant"]) else None,
            metrics=metrics,
            order=board.order,
        )
        if view["rows"] and view["columns"]:
            boards.append(dict(view, id=board.id, title=board.title, lead=board.lead))
    return boards
