"""Hostile variant and suite files: every value that cannot be right is refused (exit 2) with the
file and the field named; edge values that can be right are accepted."""

from __future__ import annotations

import os

import pytest
from hostile import assert_accepted, assert_rejected, cli, snapshot

from suite.fields import RANGES

BASE = "qwen3-0.6b"  # a published variant every case derives from (its fields are all valid)
INT_FIELDS = {name for name, (lo, _, hi) in RANGES.items() if float(lo).is_integer() and float(hi).is_integer()}
INT_FIELDS -= {"norm_eps", "rope_fraction", "dropout"}
FLOAT_FIELDS = set(RANGES) - INT_FIELDS


def _below(name):
    lo, inclusive, _ = RANGES[name]
    return lo - 1 if inclusive else lo


def _above(name):
    _, _, hi = RANGES[name]
    return hi + 1 if name in INT_FIELDS else hi * 10


def _yaml_value(value):
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return "-.inf" if value < 0 else ".inf"
        return repr(value)
    return str(value)


# ------------------------------------------------------------------ numeric fields
_numeric = []
for _name in sorted(RANGES):
    for _label, _value in [
        ("nan", float("nan")),
        ("inf", float("inf")),
        ("-inf", float("-inf")),
        ("below", _below(_name)),
        ("above", _above(_name)),
    ]:
        _numeric.append(pytest.param(_name, _yaml_value(_value), id=f"{_name}={_label}"))
    _numeric.append(pytest.param(_name, '"12"', id=f"{_name}=string"))
for _name in ("d_model", "n_layers", "norm_eps", "rope_theta", "n_experts", "sliding_window"):
    for _label, _text in [("list", "[1, 2]"), ("mapping", "{a: 1}"), ("bool", "true")]:
        _numeric.append(pytest.param(_name, _text, id=f"{_name}={_label}"))

# structural rules between fields
_relations = [
    pytest.param({"n_kv_heads": 3}, "n_kv_heads", id="kv-heads-not-dividing"),
    pytest.param({"attention": "mha"}, "attention", id="mha-with-fewer-kv-heads"),
    pytest.param({"n_experts": 8, "experts_top_k": 9}, "experts_top_k", id="top-k-above-experts"),
    pytest.param({"n_experts": 8, "experts_top_k": 2, "router_groups": 3}, "router_groups", id="groups-not-dividing"),
    pytest.param({"n_experts": 0, "n_shared_experts": 2}, "n_shared_experts", id="shared-on-dense"),
    pytest.param({"layer_types": ["full", "sliding"]}, "layer_types", id="layer-types-length"),
    pytest.param({"layer_types": ["full"] * 27 + ["linear"]}, "layer_types", id="layer-type-unknown"),
    pytest.param({"layer_types": ["full"] * 27 + ["gated_deltanet"]}, "linear_k_heads", id="mixer-without-sizes"),
    pytest.param({"linear_k_heads": 4}, "linear_k_heads", id="mixer-size-unused"),
    pytest.param({"shared_expert_gate": True}, "shared_expert_gate", id="gate-without-shared"),
    pytest.param({"rope_scaling": "yarn"}, "rope_original_context", id="yarn-without-original"),
    pytest.param({"base": "gpt2-small", "rope_interleaved": True}, "rope_interleaved", id="interleave-without-rope"),
    pytest.param({"swiglu_limit": 7.0, "mlp": "gelu"}, "swiglu_limit", id="limit-on-gelu"),
    pytest.param({"norm": "batchnorm"}, "norm", id="unknown-norm"),
    pytest.param({"attention": "flash"}, "attention", id="unknown-attention"),
    pytest.param({"d_model_": 5}, "d_model_", id="unknown-field"),
    pytest.param({"description": "x" * 10_001}, "description", id="description-100k"),
    pytest.param({"name": "other"}, "name", id="name-field-set"),
    pytest.param({"base": 3}, "base", id="base-not-a-string"),
    pytest.param({"base": "no-such-variant"}, "base", id="base-unknown"),
]

