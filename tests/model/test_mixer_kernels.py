"""Sequence-mixer math (suite/model/mixers): the chunked form equals the recurrent step, token by
token, for every mixer (fp32, 1e-4), and Gated DeltaNet, Mamba-2 and the causal conv equal
transformers' own torch references."""

import inspect

import pytest
import torch
import torch.nn.functional as F

from suite.model.mixers.gated_deltanet import gated_delta_chunked, gated_delta_gates, gated_delta_step
from suite.model.mixers.gla import gla_chunked, gla_step
from suite.model.mixers.mamba2 import mamba2_chunked, mamba2_step
from suite.model.mixers.short_conv import causal_conv1d, causal_conv1d_step, short_conv_chunked, short_conv_step

TOL = 1e-4
BATCH = 2


def randn(gen, *shape):
    return torch.randn(*shape, generator=gen)


class GLA:
    """Per-key-dim decays, strong enough (logsigmoid of N(0,1)) to show up within a chunk."""

    def inputs(self, gen, t):
        h, dk, dv = 2, 16, 8
        return dict(
            q=randn(gen, BATCH, t, h, dk),
            k=randn(gen, BATCH, t, h, dk),
            v=randn(gen, BATCH, t, h, dv),
            gk=F.logsigmoid(randn(gen, BATCH, t, h, dk)),
        )

    def state(self, gen):
        return randn(gen, BATCH, 2, 16, 8)

    def chunked(self, x, chunk, state):
        return gla_chunked(**x, chunk_size=chunk, initial_state=state)

    def step(self, x, state):
        return gla_step(**x, state=state)


class GatedDeltaNet:
    """Grouped value heads (Hk=2, Hv=4) as in Qwen3-Next, gates through the model's own formula;
    v is scaled up because unit q, k and beta < 1 make one-token outputs small."""

    def inputs(self, gen, t):
        hk, hv, dk, dv = 2, 4, 16, 8
        g, beta = gated_delta_gates(
            randn(gen, BATCH, t, hv), randn(gen, BATCH, t, hv), A_log=randn(gen, hv), dt_bias=randn(gen, hv)
        )
        return dict(
            q=randn(gen, BATCH, t, hk, dk),
            k=randn(gen, BATCH, t, hk, dk),
            v=4 * randn(gen, BATCH, t, hv, dv),
            g=g,
            beta=beta,
        )

    def state(self, gen):
        return randn(gen, BATCH, 4, 16, 8)

    def chunked(self, x, chunk, state):
        return gated_delta_chunked(**x, chunk_size=chunk, initial_state=state)

    def step(self, x, state):
        return gated_delta_step(**x, state=state)


class Mamba2:
    """Four heads in two groups sharing B and C, a D skip and dt through softplus(dt + dt_bias)."""

    params = ("A", "D", "dt_bias")

    def inputs(self, gen, t):
        h, p, g, n = 4, 8, 2, 16
        return dict(
            x=randn(gen, BATCH, t, h, p),
            dt=randn(gen, BATCH, t, h),
            B=randn(gen, BATCH, t, g, n),
            C=randn(gen, BATCH, t, g, n),
            A=-torch.rand(h, generator=gen).mul(3).exp(),
            D=randn(gen, h),
            dt_bias=randn(gen, h),
        )

    def state(self, gen):
        return randn(gen, BATCH, 4, 8, 16)

    def chunked(self, x, chunk, state):
        return mamba2_chunked(**x, chunk_size=chunk, initial_state=state)

    def step(self, x, state):
        return mamba2_step(**x, state=state)


class ShortConv:
    """LFM2's gated short conv, y = c * conv(b * x), width 4 with a bias."""

    params = ("weight", "bias")

    def inputs(self, gen, t):
        ch, w = 12, 4
        return dict(
            x=randn(gen, BATCH, t, ch),
            b=randn(gen, BATCH, t, ch),
            c=randn(gen, BATCH, t, ch),
            weight=randn(gen, ch, w),
            bias=randn(gen, ch),
        )

    def state(self, gen):
        return randn(gen, BATCH, 12, 3)

    def chunked(self, x, chunk, state):
        return short_conv_chunked(**x, initial_state=state)

    def step(self, x, state):
        return short_conv_step(**x, state=state)


MIXERS = {"gla": GLA(), "gated_deltanet": GatedDeltaNet(), "mamba2": Mamba2(), "short_conv": ShortConv()}


def at(mixer, x, i):
    """The inputs of token i (per-layer parameters are passed whole)."""
    return {name: v if name in getattr(mixer, "params", ()) else v[:, i] for name, v in x.items()}


