"""Parameter matching (`--match-params N`): every variant's proxy at N non-embedding active
parameters within ±5%, keeping its components; on show, run (recorded in rows) and suite files."""

import json

import pytest

from suite.analytic.matching import match_params, non_embedding_active
from suite.cli import main
from suite.config import ConfigError
from suite.registry import Registry, proxy


@pytest.fixture(scope="module")
def registry():
    return Registry()


@pytest.mark.parametrize("target", [200_000, 1_000_000, 5_000_000])
def test_every_catalogue_proxy_matches_within_5_percent(registry, target):
    for name in registry.names():
        cfg = registry.get(name)
        matched = match_params(cfg, target, "tiny")
        assert non_embedding_active(matched) == pytest.approx(target, rel=0.05), name
        plain = proxy(cfg, "tiny")
        for key in ("attention", "mlp", "norm", "position", "layer_types", "n_experts", "experts_top_k"):
            assert getattr(matched, key) == getattr(plain, key), (name, key)
        if cfg.kv_heads == 1:  # MQA stays MQA
            assert matched.kv_heads == 1, name
        else:  # the GQA group size is kept
            assert matched.n_heads // matched.kv_heads == plain.n_heads // plain.kv_heads, name


def test_non_embedding_active_leaves_out_embedding_and_head(registry):
    cfg = proxy(registry.get("ladder/12-untied-head"), "tiny")  # untied: the head is its own matrix
    from suite.analytic.params import count_params

    counts = count_params(cfg)
    assert non_embedding_active(cfg) == counts["active"] - counts["embedding"] - cfg.vocab_size * cfg.d_model


def test_impossible_targets_are_clear_errors(registry):
    with pytest.raises(ConfigError, match=r"need a proxy wider than 8192; analyse the variant at --scale full"):
        match_params(registry.get("gpt2-small"), 10**10, "tiny")
    with pytest.raises(ConfigError, match=r"field 'match_params': no proxy comes within 5% of 10 non-embedding"):
        match_params(registry.get("gpt2-small"), 10, "tiny")


def test_show_json_reports_the_matched_proxy(capsys):
    assert main(["show", "gpt-oss-20b", "--scale", "tiny", "--match-params", "1.5M", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "gpt-oss-20b@tiny-1.5M"
    assert data["params"]["non_embedding_active"] == pytest.approx(1_500_000, rel=0.05)
    assert data["config"]["attention_sinks"] is True and data["config"]["n_experts"] == 16


def test_bad_match_params_flag_names_the_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["show", "gpt2-small", "--match-params", "lots"])
    assert exc.value.code == 2
    assert "argument --match-params" in capsys.readouterr().err


def test_run_records_the_target_in_every_proxy_row(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "qwen3-0.6b", "--probes", "flop_check", "--match-params", "300k", "--out", str(out),
                 "--no-report"]) == 0  # fmt: skip
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert rows and all(r["settings.match_params"] == 300_000 and r["status"] == "ok" for r in rows)
    assert json.loads((out / "run.json").read_text())["args"]["match_params"] == 300_000


def test_suite_file_match_params_is_type_checked(tmp_path):
    from suite.run.suite_file import load_suite

    path = tmp_path / "s.yaml"
    path.write_text("variants: [gpt2-small]\nprobes: [{probe: analytic}]\nmatch_params: 1.5\n")
    with pytest.raises(ConfigError, match=r"field 'match_params': a parameter count is a whole number"):
        load_suite(str(path))
    path.write_text("variants: [gpt2-small]\nprobes: [{probe: analytic}]\nmatch_params: 400000\n")
    assert load_suite(str(path)).match_params == 400_000