_accepted = [
    pytest.param({"rope_theta": 1e12}, id="rope-theta-max"),
    pytest.param({"norm_eps": 1.0}, id="eps-max"),
    pytest.param({"dropout": 0.5}, id="dropout-half"),
    pytest.param({"n_layers": 2000, "description": "d" * 10_000}, id="many-layers-long-description"),
    pytest.param({"description": "[link=file:///etc/passwd]x[/] <script>alert(1)</script>"}, id="markup-description"),
    pytest.param({"attn_softcap": 50.0, "final_logit_softcap": 30.0}, id="softcaps"),
    pytest.param({"context_length": 2**31 - 1}, id="context-max"),
]

# names
_names = [
    pytest.param('""', id="empty"),
    pytest.param("null", id="null"),
    pytest.param("yes", id="yes-boolean"),
    pytest.param("12", id="integer"),
    pytest.param('"a\\nb"', id="newline"),
    pytest.param('"../escape"', id="dot-dot"),
    pytest.param('"[/]"', id="rich-close-tag"),
    pytest.param('"[link=file:///etc/passwd]x"', id="rich-link"),
    pytest.param('"<script>alert(1)</script>"', id="html"),
    pytest.param('"=HYPERLINK(1)"', id="formula"),
    pytest.param('"' + "n" * 201 + '"', id="too-long"),
    pytest.param('".hidden"', id="leading-dot"),
    pytest.param('"a//b"', id="empty-part"),
    pytest.param('"tab\\there"', id="tab"),
]

CASES = _numeric + _relations + _accepted + _names


def _registry(tmp_path, text: str, name: str = "variants.yaml"):
    folder = tmp_path / "reg"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    return folder


