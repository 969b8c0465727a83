"""The one leaderboard view (columns, rows, ranks, baseline ratios, failures) that every writer renders.

Numbers come from `suite.analysis.aggregate`; this module only decides what each cell shows. The
HTML template, the Markdown and CSV writers and the terminal all take the dict `leaderboard_view`
returns, so they show the same columns in the same order: #, variant, win rate, one per metric.
"""

from __future__ import annotations

import datetime as _dt
import os
import urllib.parse
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from suite.analysis import aggregate
from suite.analysis.quality_gate import column_rows, intervals, is_quality, unranked_reason
from suite.config import ConfigError
from suite.report.pick import metric_info, plain, scale_label
from suite.safeio import InputError, writable_dir
from suite.units import format_value


def load(result_dirs: Iterable[str | Path]) -> pd.DataFrame:
    """The results of folders (or results files) as one frame; an InputError says what is missing.
    Rows that cannot be right are skipped with a warning naming their line (see `suite.results`)."""
    from suite.results import load_results, results_file

    result_dirs = [Path(d) for d in result_dirs]
    files = []
    for d in result_dirs:
        try:
            files.append(results_file(d))
        except FileNotFoundError:
            raise InputError(
                f"no results in {d}: expected {d / 'results.jsonl'} (run `archbench run --out {d}`)."
            ) from None
    df = load_results(*files)
    if df.empty:
        raise InputError(
            f"no results in {', '.join(map(str, files))}: it holds no result rows (empty, or every line was "
            "skipped; see the warnings above). Run `archbench run` first."
        )
    return df


def check_output(path: str | Path, what: str) -> Path:
    """An output file that can be written: not a folder, in a writable folder (checked before any work)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(
            f"cannot write the {what} to {path}: it is a directory; give a file name inside it.",
            file=path,
        )
    try:
        writable_dir(path.parent if str(path.parent) else Path("."), "folder")
    except InputError as exc:
        raise InputError(f"cannot write the {what} {path}: {exc.reason}", file=path) from None
    return path


def default_baseline(df: pd.DataFrame) -> str | None:
    """The ladder's first rung when the ladder was run, else the first variant of the results."""
    rungs = aggregate.ladder_variants(df)
    if rungs:
        return rungs[0]
    variants = aggregate.variants_in_order(df)
    return variants[0] if variants else None


