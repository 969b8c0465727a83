"""lm-eval hooks for the archbench tasks: `custom_dataset` loaders and `process_results` scorers.

The documents come from `suite.quality.taskdata` (seeded generators, cached once under
`$ARCHBENCH_CACHE/tasks` with a sha256 sidecar). lm-eval calls a loader with the task's
`metadata` (plus any `--metadata` / TaskManager metadata) and its `dataset_kwargs` as keywords;
unknown keywords are ignored. `context_length` in the metadata sets the training context that
the passkey length factors multiply (default 256, the `tiny` proxy context).
"""

from __future__ import annotations

import datasets

from suite.quality import taskdata


def _dataset(docs: list[dict]) -> dict[str, datasets.Dataset]:
    return {"test": datasets.Dataset.from_list(docs, split=datasets.Split.TEST)}


def bpb(corpus: str | None = None, n_docs: int | None = None, **_) -> dict[str, datasets.Dataset]:
    return _dataset(taskdata.task_docs("bpb", corpus=corpus, n_docs=n_docs)[0])


def mqar(n_pairs: int = 8, n_docs: int = 200, **_) -> dict[str, datasets.Dataset]:
    return _dataset(taskdata.task_docs("mqar", n_pairs=int(n_pairs), n_docs=int(n_docs))[0])


def copy(length: int = 32, n_docs: int = 200, **_) -> dict[str, datasets.Dataset]:
    return _dataset(taskdata.task_docs("copy", length=int(length), n_docs=int(n_docs))[0])


def passkey(length_factor: float = 1, context_length: int = 256, n_docs: int = 100, **_) -> dict[str, datasets.Dataset]:
    return _dataset(
        taskdata.task_docs(
            "passkey", length_factor=float(length_factor), context_length=int(context_length), n_docs=int(n_docs)
        )[0]
    )


def exact(doc: dict, results: list[str]) -> dict[str, float]:
    """Generated text (already cut at the stop strings) equals the target, surrounding spaces ignored."""
    return {"acc": float(results[0].strip() == doc["target"])}


def copy_scores(doc: dict, results: list[str]) -> dict[str, float]:
    """Exact match, and the share of target characters reproduced in place (partial credit)."""
    got, want = results[0].strip(), doc["target"]
    return {"acc": float(got == want), "char_acc": sum(a == b for a, b in zip(got, want)) / len(want)}
