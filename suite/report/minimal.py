"""A bare HTML page (the leaderboard and the failed cells) for when the full report fails: a report
bug must not lose a run."""

from __future__ import annotations

from suite.safeio import atomic_write_text


def minimal_report(dirs: list, out):
    """A bare HTML page: the leaderboard and the failed cells of results folders."""
    import html

    from suite.analysis.aggregate import leaderboard
    from suite.results import load_results

    df = load_results(*dirs)
    board = leaderboard(df)
    failed = df[df["status"] != "ok"][["variant", "probe", "status", "error"]]
    parts = [
        "<!doctype html><meta charset='utf-8'><title>archbench results</title>",
        "<h1>archbench results</h1>",
        f"<p>{html.escape(', '.join(map(str, dirs)))}</p>",
        "<h2>Leaderboard</h2>",
        board.to_html(na_rep="", float_format=lambda v: f"{v:.4g}"),
        "<h2>Failed cells</h2>",
        failed.to_html(index=False) if len(failed) else "<p>none</p>",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(parts), "report")
    return out
