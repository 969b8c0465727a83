"""Proxy training: the schedule, determinism for a seed, checkpoints, the sweep, the cache, the
fairness rule, the `train` / `eval` commands and the `quality` probe end to end (tiny budgets)."""

import json
import math

import pandas as pd
import pytest
import torch

from suite.analysis.fairness import FairnessError, check_fair, quality_table
from suite.cli import main
from suite.config import ModelConfig
from suite.quality import training
from suite.quality.lm_eval_adapter import ArchbenchLM
from suite.quality.training import TrainResult, TrainSettings, lr_at

CFG = ModelConfig(name="t", vocab_size=256, d_model=32, n_layers=2, n_heads=2, context_length=64, dropout=0.1)
FAST = TrainSettings(tokens=4 * 4 * 32, seq_len=32, batch_size=4)  # 4 steps


pytestmark = pytest.mark.usefixtures("fresh_cache")


def test_schedule_warms_up_then_decays_to_the_floor():
    lrs = [lr_at(s, 100, 1.0) for s in range(100)]
    assert lrs[0] == pytest.approx(0.2) and lrs[4] == pytest.approx(1.0)  # 5 warm-up steps
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))
    assert lrs[-1] == pytest.approx(0.1)
    assert lr_at(0, 1, 3e-3) == pytest.approx(3e-3)


def test_training_is_deterministic_for_a_seed():
    a = training.train(CFG, FAST).model.state_dict()
    b = training.train(CFG, FAST).model.state_dict()
    c = training.train(CFG, TrainSettings(**{**FAST.__dict__, "seed": 1})).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_training_learns_and_records_its_provenance():
    result = training.train(CFG, TrainSettings(tokens=30 * 8 * 32, seq_len=32, batch_size=8, lr=3e-3))
    meta = result.meta
    assert meta["steps"] == 30 and meta["tokens_seen"] == 30 * 8 * 32 and meta["seq_len"] == 32
    assert meta["val_loss"] < math.log(256) - 1.0  # well below uniform over bytes
    assert meta["corpus_sha256"] and meta["settings"]["lr"] == 3e-3
    assert result.model.cfg.dropout == 0.0  # dropout off for proxy training


def test_seq_len_past_learned_positions_is_an_error():
    with pytest.raises(training.ConfigError, match="longer than the 64 learned positions"):
        training.train(CFG, TrainSettings(tokens=100, seq_len=128))


def test_checkpoint_round_trip_and_adapter_loads_it(tmp_path):
    result = training.train(CFG, FAST)
    folder = training.save_trained(result.model, tmp_path / "ck", result.meta)
    assert sorted(p.name for p in folder.iterdir()) == ["config.yaml", "model.safetensors", "train.json"]
    model, meta = training.load_trained(folder)
    x = torch.randint(0, 256, (2, 16))
    torch.testing.assert_close(model(x), result.model(x))
    lm = ArchbenchLM(str(folder))
    assert lm.max_length == 32 and lm.cfg == model.cfg  # rolling windows use the training context


def test_train_cached_reuses_the_checkpoint(tmp_path):
    first = training.train_cached(CFG, FAST, tmp_path / "ck")
    second = training.train_cached(CFG, FAST, tmp_path / "ck")
    assert first.meta["cached"] is False and second.meta["cached"] is True
    assert all(torch.equal(v, second.model.state_dict()[k]) for k, v in first.model.state_dict().items())
    assert training.cache_key(CFG, FAST) != training.cache_key(CFG.replace(n_layers=3), FAST)
    assert training.cache_key(CFG, FAST) == training.cache_key(CFG.replace(name="other", description="x"), FAST)


def test_sweep_picks_the_lowest_validation_loss_then_runs_the_other_seeds():
    calls = []

    def fake(cfg, s):
        calls.append((s.lr, s.seed))
        return TrainResult(model=None, meta={"val_loss": abs(math.log10(s.lr) + 2.5) + s.seed})

    sweep = training.train_sweep(CFG, FAST, [1e-3, 3e-3, 1e-2], [7, 8], run=fake)
    assert sweep.best_lr == 3e-3
    assert calls == [(1e-3, 7), (3e-3, 7), (1e-2, 7), (3e-3, 8)]
    assert len(sweep.runs) == 2 and sweep.runs[0].meta["lr_sweep"].keys() == {"0.001", "0.003", "0.01"}


