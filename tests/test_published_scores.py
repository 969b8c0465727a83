"""Published quality (suite/analytic/published_scores.yaml): every score traceable to a quote and a
source, every model a catalogue variant, a bad entry refused with its file and field named, and the
scores shown by `show` and listed by the report section."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

import suite
from suite.analytic.published import DATA_FILE, PROVENANCE, load_scores, published_models, published_scores
from suite.cli import main
from suite.registry import Registry
from suite.report.published import TITLE, section_published, source_url
from suite.safeio import InputError

ROWS = load_scores()


def _number_token(score: str) -> str:
    return score.removesuffix("%")


def test_shipped_file_validates_and_covers_the_catalogue():
    assert len(ROWS) >= 40
    # the models sourced when the file was written; a later edit that drops one should be deliberate
    assert len(published_models()) >= 14
    assert {r["provenance"] for r in ROWS} <= set(PROVENANCE)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['model']}:{r['benchmark']}:{r['checkpoint']}")
def test_score_is_a_number_token_of_its_quote(row):
    # written independently of the loader's check: the score's digits stand alone in the quote
    number = _number_token(row["score"])
    assert re.fullmatch(r"\d+(\.\d+)?", number), row["score"]
    tokens = re.findall(r"\d+(?:\.\d+)?", row["quote"])
    assert number in tokens, f"{row['score']} not in {row['quote']!r}"
    assert len(row["quote"]) <= 300


def test_every_model_is_a_full_size_catalogue_variant():
    registry = Registry()
    for name in published_models():
        assert name in registry.entries, f"{name} is not a registered variant"
        assert "/" not in name  # study variants (ladder/..., mixers/...) have no published scores


def test_every_entry_names_a_checkpoint_setting_and_source():
    for row in ROWS:
        assert row["checkpoint"].strip() and row["setting"].strip()
        assert source_url(row["source"]) or row["source"].strip(), row


def test_git_sources_carry_a_commit():
    # text read from a repository is pinned: `owner/repo:path@<40-hex commit>`
    for row in ROWS:
        if row["provenance"] == "primary":
            assert re.search(r"@[0-9a-f]{40}$", row["source"]), row["source"]


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "scores.yaml"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = """\
scores:
  - model: deepseek-v3
    benchmark: MMLU
    score: "88.5"
    setting: 5-shot
    checkpoint: chat
    source: https://example.org/card
    provenance: primary
    quote: "| MMLU | 88.5 |"
