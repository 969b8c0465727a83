"""The archbench lm-eval tasks: every YAML loads through TaskManager and runs offline on a tiny
untrained proxy; their data generators are deterministic, cached once outside the package, hashed."""

import random
from pathlib import Path

import pytest

from suite.quality import taskdata
from suite.quality.lm_eval_adapter import ArchbenchLM, task_manager
from suite.registry import data_dir

TASKS_DIR = data_dir("tasks")
TASK_FILES = sorted(p.stem for p in TASKS_DIR.glob("*.yaml"))


pytestmark = pytest.mark.usefixtures("fresh_cache")


def test_every_task_file_is_indexed_and_tagged():
    manager = task_manager(["archbench"])
    assert set(TASK_FILES) <= set(manager.all_subtasks)
    assert "archbench" in manager.all_tags
    assert TASK_FILES == sorted(
        [
            "archbench_bpb",
            "archbench_copy",
            "archbench_mqar_4",
            "archbench_mqar_8",
            "archbench_mqar_16",
            "archbench_mqar_32",
            "archbench_mqar_48",
            "archbench_passkey_1x",
            "archbench_passkey_2x",
            "archbench_passkey_4x",
        ]
    )


def test_every_task_runs_offline_on_an_untrained_proxy(monkeypatch):
    import lm_eval

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    lm = ArchbenchLM("gpt2-small", scale="tiny", batch_size=8)
    manager = task_manager(TASK_FILES, metadata={"context_length": 128})
    out = lm_eval.simple_evaluate(model=lm, tasks=TASK_FILES, task_manager=manager, limit=2, bootstrap_iters=0)
    results = out["results"]
    assert set(TASK_FILES) <= set(results)
    assert 6.0 < results["archbench_bpb"]["bits_per_byte,none"] < 9.0  # ~8 bits: untrained over 256 bytes
    for task in TASK_FILES:
        if task != "archbench_bpb":
            assert 0.0 <= results[task]["acc,none"] <= 1.0
    assert 0.0 <= results["archbench_copy"]["char_acc,none"] <= 1.0
    # context 128 here: 4x = 512 bytes needs more than the 256 learned positions, 2x does not
    assert lm.get_model_info()["archbench_overflow_counts"] == {"generate_until": 2}
    assert not list(Path(TASKS_DIR).glob("*.jsonl")), "task data must not be written into the package folder"


def test_generated_data_is_deterministic_and_cached_with_a_hash(tmp_path, monkeypatch):
    docs, digest = taskdata.task_docs("mqar", n_pairs=8, n_docs=5)
    again, digest_again = taskdata.task_docs("mqar", n_pairs=8, n_docs=5)
    assert docs == again and digest == digest_again
    [path] = (tmp_path / "cache" / "tasks").glob("mqar-*.jsonl")
    assert path.with_suffix(".sha256").read_text().strip() == digest
    monkeypatch.setenv("ARCHBENCH_CACHE", str(tmp_path / "elsewhere"))  # a fresh machine: same bytes
    assert taskdata.task_docs("mqar", n_pairs=8, n_docs=5)[1] == digest
    assert docs[0]["context"] == "C5 F6 s1 J8 M0 m7 a5 b0 | b"  # pinned: the generator has not changed
    assert docs[0]["target"] == "0" and docs[0]["key_distance"] == 5


def test_corrupted_cache_file_is_regenerated(tmp_path):
    docs, digest = taskdata.task_docs("copy", length=8, n_docs=3)
    [path] = (tmp_path / "cache" / "tasks").glob("copy-*.jsonl")
    path.write_text("garbage\n")
    assert taskdata.task_docs("copy", length=8, n_docs=3) == (docs, digest)


def test_mqar_answer_is_the_value_of_the_queried_key():
    docs, _ = taskdata.task_docs("mqar", n_pairs=32, n_docs=20)
    for doc in docs:
        pairs, query = doc["context"].split(" | ")
        table = dict(pairs.split(" "))
        assert len(table) == 32 and table[query] == doc["target"]
        assert doc["context"][len(doc["context"]) - 1 - doc["key_distance"]] == query  # the key's first mention


@pytest.mark.parametrize("factor", [1, 2, 4])
def test_passkey_documents_have_the_exact_length(factor):
    docs, _ = taskdata.task_docs("passkey", length_factor=factor, context_length=128, n_docs=10)
    for doc in docs:
        assert len((doc["context"] + doc["target"] + ".").encode()) == factor * 128
        assert f"The pass key is {doc['target']}." in doc["context"]
        needle_at = len(doc["context"]) - doc["needle_distance"]
        assert doc["context"][needle_at:].startswith(f"The pass key is {doc['target']}.")
    assert len({d["target"] for d in docs}) > 1 and len({d["depth"] for d in docs}) > 1


def test_passkey_too_short_is_an_error():
    with pytest.raises(ValueError, match="too short"):
        taskdata.passkey_example(random.Random(0), 40)


def test_copy_documents():
    docs, _ = taskdata.task_docs("copy", length=32, n_docs=5)
    assert all(d["context"] == f"copy {d['target']}\n" and len(d["target"]) == 32 for d in docs)


def test_default_corpus_is_stdlib_text_with_a_recorded_hash():
    corpus = taskdata.default_corpus()
    assert corpus.name.startswith("python3.") and len(corpus.sha256) == 64
    assert corpus.n_files >= 60 and len(corpus.train) > 2_000_000 and len(corpus.heldout) > 100
    assert b"\r" not in corpus.train and max(len(d.encode()) for d in corpus.heldout) <= taskdata.BPB_DOC_BYTES
    # held-out documents are not in the training text
    assert all(d.encode() not in corpus.train for d in corpus.heldout[:20])


def test_file_corpus_holds_out_the_tail(tmp_path):
    text = "".join(f"line {i}\n" for i in range(1000))
    (tmp_path / "c.txt").write_text(text)
    corpus = taskdata.load_corpus(str(tmp_path / "c.txt"))
    assert corpus.train.decode() + "".join(sorted(corpus.heldout, key=lambda d: int(d.split()[1]))) == text
    assert "line 999" in "".join(corpus.heldout) and b"line 999" not in corpus.train


def test_synthetic_training_documents_fit_vary_and_mark_their_answers():
    rng = random.Random(0)
    docs = [taskdata.synthetic_train_doc(rng, 256) for _ in range(300)]
    texts = ["".join(t for t, _ in d) for d in docs]
    assert all(len(t.encode()) <= 256 for t in texts)
    assert {t.split(" ", 1)[0] for t in texts} >= {"copy", "The"} and any(" | " in t for t in texts)
    answers = {"".join(t for t, s in d if s) for d in docs if d[0][0].startswith("copy ")}
    assert all(a.endswith("\n") and a[:-1].isalpha() for a in answers)
    for d in docs:
        if " | " in d[0][0] + " ":  # mqar: every answer is the value of the key just before it
            table = dict(d[0][0].rstrip(" |").split(" "))
            assert all(table[key.strip()] == value for (key, _), (value, s) in zip(d[1::2], d[2::2]) if s)


def test_copy_scores_give_partial_credit():
    import importlib.util

    spec = importlib.util.spec_from_file_location("archbench_data", TASKS_DIR / "archbench_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.copy_scores({"target": "abcd"}, [" abcd"]) == {"acc": 1.0, "char_acc": 1.0}
    assert module.copy_scores({"target": "abcd"}, ["abxd"]) == {"acc": 0.0, "char_acc": 0.75}
    assert module.copy_scores({"target": "abcd"}, [""]) == {"acc": 0.0, "char_acc": 0.0}