def test_sweep_never_picks_a_diverged_rate_and_fails_when_none_trains():
    def fake(loss_of):
        def run(cfg, s):
            val = loss_of(s.lr, s.seed)
            return TrainResult(model=None, meta={"val_loss": val, "diverged": not math.isfinite(val)})

        return run

    # listed first and "lowest" (NaN compares false): the old min() could pick it
    sweep = training.train_sweep(
        CFG, FAST, [1e-2, 3e-3], [0], run=fake(lambda lr, seed: math.nan if lr > 5e-3 else 2.0)
    )
    assert sweep.best_lr == 3e-3 and set(sweep.diverged) == {1e-2}
    assert sweep.runs[0].meta["lr_diverged"] == {"0.01": "non-finite validation loss (nan)"}
    with pytest.raises(training.DivergedError, match=r"every learning rate diverged \(lr 0.01: .*; lr 0.003: "):
        training.train_sweep(CFG, FAST, [1e-2, 3e-3], [0], run=fake(lambda lr, seed: math.nan))
    with pytest.raises(training.DivergedError, match=r"seed 1 at the chosen lr 0.003 diverged"):
        training.train_sweep(CFG, FAST, [3e-3], [0, 1], run=fake(lambda lr, seed: math.nan if seed else 2.0))


def test_fairness_rule():
    ok = [
        dict(variant="a", active_excl_embedding=100_000, tokens=10),
        dict(variant="b", active_excl_embedding=108_000, tokens=10),
    ]
    check_fair(ok)
    big = ok + [dict(variant="c", active_excl_embedding=125_000, tokens=10)]
    with pytest.raises(FairnessError, match=r"c has 125,000 non-embedding active parameters, \+16% vs the median"):
        check_fair(big)
    with pytest.raises(FairnessError, match="different token budgets: a=10, b=20"):
        check_fair([ok[0], dict(ok[1], tokens=20)])
    with pytest.raises(FairnessError, match=r"b has 108,000 .* \+8% vs a"):
        check_fair(ok, reference="a", tolerance=0.05)


def _quality_rows(variant, params, tokens=1000, value=1.0):
    return dict(
        probe="quality",
        status="ok",
        variant=variant,
        metric="mqar_accuracy",
        value=value,
        **{"settings.n_pairs": 8, "settings.tokens": tokens},
        extra=json.dumps({"active_excl_embedding": params}),
    )


def test_quality_table_enforces_or_flags_the_rule():
    df = pd.DataFrame(
        [
            _quality_rows("a", 100_000, value=0.5),
            _quality_rows("b", 104_000, value=0.7),
            _quality_rows("c", 150_000, value=0.9),
        ]
    )
    with pytest.raises(FairnessError, match="c has 150,000"):
        quality_table(df)
    table = quality_table(df, strict=False)
    assert table.loc["b", "mqar_accuracy[n_pairs=8]"] == 0.7
    assert table["fair"].to_dict() == {"a": True, "b": True, "c": False}
    assert "c has 150,000" in table.attrs["fairness"]
    assert quality_table(df[df.variant != "c"])["fair"].all()


