"""The GLA layer (`layer_types: gla`): its chunked form against its recurrent step and against the
paper's recurrence written out here, prefill then decode against one pass, and a whole hybrid
decoder whose parameters, FLOPs and cache match the analytic model (fp32)."""

import pytest
import torch
import torch.nn.functional as F

from suite.analytic import costs
from suite.analytic.params import count_params
from suite.config import ConfigError, ModelConfig
from suite.model import build_model
from suite.model.mixers.gla_layer import GatedLinearAttentionLayer
from suite.probes import analytic as analytic_probe

TOL = 1e-4
D, H, DK, DV = 32, 2, 8, 6


def _layer(chunk_size: int = 16, seed: int = 0) -> GatedLinearAttentionLayer:
    layer = GatedLinearAttentionLayer(D, n_heads=H, head_k_dim=DK, head_v_dim=DV, chunk_size=chunk_size)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (0.3 if p.dim() > 1 else 0.5))
        layer.g_norm.weight.add_(1.0)
        # a spread of decays: logsigmoid(-40) / 16 = -2.5 per step down to nearly none
        layer.gk_proj[1].bias.copy_(torch.linspace(-40.0, 4.0, layer.gk_proj[1].bias.numel()))
    return layer.eval()


def _x(t: int, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, t, D, generator=torch.Generator().manual_seed(seed))


def _step_by_step(layer, x, state=None):
    state = layer.new_state(x.shape[0]) if state is None else state
    outs = []
    for i in range(x.shape[1]):
        y, state = layer(x[:, i : i + 1], state)
        outs.append(y)
    return torch.cat(outs, dim=1), state


def _naive(layer: GatedLinearAttentionLayer, x: torch.Tensor) -> torch.Tensor:
    """The paper's recurrence, S_t = diag(exp(gk_t)) S_{t-1} + k_t^T v_t, o_t = q_t S_t * scale, then
    fla's output: RMSNorm per head times swish(g), o_proj. Written from the weights, one token at a time."""
    b, t, _ = x.shape
    w = {name: p.detach() for name, p in layer.named_parameters()}
    per_head = lambda y, dim: y.view(b, t, H, dim)
    q, k = per_head(x @ w["q_proj.weight"].T, DK), per_head(x @ w["k_proj.weight"].T, DK)
    v, g = per_head(x @ w["v_proj.weight"].T, DV), per_head(x @ w["g_proj.weight"].T, DV)
    gate_logit = (x @ w["gk_proj.0.weight"].T) @ w["gk_proj.1.weight"].T + w["gk_proj.1.bias"]
    gk = per_head(F.logsigmoid(gate_logit) / 16, DK)
    S = torch.zeros(b, H, DK, DV)
    outs = []
    for i in range(t):
        S = torch.diag_embed(gk[:, i].exp()) @ S + k[:, i, :, :, None] * v[:, i, :, None, :]
        outs.append(torch.einsum("bhk,bhkv->bhv", q[:, i], S) * DK**-0.5)
    o = torch.stack(outs, dim=1)  # (B, T, H, Dv)
    o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-5) * w["g_norm.weight"] * F.silu(g)
    return o.reshape(b, t, H * DV) @ w["o_proj.weight"].T


def test_parameter_names_and_shapes_are_fla_s():
    key, value = H * DK, H * DV
    shapes = {name: tuple(p.shape) for name, p in _layer().named_parameters()}
    assert shapes == {
        "q_proj.weight": (key, D), "k_proj.weight": (key, D), "v_proj.weight": (value, D),
        "g_proj.weight": (value, D), "gk_proj.0.weight": (16, D), "gk_proj.1.weight": (key, 16),
        "gk_proj.1.bias": (key,), "g_norm.weight": (DV,), "o_proj.weight": (D, value),
    }  # fmt: skip


@pytest.mark.parametrize("chunk", [8, 16, 48])
@pytest.mark.parametrize("t", [1, 7, 16, 21, 53])
def test_chunked_equals_the_recurrent_step_token_by_token(chunk, t):
    layer, x = _layer(chunk), _x(t)
    with torch.no_grad():
        full, state = layer(x)
        stepped, stepped_state = _step_by_step(layer, x)
    assert (full - stepped).abs().max() <= TOL
    assert (state.recurrent - stepped_state.recurrent).abs().max() <= TOL
    assert state.recurrent.shape == (2, H, DK, DV) and state.recurrent.dtype == torch.float32


