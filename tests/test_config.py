"""Bad input gets a one-paragraph error naming file, variant and field."""

import pytest

from suite.cli import main
from suite.config import ConfigError, ModelConfig
from suite.registry import Registry

GOOD = """
base-model:
  family: test
  vocab_size: 256
  d_model: 64
  n_layers: 2
  n_heads: 4
"""


def error_of(folder, name="child"):
    with pytest.raises(ConfigError) as info:
        Registry([folder], builtin=False).get(name)
    return str(info.value)


def test_yaml_syntax_error_names_file_and_line(write_yaml):
    folder = write_yaml("a:\n  d_model: [1, 2\n")
    with pytest.raises(ConfigError) as info:
        Registry([folder], builtin=False)
    msg = str(info.value)
    assert "variants.yaml" in msg and "YAML syntax error at line" in msg


def test_unknown_field_suggests_the_right_one(write_yaml):
    folder = write_yaml(GOOD + "child:\n  base: base-model\n  n_kv_head: 2\n")
    with pytest.raises(ConfigError) as info:
        Registry([folder], builtin=False)
    msg = str(info.value)
    assert "variants.yaml" in msg and "variant 'child'" in msg and "field 'n_kv_head'" in msg
    assert "Did you mean 'n_kv_heads'" in msg


def test_wrong_type(write_yaml):
    msg = error_of(write_yaml(GOOD + "child:\n  base: base-model\n  n_heads: four\n"))
    assert "field 'n_heads'" in msg and "expected an integer" in msg and "'four'" in msg


def test_bool_is_not_an_integer(write_yaml):
    msg = error_of(write_yaml(GOOD + "child:\n  base: base-model\n  n_layers: true\n"))
    assert "field 'n_layers'" in msg and "expected an integer" in msg


def test_missing_base_lists_close_names(write_yaml):
    msg = error_of(write_yaml(GOOD + "child:\n  base: base-modle\n"))
    assert "field 'base'" in msg and "unknown base variant 'base-modle'" in msg and "base-model" in msg


def test_cycle(write_yaml):
    folder = write_yaml("a:\n  base: b\nb:\n  base: c\nc:\n  base: a\n")
    with pytest.raises(ConfigError) as info:
        Registry([folder], builtin=False).get("a")
    assert "cycle: a -> b -> c -> a" in str(info.value)


def test_duplicate_name_across_files(write_yaml):
    write_yaml(GOOD, "one.yaml")
    folder = write_yaml(GOOD, "two.yaml")
    with pytest.raises(ConfigError) as info:
        Registry([folder], builtin=False)
    msg = str(info.value)
    assert "duplicate variant name" in msg and "one.yaml" in msg and "two.yaml" in msg


@pytest.mark.parametrize(
    "fields, field, text",
    [
        ("n_kv_heads: 3\n  attention: gqa", "n_kv_heads", "divisible by n_kv_heads"),
        ("n_kv_heads: 2", "attention", "'mha' needs n_kv_heads == n_heads"),
        ("n_experts: 4\n  experts_top_k: 5", "experts_top_k", "between 1 and n_experts"),
        ("layer_types: [full]", "layer_types", "has 1 entries but n_layers is 2"),
        ("layer_types: [full, sliding]", "sliding_window", "no sliding_window"),
        ("norm: batchnorm", "norm", "'batchnorm' is not one of: layernorm, rmsnorm"),
        ("d_model: 66", "head_dim", "not divisible by n_heads"),
        ("swiglu_limit: 7.0", "swiglu_limit", "only applies to mlp 'swiglu'"),
    ],
)
def test_impossible_shapes(write_yaml, fields, field, text):
    msg = error_of(write_yaml(GOOD + f"child:\n  base: base-model\n  {fields}\n"))
    assert f"field '{field}'" in msg and text in msg and "variants.yaml" in msg and "variant 'child'" in msg


def test_inherited_bad_value_names_where_it_came_from(write_yaml):
    folder = write_yaml(
        "parent:\n  d_model: 64\n  n_heads: 4\n  n_kv_heads: 3\n  attention: gqa\n"
        "child:\n  base: parent\n  vocab_size: 256\n"
    )
    with pytest.raises(ConfigError) as info:
        Registry([folder], builtin=False).get("child")
    assert "variant 'child'" in str(info.value)


def test_cli_prints_one_paragraph_and_exits_2(write_yaml, capsys):
    folder = write_yaml(GOOD + "child:\n  base: base-model\n  n_heads: 5\n")
    assert main(["show", "child", "--registry", str(folder)]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("archbench: error: In file")
        and "field 'head_dim'" in err
        and "not divisible by n_heads (5)" in err
    )
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_from_dict_rejects_unknown_key():
    with pytest.raises(ConfigError, match="field 'd_modle'.*Did you mean 'd_model'"):
        ModelConfig.from_dict({"name": "x", "d_modle": 3})


def test_replace_validates():
    cfg = ModelConfig(vocab_size=256, d_model=64, n_layers=2, n_heads=4)
    with pytest.raises(ConfigError, match="n_kv_heads"):
        cfg.replace(attention="gqa", n_kv_heads=3)


def test_an_invalid_config_cannot_be_constructed():
    import dataclasses

    from suite.config import ConfigError, ModelConfig

    with pytest.raises(ConfigError, match="field 'head_dim': d_model \\(768\\) is not divisible by n_heads \\(7\\)"):
        ModelConfig(n_heads=7)
    good = ModelConfig()
    with pytest.raises(ConfigError, match="field 'n_kv_heads'"):
        dataclasses.replace(good, n_kv_heads=5)
    with pytest.raises(ConfigError, match="field 'attention'"):
        good.replace(attention="nope")


def test_mlp_none_refuses_experts_and_mlp_sizes():
    base = dict(name="m", n_layers=2, n_heads=4, d_model=32, mlp="none")
    with pytest.raises(ConfigError, match=r"field 'mlp': 'none' has no MLP, so it cannot have experts"):
        ModelConfig(**base, n_experts=4, experts_top_k=2)
    with pytest.raises(ConfigError, match=r"field 'mlp_hidden': is unused: only variants with an MLP"):
        ModelConfig(**base, mlp_hidden=64)


def test_shared_expert_size_needs_a_shared_expert():
    with pytest.raises(ConfigError, match=r"'shared_expert_hidden': is unused: only variants with shared experts"):
        ModelConfig(name="m", n_layers=2, n_heads=4, d_model=32, shared_expert_hidden=64)
