"""Property-based tests of the variant config validator (`suite.config.ModelConfig`).

(a) Hostile: a few fields of a small valid config are overridden with values that look valid or are
    plainly wrong (NaN, inf, 10**30, 10**400, negative, zero, strings, lists, mappings, booleans,
    None). `ModelConfig.from_dict` must either return a config whose numbers are all finite, or
    raise `ConfigError` naming a field; no other exception may escape.
(b) Valid: small proxy configs mixing every component kind. Whatever the validator accepts must
    build, run a finite forward pass of the right shape, and have exactly the analytic parameter
    count. At least half of the drawn configs must be accepted, so the strategy stays meaningful.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing

import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from suite import components
from suite.analytic.params import count_params
from suite.config import ConfigError, ModelConfig
from suite.fields import RANGES
from suite.model.decoder import build_model
from suite.registry import SCALES, proxy

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, database=None)

FIELDS = [f.name for f in dataclasses.fields(ModelConfig)]
HINTS = typing.get_type_hints(ModelConfig)
REGISTRY_KEYS = {r.config_field: r.keys() for r in components.ALL}  # component fields and their keys

BASE = {"name": "prop-base", "vocab_size": 64, "d_model": 32, "n_layers": 2, "n_heads": 4, "context_length": 32}
# small valid bases, so that overrides also reach the rules between fields (MoE, MLA, mixers)
BASES = [
    BASE,
    {**BASE, "attention": "gqa", "n_kv_heads": 2, "position": "rope", "rope_scaling": "yarn", "rope_factor": 4.0,
     "rope_original_context": 16, "n_experts": 4, "experts_top_k": 2, "n_shared_experts": 1,
     "shared_expert_gate": True, "router": "sigmoid", "router_groups": 2, "router_topk_groups": 1},
    {**BASE, "attention": "mla", "position": "rope", "kv_lora_rank": 8, "q_lora_rank": 8, "qk_nope_head_dim": 4,
     "qk_rope_head_dim": 4, "v_head_dim": 4},
    {**BASE, "n_layers": 4, "layer_types": ["sliding", "gated_deltanet", "mamba2", "short_conv"], "sliding_window": 4,
     "linear_k_heads": 1, "linear_v_heads": 2, "linear_k_head_dim": 4, "linear_v_head_dim": 4, "ssm_heads": 2,
     "ssm_head_dim": 4, "ssm_state_size": 4, "ssm_groups": 2},
]  # fmt: skip


def _kind(tp) -> tuple[str, bool]:
    """(scalar kind, None allowed) of a field annotation."""
    args = typing.get_args(tp)
    optional = typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args
    if optional:
        tp = next(a for a in args if a is not type(None))
    if typing.get_origin(tp) is tuple:
        return "tuple", optional
    return {bool: "bool", int: "int", float: "float", str: "str"}[tp], optional


# ------------------------------------------------------------------ (a) hostile strategy
HOSTILE = st.one_of(
    st.sampled_from(
        [
            float("nan"),
            float("inf"),
            float("-inf"),
            10**30,
            -(10**30),
            10**400,  # a YAML integer literal that no float can hold
            2**63,
            -1,
            0,
            -0.0,
            0.5,
            5e-324,
            1e308,
            "",
            "12",
            "nan",
            "full",
            "x" * 10_001,
            [],
            [1, 2],
            ["full", "full"],
            ["full", 3],
            {},
            {"a": 1},
            True,
            False,
            None,
            ("full",),
        ]
    ),
    st.floats(),  # any float, NaN and infinities included
    st.integers(min_value=-(10**6), max_value=10**40),
    st.text(max_size=6),
)


def _valid_looking(name: str) -> st.SearchStrategy:
    kind, optional = _kind(HINTS[name])
    if name in REGISTRY_KEYS and kind == "str":
        values = st.sampled_from(REGISTRY_KEYS[name])
    elif kind == "tuple":
        values = st.lists(st.sampled_from(REGISTRY_KEYS["layer_types"] + ("unknown",)), max_size=4)
    elif kind == "bool":
        values = st.booleans()
    elif kind == "str":
        values = st.text(alphabet="abcXYZ019-_. /:+@", max_size=12)
    elif name in RANGES:
        lo, _, hi = RANGES[name]
        if kind == "int":
            values = st.integers(int(lo), int(min(hi, 64))) | st.sampled_from(
                [int(lo) - 1, int(lo), int(hi), int(hi) + 1]
            )
        else:
            edges = [lo, hi, math.nextafter(lo, math.inf), math.nextafter(hi, math.inf), hi * 10]
            values = st.floats(lo, hi, allow_nan=False) | st.sampled_from(edges)
    else:
        values = st.integers(-2, 64) if kind == "int" else st.floats(-2.0, 64.0)
    return values | st.none() if optional else values


FIELD_VALUES = {name: _valid_looking(name) | HOSTILE for name in FIELDS}


NO_KEY = object()


@st.composite
def hostile_dicts(draw) -> dict:
    names = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4, unique=True))
    data = dict(draw(st.sampled_from(BASES)))
    for name in names:
        data[name] = draw(FIELD_VALUES[name])
    # now and then a key that is no field: a typo, or what YAML makes of `yes:`, `1:` or `~:`
    extra = draw(st.sampled_from([NO_KEY] * 12 + ["n_layer", "", True, 1, None]))
    if extra is not NO_KEY:
        data[extra] = 1
    return data


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@SETTINGS
@given(hostile_dicts())
@example({**BASE, "n_layers": 10**400})  # an integer no float can hold: OverflowError, not ConfigError
@example({**BASE, True: 1})  # YAML reads `yes:` / `on:` as True: TypeError in the "did you mean" hint
def test_from_dict_accepts_or_raises_config_error(data):
    try:
        cfg = ModelConfig.from_dict(data)
    except ConfigError as exc:
        assert exc.field is not None, f"the error names no field: {exc}"
        assert str(exc)
        return
    assert isinstance(cfg, ModelConfig)
    for name in FIELDS:
        value = getattr(cfg, name)
        if _is_number(value):
            assert math.isfinite(value), f"{name} = {value!r} was accepted"
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg  # what it accepted it accepts again, unchanged
    assert count_params(cfg)["total"] > 0  # pure arithmetic: any accepted config, at any size


@pytest.mark.parametrize("base", BASES, ids=["dense", "moe", "mla", "mixers"])
def test_bases_are_valid(base):
    ModelConfig.from_dict(base)


@SETTINGS
@given(hostile_dicts())
@example({**BASE, "norm": ["rmsnorm"]})  # unhashable: TypeError from the registry lookup, before the type check
def test_direct_construction_accepts_or_raises_config_error(data):
    """`ModelConfig(...)` and `cfg.replace(...)` skip from_dict's type check; `validate` promises to do
    it itself ("never a TypeError later")."""
    kwargs = {key: value for key, value in data.items() if key in FIELDS}  # other keys: Python's own TypeError
    try:
        cfg = ModelConfig(**kwargs)
    except ConfigError:
        return
    for name in FIELDS:
        value = getattr(cfg, name)
        if _is_number(value):
            assert math.isfinite(value), f"{name} = {value!r} was accepted"


# ------------------------------------------------------------------ (b) valid small configs
@st.composite
def valid_config_dicts(draw) -> dict:
    d_model = draw(st.sampled_from([16, 32, 48, 64]))
    n_layers = draw(st.integers(1, 3))
    n_heads = draw(st.sampled_from([h for h in (1, 2, 3, 4, 6, 8) if d_model % h == 0 and d_model // h >= 4]))
    attention = draw(st.sampled_from(["mha", "mqa", "gqa", "mla"]))
    d = {
        "name": "prop-valid",
        "vocab_size": draw(st.integers(8, 128)),
        "d_model": d_model,
        "n_layers": n_layers,
        "n_heads": n_heads,
        "context_length": draw(st.integers(8, 64)),
        "attention": attention,
        "attention_backend": draw(st.sampled_from(["sdpa", "eager"])),
        "norm": draw(st.sampled_from(["layernorm", "rmsnorm"])),
        "norm_placement": draw(st.sampled_from(["pre", "post", "sandwich"])),
        "norm_bias": draw(st.booleans()),
        "mlp": draw(st.sampled_from(["gelu", "swiglu", "geglu"])),
        "gelu_approximation": draw(st.sampled_from(["tanh", "none"])),
        "mlp_bias": draw(st.booleans()),
        "qkv_bias": draw(st.booleans()),
        "out_bias": draw(st.booleans()),
        "attention_sinks": draw(st.booleans()),
        "tie_embeddings": draw(st.booleans()),
        "scale_embeddings": draw(st.booleans()),
    }
    if draw(st.booleans()):
        d["mlp_hidden"] = draw(st.integers(4, 96))
    if d["mlp"] == "swiglu" and draw(st.booleans()):
        d["swiglu_limit"] = draw(st.sampled_from([1.0, 7.0]))
    if draw(st.booleans()):
        d["attn_softcap"] = draw(st.sampled_from([5.0, 30.0, 50.0]))
    if draw(st.booleans()):
        d["final_logit_softcap"] = draw(st.sampled_from([10.0, 30.0]))

    # attention kind
    if attention == "mqa":
        d["n_kv_heads"] = 1
    elif attention == "gqa":
        d["n_kv_heads"] = draw(st.sampled_from([k for k in range(1, n_heads + 1) if n_heads % k == 0]))
    elif attention == "mha" and draw(st.booleans()):
        d["n_kv_heads"] = n_heads
    if attention == "mla":
        d["position"] = "rope"
        d["kv_lora_rank"] = draw(st.integers(2, 16))
        d["qk_nope_head_dim"] = draw(st.integers(1, 8))
        d["qk_rope_head_dim"] = draw(st.integers(2, 8))
        d["v_head_dim"] = draw(st.integers(1, 8))
        if draw(st.booleans()):
            d["q_lora_rank"] = draw(st.integers(2, 16))
    else:
        d["position"] = draw(st.sampled_from(["learned", "rope", "none"]))
        d["qk_norm"] = draw(st.sampled_from(["none", "head", "full"]))
        d["attn_output_gate"] = draw(st.booleans())
        if draw(st.integers(0, 3)) == 0:
            d["head_dim"] = draw(st.sampled_from([4, 6, 8, 16]))
    if d["position"] == "rope":
        d["rope_theta"] = draw(st.sampled_from([10000.0, 500000.0]))
        d["rope_interleaved"] = draw(st.booleans())
        if attention != "mla":
            d["rope_fraction"] = draw(st.sampled_from([1.0, 0.5]))
        scaling = draw(st.sampled_from(["none", "linear", "llama3", "yarn"]))
        d["rope_scaling"] = scaling
        if scaling != "none":
            d["rope_factor"] = draw(st.sampled_from([2.0, 4.0]))
        if scaling in ("llama3", "yarn"):
            d["rope_original_context"] = draw(st.sampled_from([c for c in (4, 16) if c <= d["context_length"]]))
        if scaling == "llama3":
            d["rope_low_freq_factor"] = draw(st.sampled_from([1.0, 2.0]))
            d["rope_high_freq_factor"] = draw(st.sampled_from([4.0, 8.0]))
        if scaling == "yarn":
            d["rope_beta_fast"] = draw(st.sampled_from([32.0, 8.0, 1.0]))
            d["rope_beta_slow"] = draw(st.sampled_from([1.0, d["rope_beta_fast"]]))
            d["rope_truncate"] = draw(st.booleans())
            if draw(st.booleans()):
                d["rope_mscale"] = draw(st.sampled_from([0.707, 1.0]))
                d["rope_mscale_all_dim"] = draw(st.sampled_from([0.0, 0.707, 1.0]))

    # layer types: full / sliding attention and the three mixers
    if draw(st.booleans()):
        kinds = draw(
            st.lists(
                st.sampled_from(["full", "sliding", "gated_deltanet", "mamba2", "short_conv", "gla"]),
                min_size=n_layers,
                max_size=n_layers,
            )
        )
        d["layer_types"] = kinds
        if "sliding" in kinds:
            d["sliding_window"] = draw(st.integers(1, 8))
            if d["position"] == "rope" and draw(st.booleans()):
                d["rope_theta_local"] = 10000.0
        if "gated_deltanet" in kinds or "gla" in kinds:
            k_heads = draw(st.integers(1, 2))
            d["linear_k_heads"] = k_heads
            # GLA has one head count for keys and values; Gated DeltaNet may have more value heads
            d["linear_v_heads"] = k_heads * (1 if "gla" in kinds else draw(st.integers(1, 2)))
            d["linear_k_head_dim"] = draw(st.integers(2, 8))
            d["linear_v_head_dim"] = draw(st.integers(2, 8))
        if "mamba2" in kinds:
            ssm_heads = draw(st.integers(1, 4))
            d["ssm_heads"] = ssm_heads
            d["ssm_head_dim"] = draw(st.integers(2, 8))
            d["ssm_state_size"] = draw(st.integers(2, 8))
            d["ssm_groups"] = draw(st.sampled_from([g for g in range(1, ssm_heads + 1) if ssm_heads % g == 0]))
            d["ssm_conv_bias"] = draw(st.booleans())
            d["ssm_bias"] = draw(st.booleans())
        if "short_conv" in kinds:
            d["mixer_bias"] = draw(st.booleans())
        if set(kinds) & {"gated_deltanet", "mamba2", "short_conv", "gla"}:
            d["mixer_conv_kernel"] = draw(st.integers(1, 4))
            d["mixer_chunk_size"] = draw(st.sampled_from([1, 3, 4, 64]))

    # mixture of experts
    if draw(st.booleans()):
        n_experts = draw(st.integers(2, 4))
        d["n_experts"] = n_experts
        d["experts_top_k"] = draw(st.integers(1, n_experts))
        d["n_shared_experts"] = draw(st.integers(0, 1))
        d["shared_expert_gate"] = bool(d["n_shared_experts"]) and draw(st.booleans())
        d["router"] = draw(st.sampled_from(["softmax_topk", "topk_softmax", "sigmoid"]))
        d["router_bias"] = draw(st.booleans())
        d["router_norm_topk"] = draw(st.booleans())
        d["router_scale"] = draw(st.sampled_from([1.0, 2.5]))
        d["moe_dense_first"] = draw(st.integers(0, n_layers - 1))
        if draw(st.booleans()):
            d["expert_hidden"] = draw(st.integers(4, 32))
        if d["router"] == "sigmoid" and draw(st.booleans()):
            groups = draw(st.sampled_from([g for g in range(1, n_experts + 1) if n_experts % g == 0]))
            d["router_groups"] = groups
            d["router_topk_groups"] = draw(st.integers(1, groups))
            d["experts_top_k"] = min(d["experts_top_k"], d["router_topk_groups"] * (n_experts // groups))
    return d


# accepted by the validator, but the forward pass fails (found by this strategy; kept as explicit examples)
MLA_ODD_ROPE = {**BASE, "n_layers": 1, "attention": "mla", "position": "rope", "kv_lora_rank": 2,
                "qk_nope_head_dim": 1, "qk_rope_head_dim": 3, "v_head_dim": 1}  # fmt: skip
SIGMOID_GROUPS_OF_ONE = {**BASE, "n_layers": 1, "n_experts": 2, "experts_top_k": 1, "router": "sigmoid",
                         "router_groups": 2, "router_topk_groups": 1}  # fmt: skip


def test_valid_configs_build_run_and_count():
    seen = {"accepted": 0, "refused": []}

    @SETTINGS
    @given(valid_config_dicts())
    @example(MLA_ODD_ROPE)
    @example(SIGMOID_GROUPS_OF_ONE)
    def check(data):
        try:
            cfg = ModelConfig.from_dict(data)
        except ConfigError as exc:
            seen["refused"].append(str(exc))
            return
        seen["accepted"] += 1
        model = build_model(cfg).eval()
        idx = torch.randint(0, cfg.vocab_size, (2, 7), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            logits = model(idx)
        assert logits.shape == (2, 7, cfg.vocab_size)
        assert torch.isfinite(logits).all()
        assert count_params(cfg)["total"] == sum(p.numel() for p in model.parameters())

    check()
    total = seen["accepted"] + len(seen["refused"])
    assert seen["accepted"] * 2 >= total, (
        f"only {seen['accepted']} of {total} drawn configs were accepted; refusals: {seen['refused'][:5]}"
    )


# ------------------------------------------------------------------ (c) the proxy rule
KEY_FIELDS = [r.config_field for r in components.ALL if r.config_field != "layer_types"]


def _check_proxy(cfg: ModelConfig) -> None:
    """Whatever the validator accepts, `proxy` scales to a valid config that keeps every component key,
    every layer kind and MoE on/off, or refuses with a ConfigError (never another exception)."""
    for scale in SCALES:
        try:
            small = proxy(cfg, scale)
        except ConfigError as exc:  # the one refusal of the rule: a layer pattern that never repeats
            assert exc.field == "layer_types" and "no pattern shorter than" in exc.reason, str(exc)
            continue
        assert small.d_model == SCALES[scale]["d_model"]
        assert {k: getattr(small, k) for k in KEY_FIELDS} == {k: getattr(cfg, k) for k in KEY_FIELDS}
        assert set(small.layer_kinds) == set(cfg.layer_kinds), (cfg.layer_kinds, small.layer_kinds)
        assert small.is_moe == cfg.is_moe


# the proxy kept one dense layer, and so dropped the mamba2 layer of the dense prefix
DENSE_PREFIX_KIND = {**BASE, "n_layers": 4, "layer_types": ["sliding", "mamba2", "full", "full"], "sliding_window": 8,
                     "ssm_heads": 2, "ssm_head_dim": 4, "ssm_state_size": 4, "n_experts": 4, "experts_top_k": 2,
                     "moe_dense_first": 2}  # fmt: skip


@SETTINGS
@given(st.one_of(valid_config_dicts(), hostile_dicts()))
@example(DENSE_PREFIX_KIND)
def test_the_proxy_of_any_accepted_config_is_valid_and_keeps_its_components(data):
    try:
        cfg = ModelConfig.from_dict(data)
    except ConfigError:
        return
    _check_proxy(cfg)