def slice_time(mixer, x, start, stop):
    return {name: v if name in getattr(mixer, "params", ()) else v[:, start:stop] for name, v in x.items()}


def recurrent(mixer, x, t, state):
    outs = []
    for i in range(t):
        out, state = mixer.step(at(mixer, x, i), state)
        outs.append(out)
    return torch.stack(outs, dim=1), state


def max_diff(a, b):
    return (a - b).abs().max().item()


def zero_state(mixer):
    return torch.zeros_like(mixer.state(torch.Generator().manual_seed(0)))


CASES = [(1, 64), (7, 64), (63, 64), (64, 64), (65, 64), (130, 64), (130, 32), (64, 16), (130, 16), (65, 24), (7, 4)]


@pytest.mark.parametrize("init", [False, True], ids=["zero", "init"])
@pytest.mark.parametrize("t, chunk", CASES, ids=[f"T{t}-C{c}" for t, c in CASES])
@pytest.mark.parametrize("name", sorted(MIXERS))
def test_chunked_equals_recurrent(name, t, chunk, init):
    mixer, gen = MIXERS[name], torch.Generator().manual_seed(t * 1000 + chunk)
    x = mixer.inputs(gen, t)
    state = mixer.state(gen) if init else None
    out, final = mixer.chunked(x, chunk, state)
    ref, ref_final = recurrent(mixer, x, t, zero_state(mixer) if state is None else state)
    assert out.shape == ref.shape and final.shape == ref_final.shape
    assert ref.abs().max() > 0.1  # outputs are not trivially small
    assert max_diff(out, ref) <= TOL
    assert max_diff(final, ref_final) <= TOL


SPLITS = [(1, 6, 64), (63, 3, 64), (65, 64, 64), (20, 45, 16)]


@pytest.mark.parametrize("t1, t2, chunk", SPLITS, ids=[f"T{a}+{b}-C{c}" for a, b, c in SPLITS])
@pytest.mark.parametrize("name", sorted(MIXERS))
def test_prefill_then_decode_equals_one_prefill(name, t1, t2, chunk):
    mixer, gen = MIXERS[name], torch.Generator().manual_seed(t1 + 100 * t2)
    x = mixer.inputs(gen, t1 + t2)
    whole, whole_final = mixer.chunked(x, chunk, None)
    first, state = mixer.chunked(slice_time(mixer, x, 0, t1), chunk, None)
    rest, final = recurrent(mixer, slice_time(mixer, x, t1, t1 + t2), t2, state)
    assert max_diff(torch.cat([first, rest], dim=1), whole) <= TOL
    assert max_diff(final, whole_final) <= TOL


@pytest.mark.parametrize("name", sorted(MIXERS))
def test_the_comparison_can_fail(name):
    """A shift of 0.05 in one input at one step must show, so the equalities above are not vacuous
    (a shift, not a scaling: l2-normalised q and k ignore their length)."""
    mixer, gen = MIXERS[name], torch.Generator().manual_seed(7)
    x = mixer.inputs(gen, 9)
    out, _ = mixer.chunked(x, 4, None)
    first = next(k for k in x if k not in getattr(mixer, "params", ()))
    x[first] = x[first].clone()
    x[first][:, 5] += 0.05
    ref, _ = recurrent(mixer, x, 9, zero_state(mixer))
    assert max_diff(out[:, :5], ref[:, :5]) <= TOL  # causal: earlier tokens unchanged
    assert max_diff(out, ref) > TOL


def test_gla_survives_strong_decay():
    """Decays of e^-30 per step: the sub-chunk factorisation never exponentiates a positive sum."""
    mixer, gen = MIXERS["gla"], torch.Generator().manual_seed(3)
    x = mixer.inputs(gen, 130)
    x["gk"] = x["gk"] * 30
    out, final = mixer.chunked(x, 64, None)
    ref, ref_final = recurrent(mixer, x, 130, zero_state(mixer))
    assert torch.isfinite(out).all() and torch.isfinite(final).all()
    assert max_diff(out, ref) <= TOL and max_diff(final, ref_final) <= TOL


# --- transformers' own torch paths (unwrapped: never a hub or fla/mamba-ssm kernel) ---------------


def hf(module, name):
    tf = pytest.importorskip(f"transformers.models.{module}.modeling_{module}")
    return inspect.unwrap(getattr(tf, name))