@pytest.mark.parametrize("t", [5, 19, 40])
def test_the_layer_equals_the_paper_recurrence(t):
    layer, x = _layer(16), _x(t)
    with torch.no_grad():
        ours, _ = layer(x)
        reference = _naive(layer, x)
    assert reference.abs().max() > 0.1  # a check that compares zeros would pass anything
    assert (ours - reference).abs().max() <= TOL


@pytest.mark.parametrize("prefix", [1, 9, 16, 23])
def test_prefill_then_decode_equals_one_pass(prefix):
    layer, x = _layer(8), _x(30)
    with torch.no_grad():
        full, full_state = layer(x)
        head, state = layer(x[:, :prefix], layer.new_state(2))
        middle, state = layer(x[:, prefix : prefix + 3], state)  # a chunked pass continuing a state
        tail, state = _step_by_step(layer, x[:, prefix + 3 :], state)
    assert (torch.cat([head, middle, tail], dim=1) - full).abs().max() <= TOL
    assert (state.recurrent - full_state.recurrent).abs().max() <= TOL
    assert state.conv is None and state.nbytes() == 2 * H * DK * DV * 4


TINY = dict(
    vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, attention="gqa", mlp_hidden=48,
    context_length=128, layer_types=("gla", "full"), linear_k_heads=2, linear_v_heads=2, linear_k_head_dim=8,
    linear_v_head_dim=4,
)  # fmt: skip


def _tiny(**over) -> ModelConfig:
    return ModelConfig(name="tiny-gla", **{**TINY, **over})


def test_a_hybrid_decoder_builds_with_the_analytic_parameter_count_and_decodes_like_one_pass():
    cfg = _tiny(mixer_chunk_size=16)
    model = build_model(cfg).eval()
    assert count_params(cfg)["total"] == sum(p.numel() for p in model.parameters())
    assert count_params(cfg)["by_component"]["mixer"] == sum(p.numel() for p in model.blocks[0].attn.parameters())
    idx = torch.randint(0, cfg.vocab_size, (2, 21), generator=torch.Generator().manual_seed(0))
    cache = model.new_cache()
    with torch.no_grad():
        full = model(idx)
        steps = [model(idx[:, :13], cache=cache)] + [model(idx[:, i : i + 1], cache=cache) for i in range(13, 21)]
    assert (torch.cat(steps, dim=1) - full).abs().max() <= TOL
    assert costs.mixer_state_bytes(cfg, "fp32", batch=2) == 2 * 2 * 8 * 4 * 4  # heads x k_dim x v_dim, fp32


@pytest.mark.parametrize("chunk", [24, 48])  # 24: one diagonal block per chunk; 48: three of 16
@pytest.mark.parametrize("past, context", [(0, 7), (0, 50), (33, 6), (60, 1)])
def test_forward_flops_equal_the_counter_for_other_chunk_sizes(chunk, past, context):
    result = analytic_probe.check_forward(_tiny(mixer_chunk_size=chunk), context=context, past=past)
    assert not result["problems"], result["problems"]
    assert result["components"]["mixer"]["counter"] == result["components"]["mixer"]["analytic"] > 0


@pytest.mark.parametrize("chunk", [24, 48])
def test_training_flops_equal_the_counter_for_other_chunk_sizes(chunk):
    result = analytic_probe.check_train(_tiny(mixer_chunk_size=chunk), context=70, checkpointing=False)
    assert not result["problems"], result["problems"]
    assert result["counter"] == result["analytic"]


def test_useful_decode_flops_are_the_projections_and_four_state_products_per_head():
    cfg = _tiny()
    key, value = 2 * 8, 2 * 4
    weights = 32 * (2 * key + 2 * value) + 16 * (32 + key) + value * 32
    mixer = costs.decode_flops(cfg, 500, counting="useful")["mixer"]
    assert mixer == 2 * weights + 4 * 2 * 8 * 4


@pytest.mark.parametrize(
    "over, field, needle",
    [
        (dict(linear_v_heads=4), "linear_v_heads", "must equal linear_k_heads (2)"),
        (dict(linear_k_head_dim=None), "linear_k_head_dim", "'gla' layers, which need linear_k_head_dim"),
        (dict(layer_types=("full", "full")), "linear_k_heads", "no layer in layer_types is 'gated_deltanet' or 'gla'"),
    ],
)
def test_gla_fields_are_checked_and_the_error_names_the_field(over, field, needle):
    with pytest.raises(ConfigError) as info:
        _tiny(**over)
    assert info.value.field == field and needle in str(info.value)