def leaderboard_view(
    df: pd.DataFrame, baseline: str | None = None, metrics: list[str] | None = None, order: str = "win"
) -> dict[str, Any]:
    """Variants × metrics (default: the key metrics, from `aggregate`), each cell with value, rank,
    ratio to the baseline and status; rows ordered by mean win rate (`order="given"`: as in `df`).
    A quality column without seed intervals or on unmatched proxies is shown, not ranked
    (`quality_gate`): its reason is in the column's `unranked`."""
    if baseline is not None and baseline not in set(df["variant"]):
        raise ConfigError(
            f"baseline variant '{baseline}' is not in these results; they have: "
            f"{', '.join(aggregate.variants_in_order(df))}."
        )
    board = aggregate.leaderboard(df, metrics)
    chosen = board.attrs.get("settings", {})
    behind = {metric: column_rows(df, metric, chosen.get(metric, {})) for metric in board.columns}
    unranked = {m: reason for m, rows in behind.items() if is_quality(rows) and (reason := unranked_reason(rows))}
    ranks = aggregate.ranks(board)
    for metric in unranked:
        ranks[metric] = float("nan")
    wins = aggregate.win_rates(board.drop(columns=list(unranked)))
    baseline = baseline or default_baseline(df)
    ratios = aggregate.ratio_to_baseline(board, baseline) if baseline in board.index else None
    families = df.groupby("variant", sort=False)["family"].first().fillna("").astype(str).to_dict()
    probe_of = df[df["metric"].astype(str) != ""].groupby("metric")["probe"].first().to_dict()
    failures = _failures(df)

    columns = []
    for metric in board.columns:
        info = metric_info(metric, df)
        rows = behind[metric]
        settings = " · ".join(
            f"{k.removeprefix('settings.')} {plain(v)}" for k, v in chosen.get(metric, {}).items() if k != "scale"
        )
        scale = ", ".join(scale_label(x) for x in rows["scale"].dropna().unique()) if "scale" in rows.columns else ""
        columns.append(
            dict(
                metric=metric,
                name=info["name"],
                unit=info["unit"],
                unit_label=_unit_label(info["unit"]),
                lower_is_better=board.attrs["lower_is_better"].get(metric),
                settings_filter=chosen.get(metric, {}),
                settings=settings,
                scale=scale,
                unranked=unranked.get(metric, ""),
                intervals=intervals(rows) if is_quality(rows) else {},
            )
        )
    rows = []
    for variant in board.index:
        cells = []
        for col in columns:
            metric = col["metric"]
            value = board.at[variant, metric]
            count = int(board[metric].notna().sum())
            if pd.notna(value):
                rank = None if pd.isna(ranks.at[variant, metric]) else int(ranks.at[variant, metric])
                ratio = ratios.at[variant, metric] if ratios is not None else float("nan")
                ci = col["intervals"].get(variant)
                spread = f" ± {format_value((ci[1] - ci[0]) / 2, col['unit'])}" if ci else ""
                cells.append(
                    dict(
                        status="ok",
                        text=format_value(value, col["unit"]) + spread,
                        sort=float(value),
                        title=f"{value:,.6g} {col['unit_label']}".strip()
                        + (f" (95% seed interval {ci[0]:,.4g} to {ci[1]:,.4g})" if ci else "")
                        + (f" · rank {rank} of {count}" if rank else "")
                        + (f" · {col['unranked']}" if col["unranked"] else ""),
                        rank=rank,
                        heat=_heat(rank, count) if rank else None,
                        ratio=f"{ratio:.2f}×" if pd.notna(ratio) and variant != baseline else None,
                    )
                )
                continue
            status, error = failures.get((variant, probe_of.get(metric)), ("missing", ""))
            failed = column_rows(df[df["variant"] == variant], metric, col["settings_filter"], status=None)
            failed = failed[failed["status"] != "ok"]
            if not failed.empty:
                status, error = str(failed["status"].iloc[-1]), str(failed["error"].iloc[-1])
            text = {"missing": "—", "oom": "OOM", "timeout": "timeout"}.get(status, "failed")
            title = error or ("not measured in these results" if status == "missing" else status)
            cells.append(dict(status=status, text=text, title=title, sort=None, rank=None, heat=None, ratio=None))
        win = wins.get(variant)
        win = None if win is None or pd.isna(win) else float(win)
        rows.append(
            dict(
                variant=variant,
                family=families.get(variant, ""),
                cells=cells,
                win_rate=win,
                win_text="—" if win is None else f"{win * 100:.0f}%",
                is_baseline=variant == baseline,
            )
        )
    if order == "win":
        rows.sort(key=lambda r: 1 if r["win_rate"] is None else -r["win_rate"])  # unranked rows last
    for i, row in enumerate(rows, 1):
        row["position"] = i
    return dict(
        columns=columns,
        rows=rows,
        baseline=baseline,
        n_variants=len(rows),
        families=sorted({r["family"] for r in rows if r["family"]}),
        ranked=any(r["win_rate"] is not None for r in rows),
    )


def _failures(df: pd.DataFrame) -> dict[tuple[str, str], tuple[str, str]]:
    """(variant, probe) -> (status, error) of a failed cell (a crashed probe writes no metric rows)."""
    bad = df[df["status"] != "ok"]
    return {(r.variant, r.probe): (str(r.status), str(r.error)) for r in bad.itertuples()}


def _unit_label(unit: str) -> str:
    return {"count": "", "accuracy": "%", "bytes": "bytes", "exponent": "exponent"}.get(unit, unit)


