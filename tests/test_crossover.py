"""Where linear mixers pay (`suite.analytic.crossover`): the all-attention twin, the context L* from
which a hybrid is cheaper, and how `archbench show` and the report surface it. The expected L* values
are derived by hand from the published Qwen3-Next sizes, not from the cost code."""

import dataclasses
import json

import pandas as pd
import pytest

from suite.analytic import costs, crossover
from suite.analytic.crossover import _first_true, attention_twin
from suite.analytic.params import count_params
from suite.config import IDENTITY_FIELDS, ConfigError, ModelConfig
from suite.registry import Registry
from suite.report.figures import Figures
from suite.report.inspect import render_show, show_data
from suite.report.scaling import section_scaling

REGISTRY = Registry()
QWEN3_NEXT = REGISTRY.get("qwen3-next-80b-a3b")

# Qwen3-Next, by hand: d 2048; 16 query heads and 2 KV heads of 256 (the query projection also makes
# the output gate); Gated DeltaNet 16 key heads and 32 value heads of 128, conv kernel 4.
ATTENTION_PROJ = 2048 * 16 * 256 * 2 + 2 * 2048 * 2 * 256 + 16 * 256 * 2048  # q+gate, k, v, o
ATTENTION_PARAMS = ATTENTION_PROJ + 2 * 256  # + per-head QK-norm weights
GDN_PROJ = 2048 * (2 * 2048 + 2 * 4096) + 2048 * 2 * 32 + 4096 * 2048  # qkvz, ba (2 per value head), out
GDN_PARAMS = GDN_PROJ + (2 * 2048 + 4096) * 4 + 2 * 32 + 128  # + conv, A_log and dt_bias, gated norm
GDN_TOKEN_FLOPS = 2 * GDN_PROJ + 2 * (2 * 2048 + 4096) * 4 + 6 * 32 * 128 * 128  # projections, conv, step
SCORE_FLOPS_PER_KEY = 2 * 16 * (256 + 256)  # QK^T and AV, 16 heads
GDN_STATE_BYTES = 32 * 128 * 128 * 4 + (2 * 2048 + 4096) * 3 * 2  # fp32 state + bf16 conv tail
KV_BYTES_PER_TOKEN = 2 * 2 * 256 * 2  # K and V, 2 KV heads of 256, bf16


def _without_identity(cfg: ModelConfig) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k not in IDENTITY_FIELDS}


# ------------------------------------------------------------------ the twin
def test_twin_of_qwen3_next_equals_a_hand_built_all_attention_config():
    hand = ModelConfig(
        **{
            **_without_identity(QWEN3_NEXT),
            "layer_types": None,
            "linear_k_heads": None,
            "linear_v_heads": None,
            "linear_k_head_dim": None,
            "linear_v_head_dim": None,
        }
    )
    twin = attention_twin(QWEN3_NEXT)
    assert _without_identity(twin) == _without_identity(hand)
    assert count_params(twin) == count_params(hand)
    # 36 Gated DeltaNet layers become gated attention: the published total minus the difference
    assert count_params(twin)["total"] == 79_674_391_296 - 36 * (GDN_PARAMS - ATTENTION_PARAMS) == 79_442_012_160
    assert twin.name == "qwen3-next-80b-a3b@all-attention"


@pytest.mark.parametrize("mixer", ["gated-deltanet", "mamba2", "gla", "short-conv"])
def test_twin_of_an_all_mixer_rung_is_the_ladders_attention_start(mixer):
    """mixers/<mixer>-all is mixers/attention with every layer a mixer (short conv: a smaller MLP too)."""
    hybrid = REGISTRY.get(f"mixers/{mixer}-all")
    start = REGISTRY.get("mixers/attention").replace(mlp_hidden=hybrid.mlp_hidden)
    twin = attention_twin(hybrid)
    assert _without_identity(twin) == _without_identity(start)
    assert count_params(twin)["total"] == count_params(start)["total"]
    defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    assert {f: getattr(twin, f) for f in crossover.mixer_fields()} == {f: defaults[f] for f in crossover.mixer_fields()}


def test_twin_keeps_sliding_layers():
    cfg = REGISTRY.get("mixers/gated-deltanet-3of4")
    kinds = ["sliding" if k == "full" else k for k in cfg.layer_kinds]
    twin = attention_twin(cfg.replace(layer_types=kinds, sliding_window=128))
    assert twin.layer_types == tuple("sliding" if k == "sliding" else "full" for k in kinds)
    assert twin.sliding_window == 128


# --------------------------------------------------------------------- L*
def test_qwen3_next_crossings_match_the_hand_derivation():
    # decode at context L: a mixer slot's fixed per-token work against projections + L keys of scores
    decode = (GDN_TOKEN_FLOPS - 2 * ATTENTION_PROJ) // SCORE_FLOPS_PER_KEY + 1
    # prefill of L tokens: L x the same fixed difference against L(L+1)/2 scored pairs
    prefill = 2 * (GDN_TOKEN_FLOPS - 2 * ATTENTION_PROJ) // SCORE_FLOPS_PER_KEY
    cache = GDN_STATE_BYTES // KV_BYTES_PER_TOKEN + 1
    found = {k: crossover.crossover(QWEN3_NEXT, k).context for k in crossover.COSTS}
    assert found == {"decode_flops": decode, "prefill_flops": prefill, "cache_bytes": cache}
    assert found == {"decode_flops": 981, "prefill_flops": 1960, "cache_bytes": 1049}


