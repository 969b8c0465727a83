"""The recall protocol: the MQAR generator (targets, held-out split), the metric (an oracle scores 1,
an untrained model chance) and the probe's rows."""

import math

import pytest
import torch

from suite.config import ModelConfig
from suite.model import build_model
from suite.quality.recall import EVAL_STREAM, IGNORE, TRAIN_STREAM, mqar_batch, recall_accuracy, target_logits

VOCAB = 64
CFG = ModelConfig(name="r", vocab_size=VOCAB, d_model=32, n_layers=2, n_heads=4, context_length=128, position="rope")


def test_targets_are_the_values_bound_to_the_queried_keys():
    inputs, targets = mqar_batch(torch.Generator().manual_seed(0), 16, 64, 8, VOCAB)
    assert inputs.shape == targets.shape == (16, 63)
    for row in range(16):
        seq = inputs[row].tolist()
        keys, values = seq[0:16:2], seq[1:16:2]
        assert len(set(keys + values)) == 16 and all(1 <= t < VOCAB for t in keys + values)
        bound = dict(zip(keys, values))
        answered = [(pos, t) for pos, t in enumerate(targets[row].tolist()) if t != IGNORE]
        assert len(answered) == 8  # every key queried once
        assert sorted(seq[pos] for pos, _ in answered) == sorted(keys)
        assert all(bound[seq[pos]] == t for pos, t in answered)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="need 80 distinct key and value ids"):
        mqar_batch(torch.Generator(), 1, 512, 40, VOCAB)
    with pytest.raises(ValueError, match="need at least 64 tokens"):
        mqar_batch(torch.Generator(), 1, 32, 16, VOCAB)


def test_held_out_instances_never_equal_training_ones():
    train = set()
    for seed in range(3):
        gen = torch.Generator().manual_seed(TRAIN_STREAM + seed)
        for _ in range(20):
            train |= {tuple(r) for r in mqar_batch(gen, 64, 64, 4, VOCAB)[0].tolist()}
    gen = torch.Generator().manual_seed(EVAL_STREAM + 7919 * 64 + 4)
    held_out = {tuple(r) for r in mqar_batch(gen, 256, 64, 4, VOCAB)[0].tolist()}
    assert len(train) > 3000 and not (train & held_out)


class Oracle(torch.nn.Module):
    """Reads the pairs and answers every query: the metric's upper bound."""

    def forward(self, idx):
        logits = torch.zeros(*idx.shape, VOCAB)
        for b, seq in enumerate(idx.tolist()):
            bound = {}
            for pos in range(0, len(seq), 2):  # pairs and queries sit at even offsets
                key = seq[pos]
                if key in bound:  # a query: the value it was bound to comes next
                    logits[b, pos, bound[key]] = 1.0
                elif key:
                    bound[key] = seq[pos + 1]
        return logits


def test_an_oracle_scores_one_and_an_untrained_model_chance():
    assert recall_accuracy(Oracle(), CFG, 64, 8, 64) == 1.0
    untrained = recall_accuracy(build_model(CFG, seed=0), CFG, 64, 8, 256)
    assert untrained < 4 / (VOCAB - 1)  # chance is 1/(V-1)


def test_probe_rows_have_intervals_and_chance():
    from suite.probes.recall import recall

    settings = dict(seeds=[0, 1], vocab=VOCAB, steps=3, batch_size=4, train=[[64, 4]], eval=[[64, 4], [256, 8]],
                    eval_instances=8)  # fmt: skip
    rows = recall(CFG, settings)
    assert [(r.settings["seq_len"], r.settings["pairs"]) for r in rows] == [(64, 4)]  # 256 > context: skipped
    row = rows[0]
    assert row.metric == "recall_accuracy" and row.status == "ok" and 0 <= row.value <= 1
    assert len(row.extra["values"]) == 2 and row.extra["chance"] == 1 / (VOCAB - 1) and row.extra["trained_on"]
    assert math.isfinite(row.extra["ci_low"]) and row.extra["ci_low"] <= row.value <= row.extra["ci_high"]
    assert row.extra["skipped_past_context"] == [(256, 8)]


