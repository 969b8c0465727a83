"""The report: rendered from a small synthetic results file written to the tidy schema."""

from __future__ import annotations

import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from suite.analysis.fairness import fairness_warning
from suite.cli import main
from suite.config import ConfigError
from suite.report import html as report
from suite.report.figures import Figures, figure_json
from suite.report.sections import section_tradeoffs
from suite.report.view import load
from suite.units import format_value

EVIL = "<script>alert(1)</script>"
LADDER = ["ladder/00-gpt2", "ladder/01-no-dropout-bias", "ladder/02-rope", "ladder/03-rmsnorm", "ladder/04-swiglu"]
OTHERS = {"gpt2-small": "gpt2", "qwen3-0.6b": "qwen3", EVIL: "evil</script><b>"}
CONTEXTS = [64, 128, 256, 512]
PROVENANCE = dict(
    git_sha="0123456789abcdef",
    archbench_version="0.1.0",
    torch_version="2.14.0",
    python_version="3.12.1",
    device="cpu",
    cpu_model="Synthetic CPU @ 3GHz",
    threads=2,
    date="2025-01-02T03:04:05+00:00",
)


def _cell_rows(variant, family, scale, probe, rows, status="ok", error=""):
    """Rows of one cell in the tidy schema; a failed cell is one row with its error."""
    cell_id = hashlib.sha1(f"{variant}|{probe}|{scale}".encode()).hexdigest()[:16]
    if status != "ok":
        rows = [dict(metric="", value=None, unit="", lower_is_better=None, settings={})]
    out = []
    for r in rows:
        row = dict(
            run_id="20250102T030405Z-abc123",
            cell_id=cell_id,
            variant=variant,
            family=family,
            scale=scale,
            probe=probe,
            metric=r["metric"],
            value=r["value"],
            unit=r.get("unit", ""),
            lower_is_better=r.get("lower_is_better"),
            status=status,
            error=error,
        )
        row.update({f"settings.{k}": v for k, v in sorted(r.get("settings", {}).items())})
        row["extra"] = json.dumps(r.get("extra", {}))
        row.update(attempt=cell_id + "-1", cell_rows=len(rows), cell_seconds=0.1, **PROVENANCE)
        out.append(row)
    return out


def _r(metric, value, unit, lower=True, **settings):
    return dict(metric=metric, value=value, unit=unit, lower_is_better=lower, settings=settings)