def _variant(fields: dict) -> str:
    """A variant YAML (JSON values are YAML flow values) deriving from BASE unless it sets its own base."""
    import json

    lines = ["hostile:"] + ([] if "base" in fields else [f"  base: {BASE}"])
    lines += [f"  {key}: {json.dumps(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.hostile
@pytest.mark.parametrize("field, text", _numeric)
def test_numeric_field_out_of_range_is_refused(tmp_path, field, text):
    folder = _registry(tmp_path, f"hostile:\n  base: {BASE}\n  {field}: {text}\n")
    before = snapshot(folder)
    assert_rejected(cli("show", "hostile", "--registry", folder), "variants.yaml", f"field '{field}'")
    assert snapshot(folder) == before


@pytest.mark.hostile
@pytest.mark.parametrize("fields, field", _relations)
def test_fields_that_contradict_are_refused(tmp_path, fields, field):
    folder = _registry(tmp_path, _variant(fields))
    assert_rejected(cli("show", "hostile", "--registry", folder), "variants.yaml", field)


@pytest.mark.hostile
@pytest.mark.parametrize("fields", _accepted)
def test_edge_values_that_can_be_right_are_accepted(tmp_path, fields):
    folder = _registry(tmp_path, _variant(fields))
    o = cli("show", "hostile", "--registry", folder)
    assert_accepted(o)
    assert "hostile" in o.out


@pytest.mark.hostile
@pytest.mark.parametrize("name", _names)
def test_bad_variant_names_are_refused_for_the_whole_registry(tmp_path, name):
    folder = _registry(tmp_path, f"{name}:\n  base: {BASE}\n")
    assert_rejected(cli("list", "--registry", folder), "variants.yaml", "name")


# ------------------------------------------------------------------ file faults
def _bomb() -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, cur in zip("abcdefghi", "bcdefghij"):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


FILE_FAULTS = {
    "duplicate-variant-key": (f"v:\n  base: {BASE}\nv:\n  base: {BASE}\n", "duplicate key 'v'"),
    "duplicate-field-key": (f"v:\n  base: {BASE}\n  d_model: 64\n  d_model: 128\n", "duplicate key 'd_model'"),
    "billion-laughs": (_bomb(), "YAML bomb"),
    "deep-nesting": ("v: " + "[" * 5000 + "]" * 5000 + "\n", "nest"),
    "syntax": ("v:\n  d_model: [1, 2\n", "YAML syntax error at line"),
    "top-level-list": ("- a\n- b\n", "expected a mapping of variant names"),
    "body-not-mapping": ("v: 3\n", "expected a mapping of fields"),
    "python-tag": ("v: !!python/object/apply:os.system ['true']\n", "python/object"),
    "tab-indent": ("v:\n\tbase: x\n", "YAML syntax error"),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(FILE_FAULTS))
def test_broken_variant_files_name_the_file(tmp_path, case):
    text, needle = FILE_FAULTS[case]
    folder = _registry(tmp_path, text)
    assert_rejected(cli("list", "--registry", folder), "variants.yaml", needle)


@pytest.mark.hostile
def test_binary_and_non_utf8_files(tmp_path):
    folder = _registry(tmp_path, "")
    (folder / "variants.yaml").write_bytes(b"v:\n  description: \xff\xfe\n")
    assert_rejected(cli("list", "--registry", folder), "variants.yaml", "not UTF-8")
    (folder / "variants.yaml").write_bytes(bytes(range(256)) * 4)
    assert_rejected(cli("list", "--registry", folder), "variants.yaml", "not UTF-8")


@pytest.mark.hostile
def test_a_folder_named_like_a_yaml_file_and_a_symlink_loop(tmp_path):
    folder = tmp_path / "reg"
    (folder / "x.yaml").mkdir(parents=True)
    assert_rejected(cli("list", "--registry", folder), "x.yaml", "is a directory")
    (folder / "x.yaml").rmdir()
    os.symlink(folder / "loop.yaml", folder / "loop.yaml")
    assert_rejected(cli("list", "--registry", folder), "loop.yaml", "symbolic link loop")


@pytest.mark.hostile
def test_unreadable_file(tmp_path, monkeypatch):
    folder = _registry(tmp_path, f"v:\n  base: {BASE}\n")
    real_open = open

    def deny(path, *args, **kwargs):  # chmod 000 does not stop root, so the OS answer is simulated
        if str(path).endswith("variants.yaml"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    assert_rejected(cli("list", "--registry", folder), "variants.yaml", "permission denied")


@pytest.mark.hostile
def test_missing_registry_folder(tmp_path):
    assert_rejected(cli("list", "--registry", tmp_path / "nope"), "does not exist")


# ------------------------------------------------------------------ suite files
SUITE_FAULTS = {
    "not-a-mapping": ("- probes\n", None, "a suite file is a mapping"),
    "unknown-key": ("probs: []\n", "probs", "unknown suite key"),
    "scale-unknown": ("scale: huge\n", "scale", "a scale is one of"),
    "scale-number": ("scale: 3\n", "scale", "expected a string"),
    "timeout-negative": ("timeout: -1\n", "timeout", "positive number of seconds"),
    "timeout-zero": ("timeout: 0\n", "timeout", "positive number of seconds"),
    "timeout-nan": ("timeout: .nan\n", "timeout", "positive number of seconds"),
    "timeout-string": ("timeout: soon\n", "timeout", "positive number of seconds"),
    "memory-cap-zero": ("memory_cap: 0GB\n", "memory_cap", "at least 1 byte"),
    "memory-cap-garbage": ("memory_cap: lots\n", "memory_cap", "cannot read a memory size"),
    "variants-mapping": ("variants: {a: 1}\n", "variants", "expected a list"),
    "variant-number": ("variants: [3]\n", "variants", "a variant is a name"),
    "variant-bad-scale": ("variants: [{name: gpt2-small, scale: huge}]\n", "variants.scale", "a scale is one of"),
    "probes-string": ("probes: analytic\n", "probes", "expected a list"),
    "probe-both": ("probes: [{probe: a, family: b}]\n", "probes", "exactly one of"),
    "probe-name-number": ("probes: [{probe: 3}]\n", "probes", "a probe or family name is a string"),
    "probe-settings-list": ("probes: [{probe: analytic, settings: [1]}]\n", "probes.settings", "expected a mapping"),
    "probe-grid-list": ("probes: [{probe: analytic, grid: [1]}]\n", "probes.grid", "expected a mapping"),
    "probe-grid-empty-axis": ("probes: [{probe: analytic, grid: {context: []}}]\n", "probes.grid.context", "non-empty"),
    "probe-optional-string": ("probes: [{probe: analytic, optional: maybe}]\n", "probes.optional", "true or false"),
    "probe-timeout-inf": ("probes: [{probe: analytic, timeout: .inf}]\n", "probes.timeout", "positive number"),
    "probe-unknown-key": ("probes: [{probe: analytic, setings: {}}]\n", "probes.setings", "unknown key"),
    "probe-variants-string": ("probes: [{probe: analytic, variants: gpt2-small}]\n", "probes.variants", "list of"),
    "duplicate-key": ("scale: tiny\nscale: full\n", None, "duplicate key 'scale'"),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(SUITE_FAULTS))
def test_broken_suite_files_name_the_file_and_key(tmp_path, case):
    text, field, needle = SUITE_FAULTS[case]
    suite = tmp_path / "bad.yaml"
    suite.write_text(text)
    out = tmp_path / "out"
    needles = ["bad.yaml", needle] + ([f"field '{field}'"] if field else [])
    assert_rejected(cli("run", "--suite", suite, "--out", out, "--no-report"), *needles)
    assert not (out / "results.jsonl").exists()


# ------------------------------------------------------------------ fields nothing reads
# (base, field, value): the base lacks the component that reads the field, so it would be ignored
_UNREAD = [
    *[("gpt2-small", name, 8) for name in ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim")],
    ("gpt2-small", "v_head_dim", 8),
    ("gpt2-small", "rope_theta", 500000.0),
    ("gpt2-small", "rope_fraction", 0.5),
    (BASE, "sliding_window", 4096),
    (BASE, "rope_theta_local", 10000.0),
    (BASE, "rope_factor", 8.0),
    (BASE, "rope_original_context", 4096),
    (BASE, "rope_low_freq_factor", 2.0),
    (BASE, "rope_high_freq_factor", 8.0),
    (BASE, "rope_beta_fast", 16.0),
    (BASE, "rope_beta_slow", 2.0),
    (BASE, "rope_truncate", False),
    (BASE, "rope_mscale", 1.0),
    (BASE, "rope_mscale_all_dim", 1.0),
    (BASE, "expert_hidden", 768),
    (BASE, "experts_top_k", 2),
    (BASE, "moe_dense_first", 1),
    (BASE, "router", "sigmoid"),
    (BASE, "router_bias", True),
    (BASE, "router_norm_topk", True),
    (BASE, "router_scale", 2.5),
    (BASE, "router_groups", 2),
    (BASE, "router_topk_groups", 2),
]
_unread = [pytest.param(base, field, value, id=f"unread-{field}") for base, field, value in _UNREAD]


@pytest.mark.hostile
@pytest.mark.parametrize("base, field, value", _unread)
def test_a_field_nothing_reads_is_refused(tmp_path, base, field, value):
    folder = _registry(tmp_path, _variant({"base": base, field: value}))
    o = cli("show", "hostile", "--registry", folder)
    assert_rejected(o, "variants.yaml", f"field '{field}'", "is unused: only variants with")


# ------------------------------------------------------------------ RoPE extension parameters
LLAMA3 = {"rope_scaling": "llama3", "rope_factor": 8.0, "rope_original_context": 8192}
YARN = {"rope_scaling": "yarn", "rope_factor": 4.0, "rope_original_context": 4096}
_rope = [
    pytest.param(
        {**YARN, "rope_factor": 0.5}, "rope_factor", "an extension factor must be >= 1", id="yarn-factor-below-1"
    ),
    pytest.param({**LLAMA3, "rope_factor": 0.25}, "rope_factor", "must be >= 1", id="llama3-factor-below-1"),
    pytest.param(
        {"rope_scaling": "linear", "rope_factor": 0.5}, "rope_factor", "must be >= 1", id="linear-factor-below-1"
    ),
    pytest.param(
        {**LLAMA3, "rope_low_freq_factor": 4.0}, "rope_low_freq_factor", "must be below", id="llama3-low-eq-high"
    ),
    pytest.param(
        {**LLAMA3, "rope_low_freq_factor": 8.0, "rope_high_freq_factor": 1.0},
        "rope_low_freq_factor",
        "must be below rope_high_freq_factor (1)",
        id="llama3-low-above-high",
    ),
    pytest.param(
        {**YARN, "rope_beta_fast": 1.0, "rope_beta_slow": 32.0},
        "rope_beta_fast",
        "must be >= rope_beta_slow",
        id="yarn-betas-swapped",
    ),
    pytest.param(
        {**YARN, "rope_original_context": 65536},
        "rope_original_context",
        "exceeds context_length (40960)",
        id="original-above-context",
    ),
    pytest.param(
        {"rope_scaling": "llama3"}, "rope_original_context", "needs the pre-extension context", id="llama3-no-original"
    ),
]

_rope_accepted = [
    pytest.param({**YARN, "rope_factor": 1.0}, id="yarn-factor-1"),
    pytest.param({**LLAMA3, "rope_low_freq_factor": 1.0, "rope_high_freq_factor": 4.0}, id="llama3-published"),
    pytest.param({**YARN, "rope_beta_fast": 1.0, "rope_beta_slow": 1.0, "rope_truncate": False}, id="yarn-betas-equal"),
    pytest.param({**YARN, "rope_original_context": 40960}, id="original-equals-context"),
    pytest.param({"base": "gpt2-small", "rope_theta": 10000.0}, id="default-rope-theta-on-learned"),
]


@pytest.mark.hostile
@pytest.mark.parametrize("fields, field, needle", _rope)
def test_rope_extension_that_cannot_be_right_is_refused(tmp_path, fields, field, needle):
    folder = _registry(tmp_path, _variant(fields))
    assert_rejected(cli("show", "hostile", "--registry", folder), "variants.yaml", f"field '{field}'", needle)


@pytest.mark.hostile
@pytest.mark.parametrize("fields", _rope_accepted)
def test_rope_extension_edges_are_accepted(tmp_path, fields):
    folder = _registry(tmp_path, _variant(fields))
    o = cli("show", "hostile", "--registry", folder, "--json")
    assert_accepted(o)
    assert '"name": "hostile"' in o.out


# ------------------------------------------------------------------ values YAML cannot convert, typed text
_VALUES = {
    "int-5000-digits": ("d_model: " + "9" * 5000, "variants.yaml has a value YAML cannot convert", "4300 digits"),
    "date-month-13": ("d_model: 2024-13-45", "variants.yaml has a value YAML cannot convert", "month must be in 1..12"),
    "date-valid": ("d_model: 2024-01-01", "field 'd_model'", "expected an integer, got datetime.date(2024, 1, 1)"),
    "exponent-without-dot": ("norm_eps: 1e-6", "field 'norm_eps'", "write 1.0e-6, not 1e-6"),
    "exponent-unsigned": ("rope_theta: 1.0e6", "field 'rope_theta'", "write 1.0e-6"),
    "binary-tag": ("description: !!binary aGVsbG8=", "field 'description'", "expected a string, got b'hello' (bytes)"),
    "set-tag": ("layer_types: !!set {full: null}", "field 'layer_types'", "expected a list of strings or null"),
    "long-wrong-type": ("d_model: " + "x" * 100_000, "field 'd_model'", "expected an integer, got 'xxxx"),
    "int-2000-bits": ("n_layers: " + "9" * 700, "field 'n_layers'", "-bit integer is too large"),
    "nested-list": ("layer_types: [[full]]", "field 'layer_types'", "expected a list of strings or null"),
    "key-null": ("~: 3", "field 'None'", "unknown field"),
    "key-integer": ("3: 3", "field '3'", "unknown field"),
    "key-boolean": ("yes: 3", "field 'True'", "unknown field"),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(_VALUES))
def test_values_yaml_makes_odd_are_refused_in_one_short_paragraph(tmp_path, case):
    line, *needles = _VALUES[case]
    folder = _registry(tmp_path, f"hostile:\n  base: {BASE}\n  {line}\n")
    o = cli("show", "hostile", "--registry", folder)
    assert_rejected(o, "variants.yaml", *needles)
    assert len(o.err) < 1000 and len(o.err.strip().splitlines()) == 1


# ------------------------------------------------------------------ base names
_bases = {
    "empty": ('""', "base variant name is empty"),
    "dot-dot": ('"../qwen3-0.6b"', "'..' part"),
    "boolean": ("yes", "YAML reads yes/no/on/off as booleans"),
    "newline": ('"a\\nb"', "contains '\\n'"),
    "300-chars": ('"' + "b" * 300 + '"', "longer than 200 characters"),
    "markup": ('"[link=file:///etc/passwd]x"', "contains"),
    "mapping": ("{a: 1}", "must be a string, got {'a': 1} (dict)"),
    "itself": ("hostile", "'base:' inheritance has a cycle: hostile -> hostile"),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(_bases))
def test_bad_base_names_are_refused(tmp_path, case):
    text, needle = _bases[case]
    folder = _registry(tmp_path, f"hostile:\n  base: {text}\n")
    assert_rejected(cli("show", "hostile", "--registry", folder), "variants.yaml", "field 'base'", needle)


@pytest.mark.hostile
def test_an_unknown_long_name_gets_a_short_error(tmp_path):
    o = cli("show", "q" * 250)
    assert_rejected(o, "unknown variant 'qqqq", "…")
    assert len(o.err) < 300


# ------------------------------------------------------------------ layer patterns and the proxy
def _pattern(n: int, periodic: bool) -> str:
    kinds = (["sliding", "full"] * n)[:n] if periodic else ["full"] * (n - 1) + ["sliding"]
    return f"hostile:\n  base: {BASE}\n  n_layers: {n}\n  sliding_window: 512\n  layer_types: [{', '.join(kinds)}]\n"


@pytest.mark.hostile
@pytest.mark.parametrize("n", [300, 9_000])
def test_a_pattern_that_never_repeats_has_no_proxy(tmp_path, n):
    """Finding the period tried every length (minutes at 20,000 layers); one period of 300 layers is no proxy."""
    folder = _registry(tmp_path, _pattern(n, periodic=False))
    o = cli("show", "hostile", "--registry", folder, "--scale", "tiny")
    assert_rejected(o, "variant 'hostile'", "field 'layer_types'", f"no pattern shorter than {n} layers repeats")


@pytest.mark.hostile
@pytest.mark.parametrize("n, periodic", [(200, False), (9_000, True)], ids=["200-no-repeat", "9k-alternating"])
def test_long_patterns_with_a_short_period_make_a_proxy(tmp_path, n, periodic):
    folder = _registry(tmp_path, _pattern(n, periodic))
    o = cli("show", "hostile", "--registry", folder, "--scale", "tiny", "--json")
    assert_accepted(o)
    assert f'"n_layers": {n if n == 200 else 2}' in o.out


# ------------------------------------------------------------------ more suite files
SUITE_VALUES = {
    "settings-negative": (
        "probes: [{probe: analytic, settings: {context: -5}}]\n",
        "probes.settings.context",
        ">= 0, got -5",
    ),
    "settings-nan": ("probes: [{probe: analytic, settings: {context: .nan}}]\n", "probes.settings.context", "got nan"),
    "settings-inf-in-list": (
        "probes: [{probe: analytic, settings: {context: [1, .inf]}}]\n",
        "probes.settings.context",
        "got inf",
    ),
    "settings-nested": ("probes: [{probe: analytic, settings: {a: {b: -1}}}]\n", "probes.settings.a.b", ">= 0"),
    "settings-key-int": (
        "probes: [{probe: analytic, settings: {3: 1}}]\n",
        "probes.settings",
        "a setting name is a non-empty string, got 3",
    ),
    "grid-key-int": (
        "probes: [{probe: analytic, grid: {3: [1]}}]\n",
        "probes.grid",
        "a setting name is a non-empty string",
    ),
    "grid-nan": ("probes: [{probe: analytic, grid: {context: [.nan]}}]\n", "probes.grid.context", "got nan"),
    "grid-million": (
        "probes: [{probe: analytic, grid: {a: ["
        + ", ".join(map(str, range(1000)))
        + "], b: ["
        + ", ".join(map(str, range(1000)))
        + "]}}]\n",
        "probes.grid",
        "the grid has 1,000,000 points",
    ),
    "description-100k": ("description: " + "d" * 100_000 + "\n", "description", "longer than 10,000 characters"),
    "timeout-year": ("timeout: 31536000\n", "timeout", "at most 2,592,000 (30 days)"),
    "timeout-exponent-text": ("timeout: 1e3\n", "timeout", "write 1000 or 1.0e+3"),
    "variant-empty": ("variants: ['']\n", "variants", "'' is empty"),
    "variant-newline": ('variants: ["a\\nb"]\n', "variants", "contains '\\n'"),
    "variant-name-empty": ("variants: [{name: ''}]\n", "variants.name", "is empty"),
    "variant-too-long": ("variants: [" + "v" * 5000 + "]\n", "variants", "is too long"),
    "probe-empty": ("probes: ['']\n", "probes", "is empty"),
    "probe-variants-empty": ("probes: [{probe: analytic, variants: []}]\n", "probes.variants", "non-empty list"),
    "probe-variants-tab": ('probes: [{probe: analytic, variants: ["a\\tb"]}]\n', "probes.variants", "contains '\\t'"),
    "int-5000-digits": ("timeout: " + "9" * 5000 + "\n", None, "has a value YAML cannot convert"),
    "date-month-13": ("timeout: 2024-13-01\n", None, "month must be in 1..12"),
}


@pytest.mark.hostile
@pytest.mark.parametrize("case", sorted(SUITE_VALUES))
def test_suite_values_that_cannot_be_right_are_refused(tmp_path, case):
    text, field, needle = SUITE_VALUES[case]
    suite = tmp_path / "bad.yaml"
    suite.write_text(text)
    out = tmp_path / "out"
    needles = ["bad.yaml", needle] + ([f"field '{field}'"] if field else [])
    assert_rejected(cli("run", "--suite", suite, "--out", out, "--no-report"), *needles)
    assert not (out / "results.jsonl").exists()


CASES += _unread + _rope + _rope_accepted
CASES += [pytest.param(c, id=c) for c in [*_VALUES, *_bases, *SUITE_VALUES]]
CASES += [pytest.param(c) for c in ("long-name", "no-repeat-300", "no-repeat-20k", "period-200", "period-20k")]


CASES = CASES + [pytest.param(c, id=c) for c in FILE_FAULTS] + [pytest.param(c, id=c) for c in SUITE_FAULTS]
CASES += [pytest.param(c) for c in ("binary", "non-utf8", "directory", "symlink-loop", "unreadable", "missing")]
