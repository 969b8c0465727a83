"""The corpus is the acceptance test of issue 18: it must stay at least 300 cases across its groups."""

import importlib
from pathlib import Path

GROUPS = sorted(p.stem for p in Path(__file__).parent.glob("test_hostile_*.py") if p.stem != Path(__file__).stem)


def test_corpus_has_at_least_300_cases_across_the_groups():
    sizes = {name: len(importlib.import_module(name).CASES) for name in GROUPS}
    assert sum(sizes.values()) >= 300, sizes
    assert all(n >= 10 for n in sizes.values()), sizes