def synthetic_rows(failures: bool = True) -> list[dict]:
    """A plausible small run: the ladder plus three other variants, every probe family, a few failures."""
    variants = {v: "ladder" for v in LADDER} | OTHERS
    rows = []
    for i, (variant, family) in enumerate(variants.items()):
        size = 1.0 + 0.15 * i  # bigger variants later: deterministic, distinct
        kv_per_token = 36864.0 / (1 + (i % 4))  # GQA-ish rungs shrink the KV cache
        params = 124e6 * size
        rows += _cell_rows(
            variant,
            family,
            "full",
            "analytic",
            [
                _r("params_total", params, "count", None),
                _r("params_active", params * (0.8 if i % 3 == 0 else 1.0), "count"),
                _r("params_embedding", 38.6e6, "count", None),
                _r("flops_decode_per_token", 2 * params * 1.1, "FLOP", context=1024),
                _r("kv_cache_bytes_per_token", kv_per_token, "bytes", dtype="bf16"),
                *[
                    _r("kv_cache_bytes", kv_per_token * n, "bytes", context=n, dtype="bf16")
                    for n in (1024, 4096, 16384, 65536)
                ],
                _r("weights_bytes", params * 2, "bytes", dtype="bf16"),
                _r("activation_bytes_train", 3e8 * size, "bytes", checkpointing=False),
                _r(
                    "max_context_at_budget",
                    (24 * 2**30 - params * 2) / kv_per_token,
                    "tokens",
                    False,
                    memory_budget=24 * 2**30,
                    dtype="bf16",
                ),
            ],
        )
        if failures and variant == "qwen3-0.6b":
            rows += _cell_rows(
                variant, family, "tiny", "latency", [], status="error", error='RuntimeError: boom <b>bad</b> & "quoted"'
            )
        else:
            quad = 0.002 * (1 + i % 3)
            rows += _cell_rows(
                variant,
                family,
                "tiny",
                "latency",
                [
                    *[
                        _r("prefill_ms", 0.5 * size + 0.01 * n + quad * n * n / 64, "ms", context=n, batch=1)
                        for n in CONTEXTS
                    ],
                    *[
                        _r("decode_ms_per_token", 0.8 * size + 0.002 * n * (1 + i % 2), "ms", context=n, batch=1)
                        for n in CONTEXTS
                    ],
                ],
            )
        rows += _cell_rows(
            variant,
            family,
            "tiny",
            "memory",
            [
                *[
                    _r("peak_memory_bytes", 2e6 * size + 4096 * n * (1 + i % 2), "bytes", context=n, phase=phase)
                    for n in CONTEXTS
                    for phase in ("prefill", "decode")
                ],
                _r("peak_memory_bytes_analytic", 2e6 * size + 4000 * 256, "bytes", context=256, phase="decode"),
            ],
        )
        rows += _cell_rows(
            variant,
            family,
            "tiny",
            "scaling",
            [
                _r("time_exponent", 1.2 + 0.1 * (i % 3), "exponent", phase="prefill"),
                _r("time_exponent", 0.3 + 0.1 * (i % 2), "exponent", phase="decode"),
                _r("memory_exponent", 0.9, "exponent"),
            ]
            + (
                [_r("crossover_context", 200.0, "tokens", None, other_variant="gpt2-small", phase="decode")]
                if variant == "ladder/01-no-dropout-bias"
                else []
            ),
        )
        if failures and variant == EVIL:
            rows += _cell_rows(
                variant,
                family,
                "tiny",
                "quality",
                [],
                status="oom",
                error="CUDA out of memory </script><script>alert(2)</script>",
            )
        else:
            rows += _cell_rows(
                variant,
                family,
                "tiny",
                "quality",
                [
                    _seeded(_r("bits_per_byte", 2.4 - 0.08 * i + 0.05 * (i % 2), "bits/byte"), 0.02),
                    _seeded(_r("mqar_accuracy", min(1.0, 0.3 + 0.09 * i), "accuracy", False, n_pairs=8), 0.03),
                ],
            )
    return rows


def _seeded(row: dict, half: float) -> dict:
    """A quality row as the probe writes it over 3 seeds: its interval and the matched proxy's size."""
    return dict(
        row, extra=dict(ci_low=row["value"] - half, ci_high=row["value"] + half, n_seeds=3, active_excl_embedding=1e5)
    )