@pytest.mark.parametrize("cost", list(crossover.COSTS))
def test_qwen3_next_costs_cross_exactly_at_l_star(cost):
    twin = attention_twin(QWEN3_NEXT)
    found = crossover.crossover(QWEN3_NEXT, cost)
    L = found.context
    assert L is not None and 1 < L < QWEN3_NEXT.context_length, found.reason
    assert crossover.cost_at(QWEN3_NEXT, cost, L - 1) >= crossover.cost_at(twin, cost, L - 1)
    assert crossover.cost_at(QWEN3_NEXT, cost, L) < crossover.cost_at(twin, cost, L)
    assert f"from {L:,} on" in found.reason
    curves = crossover.series(QWEN3_NEXT)  # and it stays cheaper up to the context length
    later = [i for i, x in enumerate(curves["contexts"]) if x >= L]
    assert all(curves["hybrid"][cost][i] < curves["twin"][cost][i] for i in later)
    assert all(curves["hybrid"][cost][i] >= curves["twin"][cost][i] for i in range(later[0]))
    # at its 256K context the hybrid pays about a quarter to a third of the twin
    assert 0.2 < found.ratio < 0.35
    assert found.hybrid == crossover.cost_at(QWEN3_NEXT, cost, QWEN3_NEXT.context_length)


def test_cost_definitions_are_the_cost_models():
    L = 4096
    assert crossover.cost_at(QWEN3_NEXT, "decode_flops", L) == costs.total(costs.decode_flops(QWEN3_NEXT, L - 1))
    assert crossover.cost_at(QWEN3_NEXT, "prefill_flops", L) == costs.total(costs.prefill_flops(QWEN3_NEXT, L))
    assert crossover.cost_at(QWEN3_NEXT, "cache_bytes", L) == costs.kv_cache_bytes(QWEN3_NEXT, L)
    with pytest.raises(ConfigError, match="unknown cost 'time'; choose one of: prefill_flops, decode_flops"):
        crossover.cost_at(QWEN3_NEXT, "time", L)


def test_never_within_the_context_says_why():
    short = QWEN3_NEXT.replace(context_length=512)
    for cost in crossover.COSTS:
        found = crossover.crossover(short, cost)
        assert found.context is None
        assert found.reason.startswith("never within the context length (512 tokens)")
        assert found.ratio > 1
    # LFM2's short conv has bigger projections than GQA: its prefill never pays within 1K tokens
    prefill = crossover.crossover(REGISTRY.get("mixers/short-conv-all"), "prefill_flops")
    assert prefill.context is None and "projections" in prefill.reason
    plain = crossover.crossover(REGISTRY.get("qwen3-0.6b"), "decode_flops")
    assert plain.context is None and plain.reason.startswith("no mixer layers")


@pytest.mark.parametrize("top", [1, 2, 3, 7, 64, 100, 1000])
def test_bisection_finds_the_first_length(top):
    for threshold in range(1, top + 3):
        assert _first_true(lambda L, t=threshold: L >= t, top) == (threshold if threshold <= top else None)


def test_pure_mixer_state_and_decode_cost_do_not_grow():
    cfg = REGISTRY.get("mixers/gated-deltanet-all")  # 12 layers, 3 heads of 128, conv kernel 4
    curves = crossover.series(cfg)
    assert curves["contexts"] == [2**i for i in range(11)]
    state = 12 * (3 * 128 * 128 * 4 + (2 * 384 + 384) * 3 * 2)
    assert curves["hybrid"]["cache_bytes"] == [state] * 11
    assert len(set(curves["hybrid"]["decode_flops"])) == 1
    twin_cache = curves["twin"]["cache_bytes"]
    assert twin_cache[-1] == 1024 * twin_cache[0]  # the twin's KV cache grows with every token
    # the twin: GQA with 3 KV heads of 64, bf16: 768 bytes per token and layer
    assert crossover.crossover(cfg, "cache_bytes").context == state // (12 * 2 * 3 * 64 * 2) + 1 == 266


# ------------------------------------------------------------ show and report
def test_show_has_a_crossover_section_for_mixer_variants_only(capsys):
    data = show_data("qwen3-next-80b-a3b")
    cross = json.loads(json.dumps(data["crossover"]))  # what --json prints
    assert cross["twin"] == {
        "name": "qwen3-next-80b-a3b@all-attention",
        "params_total": 79_442_012_160,
        "params_active": count_params(attention_twin(QWEN3_NEXT))["active"],
    }
    assert {k: v["from_context"] for k, v in cross["costs"].items()} == {
        "prefill_flops": 1960,
        "decode_flops": 981,
        "cache_bytes": 1049,
    }
    assert cross["context"] == 262_144 and cross["mixer_layers"] == 36
    assert "crossover" not in show_data("qwen3-0.6b")
    render_show(data)
    text = capsys.readouterr().out
    assert "where the 36 mixer layers pay" in text and "1,049" in text and "never" not in text


def test_report_draws_the_crossover_for_mixer_variants():
    df = pd.DataFrame(
        [
            dict(variant=v, metric="params_total", value=1.0, status="ok", unit="count")
            for v in ("qwen3-next-80b-a3b", "qwen3-0.6b", "not-in-registry")
        ]
    )
    section = section_scaling(df, Figures(), {}, REGISTRY)
    assert [f.title for f in section.figures] == ["qwen3-next-80b-a3b: where its mixer layers pay"]
    figure = json.loads(section.figures[0].json)
    marks = [t for t in figure["data"] if t["name"] == "cheaper from"]
    assert [m["x"] for m in marks] == [[981], [1049]]
    hybrid = [t for t in figure["data"] if t["name"] == "qwen3-next-80b-a3b"]
    assert hybrid[0]["x"][-1] == 262_144 and figure["layout"]["xaxis"]["type"] == "log"
    assert not section_scaling(df, Figures(), {}).figures  # without a registry: no configs, no figure