def test_unknown_settings_are_named():
    from suite.probes.recall import resolve_settings

    with pytest.raises(ValueError, match="unknown recall setting"):
        resolve_settings({"stepz": 3})
    with pytest.raises(ValueError, match=r"is a list of \[sequence length, pairs\]"):
        resolve_settings({"eval": [64]})


def test_training_stops_at_the_criterion_and_the_rows_say_how_many_steps_ran():
    from suite.quality.recall import RecallSettings, train_recall

    recipe = dict(train=((32, 4),), steps=12, batch_size=4, lr=1e-3, stop_window=5)
    # a criterion every model meets (accuracy >= 0) stops after one window; one none can meet never does
    assert len(train_recall(build_model(CFG, seed=0), CFG, RecallSettings(**recipe, stop_accuracy=0.0), 0)) == 5
    assert len(train_recall(build_model(CFG, seed=0), CFG, RecallSettings(**recipe, stop_accuracy=1.01), 0)) == 12
    assert len(train_recall(build_model(CFG, seed=0), CFG, RecallSettings(**recipe), 0)) == 12

    from suite.probes.recall import recall

    settings = dict(seeds=[0, 1], vocab=VOCAB, steps=12, batch_size=4, train=[[32, 4]], eval=[[32, 4], [64, 8]],
                    eval_instances=8, stop_accuracy=0.0, stop_window=5)  # fmt: skip
    row = recall(CFG, settings)[0]
    assert row.extra["steps_run"] == [5, 5] and row.extra["recipe"]["stop_accuracy"] == 0.0
    assert row.extra["recipe"]["eval"] == [[32, 4], [64, 8]]  # the points that ran, not the defaults


def test_the_curriculum_draws_from_train_first_for_its_share_of_the_steps(monkeypatch):
    import suite.quality.recall as recall_module

    drawn = []
    real = recall_module.mqar_batch

    def recording(gen, batch, seq_len, n_pairs, vocab):
        drawn.append((seq_len, n_pairs))
        return real(gen, batch, seq_len, n_pairs, vocab)

    monkeypatch.setattr(recall_module, "mqar_batch", recording)
    recipe = recall_module.RecallSettings(
        train=((64, 8), (64, 16)), train_first=((32, 4),), first_frac=0.5, steps=6, batch_size=2, lr=1e-3
    )
    recall_module.train_recall(build_model(CFG, seed=0), CFG, recipe, 0)
    assert drawn == [(32, 4)] * 3 + [(64, 16), (64, 8), (64, 16)]


def test_the_loss_at_the_targets_is_the_whole_sequence_loss():
    """`target_logits` runs the head only where a value is asked for: the same loss and accuracy."""
    model = build_model(CFG, seed=0)
    inputs, targets = mqar_batch(torch.Generator().manual_seed(3), 8, 64, 8, VOCAB)
    logits, answers = target_logits(model, inputs, targets)
    whole = model(inputs)
    expected = torch.nn.functional.cross_entropy(whole.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=IGNORE)
    assert logits.shape == (8 * 8, VOCAB) and answers.tolist() == targets[targets != IGNORE].tolist()
    assert torch.nn.functional.cross_entropy(logits, answers).item() == pytest.approx(expected.item(), abs=1e-6)
    assert torch.equal(logits.argmax(-1), whole.argmax(-1)[targets != IGNORE])


def test_freed_memory_is_retained_only_in_an_isolated_child():
    """The recall probe tunes the allocator of its own cell process, never of a process that measures memory."""
    from suite.isolation import call_isolated, retain_freed_memory

    assert retain_freed_memory() is False  # this process: the memory probes' tests measure RSS here
    assert call_isolated("tests.fake_probes:retain_in_child", None, timeout=60) is True