def write_results(directory: Path, rows: list[dict] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "results.jsonl"
    with path.open("w") as f:
        for row in synthetic_rows() if rows is None else rows:
            f.write(json.dumps(row) + "\n")
    return directory


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    return write_results(tmp_path_factory.mktemp("results") / "run")


@pytest.fixture(scope="module")
def html(results_dir) -> str:
    out = report.write_report([results_dir], results_dir / "report.html")
    return out.read_text()


class _Tags(HTMLParser):
    """Collects tags, ids and script elements of a page."""

    def __init__(self):
        super().__init__()
        self.ids, self.scripts, self.tags, self._in_script = {}, [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.ids[attrs["id"]] = self.ids.get(attrs["id"], 0) + 1
        if tag == "script":
            self._in_script = dict(attrs=attrs, text="")
            self.scripts.append(self._in_script)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None

    def handle_data(self, data):
        if self._in_script is not None:
            self._in_script["text"] += data


def _parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


# ------------------------------------------------------------------------- structure
def test_every_section_is_present(html):
    ids = _parse(html).ids
    for section in ("about", "leaderboard", "ladder", "scaling", "memory", "tradeoffs", "variants"):
        assert ids.get(section) == 1, section
    assert all(n == 1 for n in ids.values()), [k for k, n in ids.items() if n > 1]


def test_plotly_is_embedded_once_and_nothing_is_fetched(html):
    page = _parse(html)
    assert len(re.findall(r"\* plotly\.js v\d", html)) == 1
    assert not [s for s in page.scripts if "src" in s["attrs"]], "no external scripts"
    assert not [a for t, a in page.tags if t == "link"], "no external stylesheets"
    assert "http://" not in "".join(a.get("src", "") for _, a in page.tags)
    assert not re.search(r"<(img|iframe|link|script)[^>]+(src|href)=\"?https?:", html)


def test_every_figure_has_valid_json_data(html):
    page = _parse(html)
    blobs = {s["attrs"]["id"]: s["text"] for s in page.scripts if s["attrs"].get("type") == "application/json"}
    divs = [a for t, a in page.tags if t == "div" and "data-figure" in a]
    assert len(divs) >= 6, "ladder, scaling, memory and trade-off figures"
    for div in divs:
        fig = json.loads(blobs[div["data-figure"]])
        assert fig["data"], div["id"]
        assert "layout" in fig


def test_the_leaderboard_has_ranks_ratios_win_rates_and_failures(html, results_dir):
    view = report.build_view(load([results_dir]), [results_dir], results_dir / "r.html")
    boards = {b["id"]: b for b in view["boards"]}
    assert list(boards) == ["models", "full-size", "ladder-board"], "each kind of number on its own board"
    board = boards["models"]  # the published models' proxies: measured columns only
    metrics = [c["metric"] for c in board["columns"]]
    for metric in ("decode_ms_per_token", "bits_per_byte", "mqar_accuracy"):
        assert metric in metrics
    assert "params_active" not in metrics and "params_active" in [c["metric"] for c in boards["full-size"]["columns"]]
    assert {r["variant"] for r in board["rows"]} == set(OTHERS)
    assert [r["variant"] for r in boards["ladder-board"]["rows"]] == LADDER, "the ladder keeps its rung order"
    assert not boards["full-size"]["ranked"], "a board of size metrics has no win rate"
    rows = {r["variant"]: r for r in board["rows"]}
    # win rates sort the table, best first
    wins = [r["win_rate"] for r in board["rows"] if r["win_rate"] is not None]
    assert wins and wins == sorted(wins, reverse=True)
    # a failed probe shows as failed with its error, a crash's OOM as OOM
    decode = metrics.index("decode_ms_per_token")
    cell = rows["qwen3-0.6b"]["cells"][decode]
    assert (cell["status"], cell["text"]) == ("error", "failed")
    assert "boom" in cell["title"]
    bpb = metrics.index("bits_per_byte")
    assert rows[EVIL]["cells"][bpb]["text"] == "OOM"
    # ranks respect the direction: the lowest bits/byte is rank 1, the highest accuracy too
    ladder = {r["variant"]: r for r in boards["ladder-board"]["rows"]}
    lmetrics = [c["metric"] for c in boards["ladder-board"]["columns"]]
    lbpb = lmetrics.index("bits_per_byte")
    ok = {v: r["cells"][lbpb] for v, r in ladder.items() if r["cells"][lbpb]["status"] == "ok"}
    best = min(ok, key=lambda v: ok[v]["sort"])
    assert ok[best]["rank"] == 1
    assert " ± " in ok[best]["text"] and "95% seed interval" in ok[best]["title"]
    mqar = lmetrics.index("mqar_accuracy")
    acc = {v: r["cells"][mqar] for v, r in ladder.items() if r["cells"][mqar]["status"] == "ok"}
    assert acc[max(acc, key=lambda v: acc[v]["sort"])]["rank"] == 1
    # ratio to the ladder's first rung
    base = ladder[LADDER[0]]["cells"][lbpb]["sort"]
    other = ladder[LADDER[2]]["cells"][lbpb]
    assert other["ratio"] == f"{other['sort'] / base:.2f}×"
    # rendered: the error is in the title attribute, escaped
    assert 'title="RuntimeError: boom &lt;b&gt;bad&lt;/b&gt; &amp; &#34;quoted&#34;"' in html


def test_names_and_errors_are_escaped(html):
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(2)</script>" not in html
    assert "<b>bad</b>" not in html
    page = _parse(html)
    # only our scripts: plotly, the app, and the JSON figure blobs
    kinds = sorted(s["attrs"].get("type", "js") for s in page.scripts)
    assert set(kinds) == {"application/json", "js"} and kinds.count("js") == 2
    for s in page.scripts:
        assert "</" not in s["text"]


def test_figure_json_is_safe_inside_a_script_element():
    text = figure_json({"data": [{"name": "</script><script>alert(1)</script>", "y": [1.0, float("nan")]}]})
    assert "</" not in text and "<!--" not in text
    back = json.loads(text)
    assert back["data"][0]["name"] == "</script><script>alert(1)</script>"
    assert back["data"][0]["y"] == [1.0, None]


def test_header_names_device_versions_sha_and_links_the_raw_results(html):
    for text in ("Synthetic CPU @ 3GHz", "0123456789abcdef", "2.14.0", "3.12.1", "20250102T030405Z-abc123"):
        assert text in html
    assert 'href="results.jsonl"' in html


def test_sections_without_data_say_which_probe_to_run(tmp_path):
    rows = [r for r in synthetic_rows() if r["probe"] == "analytic" and not r["variant"].startswith("ladder/")]
    d = write_results(tmp_path / "run", rows)
    page = report.write_report([d], tmp_path / "r.html").read_text()
    assert "No data for this section in these results (run the ladder variants" in page
    assert "(run probes quality" in page
    assert page.count("No data for this section") >= 2
    assert _parse(page).ids.get("tradeoffs") == 1, "the empty section is still there"


def test_report_of_many_variants_stays_small(tmp_path):
    # plotly.js is ~4.6 MB; figures add little, so even a 30-variant run stays far below 10 MB
    rows = []
    for k in range(4):
        for r in synthetic_rows():
            rows.append(
                r
                | {"variant": f"{r['variant']}-{k}", "cell_id": f"{r['cell_id']}-{k}", "attempt": f"{r['attempt']}-{k}"}
            )
    d = write_results(tmp_path / "run", rows)
    size = report.write_report([d], tmp_path / "r.html").stat().st_size
    assert size < 10 * 2**20, size


# ------------------------------------------------------------------------- md / csv / cli
def test_markdown_leaderboard(results_dir, tmp_path):
    text = report.write_report([results_dir], tmp_path / "board.md", fmt="md").read_text()
    tables = [t for t in text.split("\n### ")[1:]]
    assert [t.splitlines()[0] for t in tables] == [
        "Published models, measured on their proxies",
        "Published models at full size (analytic)",
        "Evolution ladder",
    ]
    for table in tables:
        lines = [line for line in table.splitlines() if line.startswith("|")]
        n_cols = lines[0].count("|")
        assert all(line.count("|") - line.count("\\|") == n_cols for line in lines), (
            "every row has its header's columns"
        )
    body = sum(len([x for x in t.splitlines() if x.startswith("|")]) - 2 for t in tables)
    assert body == 2 * len(OTHERS) + len(LADDER), "published models on two boards, the rungs on one"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and EVIL not in text
    assert "failed" in text and "OOM" in text
    assert "(baseline)" in text


def test_csv_leaderboard(results_dir, tmp_path):
    out = report.write_report([results_dir], tmp_path / "board.csv", fmt="csv")
    df = pd.read_csv(out)
    assert list(dict.fromkeys(df["board"])) == ["models", "full-size", "ladder-board"]
    assert set(df["variant"]) == set(LADDER) | set(OTHERS)
    assert "mean_win_rate" in df.columns
    col = next(c for c in df.columns if c.startswith("bits_per_byte ["))
    assert df.loc[(df["variant"] == EVIL) & (df["board"] == "models"), col].item() == "oom"
    assert any(c.startswith("bits_per_byte ratio to ") for c in df.columns)


def test_every_writer_shows_the_same_columns_and_rows(results_dir, html, tmp_path, capsys):
    """One view per board, four writers: HTML, Markdown, CSV and terminal agree on boards, columns and order."""
    from suite.report.boards import boards_view
    from suite.report.terminal import table_command
    from suite.report.view import text_table

    boards = boards_view(load([results_dir]))
    md = report.write_report([results_dir], tmp_path / "b.md", fmt="md").read_text()
    csv = pd.read_csv(report.write_report([results_dir], tmp_path / "b.csv", fmt="csv"))
    md_tables = md.split("\n### ")[1:]
    assert len(md_tables) == len(boards)
    for i, (board, md_table) in enumerate(zip(boards, md_tables)):
        headers, body = text_table(board)
        metrics = [c["metric"] for c in board["columns"]]
        variants = [r["variant"] for r in board["rows"]]
        table_id = "board" if i == 0 else f"board-{board['id']}"
        start = html.index(f'id="{table_id}"')
        html_board = html[start : html.index("</table>", start)]
        assert html_board.count('<th class="num metric"') == len(metrics) and html_board.count("<th ") == len(headers)
        md_lines = [line for line in md_table.splitlines() if line.startswith("|")]
        assert md_lines[0].count(" | ") == len(headers) - 1 and len(md_lines) == 2 + len(body)
        rows = csv[csv["board"] == board["id"]]
        assert list(rows["variant"]) == variants
        present = [c.split(" ")[0] for c in rows.dropna(axis=1, how="all").columns if " [" in c or " @ " in c]
        assert set(metrics) <= {c.split(" ")[0] for c in csv.columns} and len(present) <= len(metrics)
    assert table_command([results_dir], csv=tmp_path / "t.csv", markdown=tmp_path / "t.md") == 0
    printed = capsys.readouterr().out
    assert (tmp_path / "t.csv").read_text() == (tmp_path / "b.csv").read_text()
    assert (tmp_path / "t.md").read_text().splitlines()[4:] == md.splitlines()[4:]
    for board in boards:
        assert board["title"] in printed
    assert "Settings: Prefill latency: context 512" in printed


def test_cli_report(results_dir, tmp_path, capsys):
    out = tmp_path / "cli.md"
    assert main(["report", str(results_dir), "--out", str(out), "--format", "md", "--baseline", "gpt2-small"]) == 0
    assert "gpt2-small (baseline)" in out.read_text()
    assert str(out) in capsys.readouterr().out


def test_cli_report_errors_name_the_problem(results_dir, tmp_path, capsys):
    assert main(["report", str(results_dir), "--out", str(tmp_path / "x.html"), "--baseline", "nope"]) == 2
    err = capsys.readouterr().err
    assert "baseline variant 'nope' is not in these results" in err and "gpt2-small" in err
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "x.html")]) == 2
    assert "no results in" in capsys.readouterr().err