def test_train_and_eval_commands(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "gpt2-small",
            "--tokens",
            "256",
            "--seq-len",
            "32",
            "--batch-size",
            "4",
            "--lr",
            "1e-3",
            "3e-3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_lr"] in (1e-3, 3e-3) and len(summary["selected"]) == 1
    assert (out / "lr0.001-seed0" / "model.safetensors").is_file()
    capsys.readouterr()
    code = main(
        [
            "eval",
            summary["selected"][0],
            "--tasks",
            "archbench_mqar_4,archbench_bpb",
            "--limit",
            "2",
            "--output",
            str(tmp_path / "r.json"),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and "archbench_mqar_4" in text
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["config"]["archbench_max_length"] == 32


def test_command_errors_are_one_paragraph(tmp_path, capsys):
    assert main(["eval", "gpt2-small", "--scale", "tiny", "--tasks", "archbench_mqar_5"]) == 2
    assert "unknown task(s): archbench_mqar_5 (did you mean" in capsys.readouterr().err
    assert main(["train", "gpt2-small", "--corpus", str(tmp_path / "none.txt"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "cannot read corpus file" in err and "none.txt: it does not exist" in err
    assert main(["eval", "gpt2-small", "--metadata", "{bad"]) == 2
    assert "--metadata is not valid JSON" in capsys.readouterr().err


def test_quality_probe_rows_with_mean_and_interval():
    from suite.probes import get_probe
    from suite.registry import resolve_config

    spec = get_probe("quality")
    assert spec.family == "quality" and spec.isolate
    cfg = resolve_config("gpt2-small", scale="tiny")
    settings = dict(
        tokens=2 * 4 * 32,
        seq_len=32,
        batch_size=4,
        seeds=[0, 1],
        limit=2,
        tasks=["archbench_bpb", "archbench_mqar_8", "archbench_passkey_4x"],
    )
    rows = spec.fn(cfg, settings)
    by_metric = {r.metric: r for r in rows}
    assert [r.metric for r in rows] == ["bits_per_byte", "mqar_accuracy", "passkey_accuracy"]
    bpb = by_metric["bits_per_byte"]
    assert bpb.lower_is_better and bpb.unit == "bits/byte" and len(bpb.extra["values"]) == 2
    assert bpb.value == pytest.approx(sum(bpb.extra["values"]) / 2)
    assert bpb.extra["ci_low"] <= bpb.value <= bpb.extra["ci_high"]
    assert by_metric["mqar_accuracy"].settings == {"n_pairs": 8, "tokens": 256}
    assert by_metric["passkey_accuracy"].settings["length_factor"] == 4
    assert set(by_metric["passkey_accuracy"].extra["acc_by_needle_distance"][0]) <= {"within_context", "beyond_context"}
    assert "failure_reason" not in by_metric["passkey_accuracy"].extra  # 4 x 32 fits the 256 learned positions
    assert by_metric["passkey_accuracy"].extra["cached"] == [False, False]
    again = spec.fn(cfg, settings)  # checkpoints come from the cache; evaluation is deterministic
    assert again[0].extra["cached"] == [True, True] and again[0].value == pytest.approx(bpb.value, abs=1e-6)


def test_quality_settings_are_checked():
    from suite.probes.quality import resolve_settings

    with pytest.raises(ValueError, match="unknown quality preset 'fast'"):
        resolve_settings({"preset": "fast"})
    with pytest.raises(ValueError, match="unknown quality setting"):
        resolve_settings({"tokenz": 5})
    with pytest.raises(ValueError, match=r"mqar_pairs \[5\] have no task file"):
        resolve_settings({"mqar_pairs": [5]})
    assert resolve_settings({"preset": "standard"})["seeds"] == [0, 1, 2]


def test_sampler_trains_on_all_text_but_only_on_synthetic_answers():
    text = bytes(range(32, 127)) * 100
    tokens, kind = training.MixtureSampler(text, 64, 0.0, seed=0).batch(4)
    assert tokens.shape == (4, 65) and kind.shape == (4, 64) and (kind == training.MixtureSampler.TEXT).all()
    tokens, kind = training.MixtureSampler(text, 64, 1.0, seed=0).batch(32)
    assert set(kind.unique().tolist()) == {0, training.MixtureSampler.ANSWER}
    targets = tokens[:, 1:][kind > 0].tolist()
    assert 0 < len(targets) < kind.numel() // 4
    assert set(map(chr, targets)) <= set("0123456789.\nabcdefghijklmnopqrstuvwxyz")
    again = training.MixtureSampler(text, 64, 1.0, seed=0).batch(32)
    assert torch.equal(again[0], tokens) and torch.equal(again[1], kind)


def test_loss_weights_text_and_answers_by_the_synthetic_fraction():
    class Uniform(torch.nn.Module):
        def forward(self, idx):
            logits = torch.zeros(*idx.shape, 256)
            logits[..., 65] = math.log(256)  # "A" twice as likely as any other byte... roughly
            return logits

    tokens = torch.tensor([[1, 65, 2, 3]])
    kind = torch.tensor([[1, 2, 0]], dtype=torch.uint8)  # text target 65, answer target 2, untrained 3
    lp = torch.log_softmax(Uniform()(tokens[:, :-1]), -1)[0]
    text_loss, answer_loss = -lp[0, 65], -lp[1, 2]
    got = training._loss(Uniform(), (tokens, kind), 0.25)
    assert float(got) == pytest.approx(float(0.75 * text_loss + 0.25 * answer_loss))