"""


def test_a_good_entry_loads(tmp_path):
    rows = load_scores(_write(tmp_path, GOOD))
    assert rows == [
        dict(
            model="deepseek-v3",
            benchmark="MMLU",
            score="88.5",
            setting="5-shot",
            checkpoint="chat",
            source="https://example.org/card",
            provenance="primary",
            quote="| MMLU | 88.5 |",
        )
    ]


@pytest.mark.parametrize(
    "old, new, field, words",
    [
        ('quote: "| MMLU | 88.5 |"', 'quote: "| MMLU | 88.6 |"', "scores[0].score", "does not appear in its quote"),
        ('quote: "| MMLU | 88.5 |"', 'quote: "| MMLU | 188.5 |"', "scores[0].score", "does not appear in its quote"),
        ("    source: https://example.org/card\n", "", "scores[0].source", "missing 'source'"),
        ('score: "88.5"', "score: 88.5", "scores[0].score", "expected a string"),
        ('score: "88.5"', 'score: "about 88"', "scores[0].score", "not a number as printed"),
        ("provenance: primary", "provenance: memory", "scores[0].provenance", "not one of"),
        ("setting: 5-shot", "setting: 5-shot\n    guessed: yes", "scores[0].guessed", "unknown key"),
        ("checkpoint: chat", 'checkpoint: " "', "scores[0].checkpoint", "is empty"),
    ],
)
def test_a_bad_entry_names_file_and_field(tmp_path, old, new, field, words):
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(InputError) as err:
        load_scores(path)
    message = str(err.value)
    assert str(path) in message and f"field '{field}'" in message and words in message


def test_a_long_quote_and_a_duplicate_are_refused(tmp_path):
    long_quote = GOOD.replace('"| MMLU | 88.5 |"', '"| MMLU | 88.5 |' + "x" * 300 + '"')
    with pytest.raises(InputError, match=r"field 'scores\[0\]\.quote'.*at most 300"):
        load_scores(_write(tmp_path, long_quote))
    twice = GOOD + GOOD.split("scores:\n", 1)[1]
    with pytest.raises(InputError, match=r"field 'scores\[1\]'.*duplicate of scores\[0\]"):
        load_scores(_write(tmp_path, twice))


def test_the_top_level_must_be_a_scores_list(tmp_path):
    with pytest.raises(InputError, match=r"field 'scores'.*expected a list"):
        load_scores(_write(tmp_path, "scores: {}\n"))
    with pytest.raises(InputError, match=r"one key, 'scores'"):
        load_scores(_write(tmp_path, "score: []\n"))


def test_the_data_file_ships_inside_the_package():
    # `packages = ["suite"]` puts every file under suite/ in the wheel; a file outside would be lost
    assert DATA_FILE.is_file() and DATA_FILE.parent == Path(suite.__file__).parent / "analytic"


def test_show_json_has_published_quality(capsys):
    assert main(["show", "deepseek-v3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    scores = data["published_quality"]
    assert {s["benchmark"] for s in scores} >= {"MMLU (EM)", "GPQA-Diamond (Pass@1)"}
    mmlu = next(s for s in scores if s["benchmark"] == "MMLU (EM)")
    assert mmlu["score"] == "88.5" and "deepseek-ai/DeepSeek-V3:README.md@" in mmlu["source"]


def test_show_json_published_quality_is_empty_without_scores_and_for_proxies(capsys):
    assert main(["show", "gpt2-small", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["published_quality"] == []
    assert main(["show", "qwen3-8b", "--scale", "tiny", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["published_quality"] == []


def test_show_text_prints_the_not_measured_block(capsys):
    assert main(["show", "qwen3-8b"]) == 0
    out = capsys.readouterr().out
    assert TITLE in out and "GPQA-Diamond: 62.0" in out and "Qwen3_Technical_Report.pdf" in out


def _frame(variants, scale="full"):
    return pd.DataFrame([dict(variant=v, scale=scale, status="ok", metric="params_total", value=1.0) for v in variants])


def test_section_lists_the_full_size_models_scores_with_links():
    section = section_published(_frame(["deepseek-v3", "gpt2-small", "ladder/00-gpt2"]), registry=None)
    assert section.title == TITLE and not section.empty
    rows = section.extra["published"]
    assert {r["variant"] for r in rows} == {"deepseek-v3"}
    assert len(rows) == len(published_scores("deepseek-v3"))
    assert all(r["source_url"].startswith("https://github.com/deepseek-ai/DeepSeek-V3/blob/") for r in rows)
    assert {"benchmark", "score", "setting", "checkpoint", "source", "provenance"} <= set(rows[0])
    assert section.extra["unsourced"] == ["gpt2-small"]  # named, never filled in


def test_section_without_full_size_models_says_so():
    assert "No full-size models" in section_published(_frame(["gpt2-small"], scale="tiny"), None).empty
    assert "No published scores" in section_published(_frame(["gpt2-small"]), None).empty


def test_source_url():
    assert (
        source_url("owner/repo:docs/card.md@0123456789abcdef0123456789abcdef01234567")
        == "https://github.com/owner/repo/blob/0123456789abcdef0123456789abcdef01234567/docs/card.md"
    )
    assert source_url("https://www.paperswithcode.com/paper/mistral-7b (results of arXiv)") == (
        "https://www.paperswithcode.com/paper/mistral-7b"
    )
    assert (
        source_url("owner/repo:a/b.md (a copy of https://example.org)")
        == "https://github.com/owner/repo/blob/HEAD/a/b.md"
    )
    assert source_url("Gemma 3 model card (Google DeepMind)") is None
