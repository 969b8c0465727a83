"""Read a pytest-benchmark JSON and print, per group, ours / reference (medians; <= 1.0 is the goal).

The reference is the test whose name contains `transformers` (test_vs_transformers.py) or
`baseline` (test_recall_step.py).

python tests/benchmarks/ratios.py BENCH.json
"""

from __future__ import annotations

import json
import sys


def ratios(data: dict) -> dict[str, dict[str, float]]:
    """{group: {"ours": median s, "reference": median s, "ratio": ours / reference}}."""
    groups: dict[str, dict[str, float]] = {}
    for bench in data["benchmarks"]:
        side = "reference" if any(w in bench["name"] for w in ("transformers", "baseline")) else "ours"
        groups.setdefault(bench["group"] or bench["name"], {})[side] = bench["stats"]["median"]
    for values in groups.values():
        if "ours" in values and "reference" in values:
            values["ratio"] = values["ours"] / values["reference"]
    return groups


def main(argv: list[str]) -> int:
    with open(argv[0]) as f:
        table = ratios(json.load(f))
    for group, v in sorted(table.items()):
        ours, ref = v.get("ours", float("nan")) * 1e3, v.get("reference", float("nan")) * 1e3
        print(f"{group:28s} ours {ours:9.3f} ms  reference {ref:9.3f} ms  ratio {v.get('ratio', float('nan')):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
