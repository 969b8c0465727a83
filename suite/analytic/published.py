"""Published benchmark scores of full-size catalogue models (`published_scores.yaml`): quality as the
developers report it, shown beside the cost figures as "published, not measured".

The file's header states the rules (every score copied from retrieved text, with its source,
setting, checkpoint and a verbatim quote). This module loads it through the strict YAML reader and
refuses an entry that breaks a rule it can check, naming the file and the field."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from suite.safeio import InputError, expect_type, load_yaml

DATA_FILE = Path(__file__).with_name("published_scores.yaml")
REQUIRED = ("model", "benchmark", "score", "setting", "checkpoint", "source", "provenance", "quote")
OPTIONAL = ("retrieved_from",)
PROVENANCE = ("primary", "verbatim-copy", "third-party")
MAX_QUOTE = 300  # a table row or a sentence, not a page: enough to find the number in its source
# A score as printed: a number, optionally a percentage ("88.5", "2121", "85.3%").
_SCORE = re.compile(r"^(\d+(?:\.\d+)?)%?$")


def _number_in(number: str, text: str) -> bool:
    """Whether `number` stands as a whole number token in `text` ("8.5" is not in "88.5")."""
    return re.search(rf"(?<![\d.]){re.escape(number)}(?![\d]|\.\d)", text) is not None


def _check_entry(entry: Any, i: int, path: Path) -> dict[str, str]:
    where = f"scores[{i}]"
    expect_type(entry, dict, file=path, field=where, what="a published score")
    unknown = sorted(set(entry) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise InputError(
            f"unknown key(s) {', '.join(unknown)}; an entry has {', '.join(REQUIRED)} and optionally "
            f"{', '.join(OPTIONAL)}.",
            file=path,
            field=f"{where}.{unknown[0]}",
        )
    for key in REQUIRED:
        if key not in entry:
            raise InputError(f"missing '{key}': every published score needs it.", file=path, field=f"{where}.{key}")
    for key in (*REQUIRED, *OPTIONAL):
        if key in entry:
            value = expect_type(entry[key], str, file=path, field=f"{where}.{key}")
            if not value.strip():
                raise InputError(f"'{key}' is empty.", file=path, field=f"{where}.{key}")
    match = _SCORE.match(entry["score"])
    if match is None:
        raise InputError(
            f"score {entry['score']!r} is not a number as printed (e.g. 88.5 or 85.3%); quote it as a string.",
            file=path,
            field=f"{where}.score",
        )
    if entry["provenance"] not in PROVENANCE:
        raise InputError(
            f"provenance {entry['provenance']!r} is not one of {', '.join(PROVENANCE)}.",
            file=path,
            field=f"{where}.provenance",
        )
    if len(entry["quote"]) > MAX_QUOTE:
        raise InputError(
            f"quote is {len(entry['quote'])} characters; keep the row or sentence with the number "
            f"(at most {MAX_QUOTE}).",
            file=path,
            field=f"{where}.quote",
        )
    # The quote is the evidence: a score that is not in it was not copied from it.
    if not _number_in(match.group(1), entry["quote"]):
        raise InputError(
            f"score {entry['score']} does not appear in its quote {entry['quote']!r}; a score must be copied "
            "from the quoted source text.",
            file=path,
            field=f"{where}.score",
        )
    return {key: entry[key] for key in (*REQUIRED, *OPTIONAL) if key in entry}


def load_scores(path: str | Path = DATA_FILE) -> list[dict[str, str]]:
    """Every entry of a published-scores file, validated; an `InputError` names file and field."""
    path = Path(path)
    data = expect_type(load_yaml(path, "published scores file"), dict, file=path, field="(top level)")
    if set(data) != {"scores"}:
        raise InputError("the file is a mapping with one key, 'scores' (a list of entries).", file=path, field="scores")
    entries = expect_type(data["scores"], list, file=path, field="scores")
    rows = [_check_entry(entry, i, path) for i, entry in enumerate(entries)]
    seen: dict[tuple[str, str, str, str], int] = {}
    for i, row in enumerate(rows):
        key = (row["model"], row["benchmark"], row["checkpoint"], row["setting"])
        if key in seen:
            raise InputError(
                f"duplicate of scores[{seen[key]}] (same model, benchmark, checkpoint and setting).",
                file=path,
                field=f"scores[{i}]",
            )
        seen[key] = i
    return rows


@functools.lru_cache(maxsize=1)
def _builtin() -> tuple[dict[str, str], ...]:
    return tuple(load_scores(DATA_FILE))


def published_scores(variant_name: str) -> list[dict[str, str]]:
    """The published scores of one variant (copies; an empty list when none were sourced)."""
    return [dict(row) for row in _builtin() if row["model"] == variant_name]


def published_models() -> list[str]:
    """Variants with at least one published score, in file order."""
    return list(dict.fromkeys(row["model"] for row in _builtin()))