def _heat(rank: int, count: int) -> str:
    """Cell background by rank: green for the best, through sand, to rose for the worst."""
    return _heat_fraction(0.0 if count <= 1 else (rank - 1) / (count - 1))


def _heat_fraction(f: float) -> str:
    f = min(1.0, max(0.0, f))
    hue = 145 - f * 140
    return f"hsl({hue:.0f} 65% {90 - 3 * (1 - abs(2 * f - 1)):.0f}%)"


# ----------------------------------------------------------------- plain-text cells
def text_table(board: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows as plain text, for the writers without markup (Markdown, terminal):
    '#', 'variant', 'win rate', then 'Name (unit) ↓' per metric; a cell is its value with the
    ratio to the baseline, or its failure with the start of the error."""
    headers = ["#", "variant", "win rate"] + [_header(c) for c in board["columns"]]
    body = []
    for r in board["rows"]:
        cells = [str(r["position"]), r["variant"] + (" (baseline)" if r["is_baseline"] else ""), r["win_text"]]
        for cell in r["cells"]:
            text = cell["text"]
            if cell["status"] == "ok" and cell["ratio"]:
                text += f" ({cell['ratio']})"
            if cell["status"] not in ("ok", "missing"):
                text += f" ({_truncate(cell['title'], 60)})"
            cells.append(text)
        body.append(cells)
    return headers, body


def _header(col: dict[str, Any]) -> str:
    arrow = {True: " ↓", False: " ↑"}.get(col["lower_is_better"], "")
    return col["name"] + (f" ({col['unit_label']})" if col["unit_label"] else "") + arrow


def _truncate(text: str, length: int, leeway: int = 5, end: str = "...") -> str:
    """jinja2's `truncate` filter (whole words, a few characters of leeway), which the Markdown used."""
    if len(text) <= length + leeway:
        return text
    return text[: length - len(end)].rsplit(" ", 1)[0] + end


def settings_note(board: dict[str, Any]) -> str:
    """'Prefill latency: context 512; ...': the setting each column was read at, when it had a choice."""
    return "; ".join(
        f"{c['name']}: {c['settings']}" + (f", {c['scale']}" if c["scale"] else "")
        for c in board["columns"]
        if c["settings"]
    )


LEGEND = (
    "↓ lower is better, ↑ higher is better; (×) ratio to the baseline {baseline}; win rate: share of "
    "other variants beaten, averaged over ranked metrics."
)


# ----------------------------------------------------------------- header
def header(df: pd.DataFrame, result_dirs: list[Path], out: Path) -> dict[str, Any]:
    """Where the numbers come from: runs, dates, devices, versions, and links to the raw results."""

    def values(col: str) -> list[str]:
        if col not in df.columns:
            return []
        return [str(v) for v in dict.fromkeys(df[col].dropna()) if str(v) != ""]

    dates = sorted(values("date"))
    files = []
    for d in result_dirs:
        for name in ("results.jsonl", "results.parquet"):
            path = Path(d) / name
            if path.exists():
                rel = os.path.relpath(path.resolve(), out.resolve().parent)
                files.append(
                    dict(
                        name=str(Path(d) / name),
                        href=urllib.parse.quote(Path(rel).as_posix()),
                        size=format_value(path.stat().st_size, "bytes"),
                    )
                )
    statuses = df["status"].value_counts().to_dict() if "status" in df.columns else {}
    return dict(
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        runs=values("run_id"),
        dates=(dates[0], dates[-1]) if dates else None,
        devices=values("device"),
        cpus=values("cpu_model"),
        gpus=values("gpu_name"),
        cuda=values("cuda_version"),
        threads=values("threads"),
        git_shas=values("git_sha"),
        archbench=values("archbench_version"),
        torch=values("torch_version"),
        python=values("python_version"),
        files=files,
        n_variants=df["variant"].nunique(),
        n_rows=len(df),
        n_probes=df["probe"].nunique(),
        n_failed=sum(v for k, v in statuses.items() if k != "ok"),
        scales=values("scale"),
    )