@pytest.mark.parametrize("t, chunk", [(7, 64), (65, 64), (130, 32)], ids=["T7-C64", "T65-C64", "T130-C32"])
def test_gated_deltanet_matches_transformers(t, chunk):
    mixer, gen = MIXERS["gated_deltanet"], torch.Generator().manual_seed(t)
    x, state = mixer.inputs(gen, t), mixer.state(gen)
    ref, ref_final = hf("qwen3_next", "torch_chunk_gated_delta_rule")(
        x["q"],
        x["k"],
        x["v"],
        g=x["g"],
        beta=x["beta"],
        chunk_size=chunk,
        initial_state=state,
        output_final_state=True,
        use_qk_l2norm_in_kernel=True,
    )
    out, final = gated_delta_chunked(**x, chunk_size=chunk, initial_state=state)
    assert max_diff(out, ref) <= TOL and max_diff(final, ref_final) <= TOL
    ref, ref_final = hf("qwen3_next", "torch_recurrent_gated_delta_rule")(
        x["q"],
        x["k"],
        x["v"],
        g=x["g"],
        beta=x["beta"],
        initial_state=state,
        output_final_state=True,
        use_qk_l2norm_in_kernel=True,
    )
    out, final = recurrent(mixer, x, t, state)
    assert max_diff(out, ref) <= TOL and max_diff(final, ref_final) <= TOL


@pytest.mark.parametrize("t, chunk", [(7, 64), (65, 64), (130, 32)], ids=["T7-C64", "T65-C64", "T130-C32"])
def test_mamba2_matches_transformers(t, chunk):
    mixer, gen = MIXERS["mamba2"], torch.Generator().manual_seed(t)
    x, state = mixer.inputs(gen, t), mixer.state(gen)
    ref, ref_final = hf("mamba2", "mamba2_chunk_scan")(
        x["x"],
        x["dt"],
        x["A"],
        x["B"],
        x["C"],
        chunk_size=chunk,
        D=x["D"],
        dt_bias=x["dt_bias"],
        initial_states=state,
        dt_softplus=True,
        return_final_states=True,
    )
    out, final = mamba2_chunked(**x, chunk_size=chunk, initial_state=state)
    assert max_diff(out, ref) <= TOL and max_diff(final, ref_final) <= TOL
    # transformers' step takes mamba_ssm's per-(head, head_dim) layout for dt, A, D and dt_bias
    s, p, n = at(mixer, x, 0), 8, 16
    hf_state = state.clone()  # updated in place
    ref = hf("mamba2", "mamba2_selective_state_update")(
        hf_state,
        s["x"],
        s["dt"][..., None].expand(-1, -1, p),
        s["A"][:, None, None].expand(-1, p, n),
        s["B"],
        s["C"],
        s["D"][:, None].expand(-1, p),
        dt_bias=s["dt_bias"][:, None].expand(-1, p),
        dt_softplus=True,
    )
    out, final = mamba2_step(**s, state=state)
    assert max_diff(out, ref) <= TOL and max_diff(final, hf_state) <= TOL


@pytest.mark.parametrize("activation", [None, "silu"], ids=["linear", "silu"])
def test_causal_conv_matches_transformers(activation):
    gen = torch.Generator().manual_seed(5)
    x, weight, bias, tail = randn(gen, 2, 11, 12), randn(gen, 12, 4), randn(gen, 12), randn(gen, 2, 12, 3)
    ref = hf("qwen3_next", "causal_conv1d_fn")(x.transpose(1, 2), weight, bias, activation=activation)
    out, state = causal_conv1d(x, weight, bias, activation=activation)
    assert max_diff(out, ref.transpose(1, 2)) <= TOL
    assert torch.equal(state, x[:, -3:].transpose(1, 2))  # the last w-1 inputs
    # transformers keeps w inputs; the oldest never reaches the output
    hf_state = torch.cat([randn(gen, 2, 12, 1), tail], dim=-1)
    ref = hf("qwen3_next", "causal_conv1d_update")(x[:, :1].transpose(1, 2), hf_state, weight, bias, activation)
    out, state = causal_conv1d_step(x[:, 0], weight, bias, tail, activation)
    assert max_diff(out, ref[..., 0]) <= TOL and torch.equal(state, hf_state[..., 1:])


def test_short_conv_matches_lfm2():
    mixer, gen = MIXERS["short_conv"], torch.Generator().manual_seed(6)
    x = mixer.inputs(gen, 9)
    conv = hf("lfm2", "causal_conv1d_fn")
    ref = x["c"] * conv((x["b"] * x["x"]).transpose(1, 2), x["weight"], x["bias"]).transpose(1, 2)
    out, _ = short_conv_chunked(**x)
    assert max_diff(out, ref) <= TOL