def test_unknown_format_is_an_error(results_dir, tmp_path):
    with pytest.raises(ConfigError, match="unknown report format 'pdf'; choose one of: html, md, csv"):
        report.write_report([results_dir], tmp_path / "x", fmt="pdf")


# ------------------------------------------------------------------------- formatting helpers
@pytest.mark.parametrize(
    "value,unit,text",
    [
        (124.44e6, "count", "124M"),
        (1.5 * 2**30, "bytes", "1.50 GiB"),
        (512, "bytes", "512 B"),
        (12.345, "ms", "12.3 ms"),
        (0.875, "accuracy", "87.5%"),
        (2.1e9, "FLOP", "2.10 GFLOP"),
        (32768, "tokens", "32.8K tokens"),
        (float("nan"), "ms", "—"),
        (1.93, "exponent", "1.93"),
        (2 * 2**30, "bytes", "2.00 GiB"),
    ],
)
def test_format_value(value, unit, text):
    assert format_value(value, unit) == text


def test_tradeoff_figures_draw_aggregates_pareto_front(results_dir):
    from suite.analysis import aggregate

    df = load([results_dir])
    section = section_tradeoffs(df, Figures(), {})
    assert len(section.figures) == 2
    fig = json.loads(section.figures[0].json)
    front = next(t for t in fig["data"] if t["name"] == "Pareto front")
    expected = aggregate.pareto_front(df, "decode_ms_per_token", "bits_per_byte")
    assert front["x"] == expected.loc[expected["on_front"], "x"].tolist()
    assert 0 < len(front["x"]) < len(expected)


def test_tradeoffs_warn_when_quality_proxies_are_not_matched():
    """The fairness rule (active non-embedding params within ±10%, same tokens) is stated, not hidden."""
    import json as _json

    import pandas as pd

    def rows(active_b):
        return pd.DataFrame(
            [
                dict(
                    variant=v,
                    probe="quality",
                    status="ok",
                    metric="bits_per_byte",
                    value=2.0,
                    **{"settings.tokens": 1000},
                    extra=_json.dumps({"active_excl_embedding": a}),
                )
                for v, a in (("a", 100_000), ("b", 101_000), ("c", active_b))
            ]
        )

    assert fairness_warning(rows(99_000)) == ""
    warning = fairness_warning(rows(300_000))
    assert "not a fair quality comparison" in warning and "c has 300,000" in warning


def test_the_header_names_the_gpu_the_rows_ran_on(tmp_path):
    rows = [dict(r, gpu_name="NVIDIA H200 (sm_90, 141 GiB)", cuda_version="12.8") for r in synthetic_rows()]
    d = write_results(tmp_path / "gpu", rows)
    page = report.write_report([d], tmp_path / "r.html").read_text()
    assert "GPU NVIDIA H200 (sm_90, 141 GiB) (CUDA 12.8)" in page
