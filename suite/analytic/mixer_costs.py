"""FLOPs and state bytes of the mixer layers (`layer_types`: gated_deltanet, mamba2, short_conv, gla).

What they buy: per token, a mixer costs the same at any context (no term in the past length), and
its cache is a fixed state instead of K and V per token.

- counting="useful": the recurrent form's products, what a fused recurrent or chunked kernel must
  do per token: Gated DeltaNet reads, writes and queries a Dk x Dv state per value head (3 products,
  6·Dk·Dv FLOPs); Mamba-2 writes and reads a P x N state per head (4·P·N); GLA writes and reads a
  Dk x Dv state per head (4·Dk·Dv); the short causal conv 2·channels·w; projections 2 per weight.
- counting="executed": what `suite.model.mixers` runs, and so what FlopCounterMode sees. The
  chunked form (prefill, training, a pass without a cache) pads to whole chunks of
  `mixer_chunk_size` and adds the intra-chunk products (Gated DeltaNet: K K^T and Q K^T blocks, two
  unit-triangular solves; Mamba-2: C B^T blocks; GLA: decay-weighted Q K^T blocks, each chunk's
  full C x C even where causality zeroes it); a decoded token with a state runs the step form.
"""

from __future__ import annotations

from suite.config import ModelConfig, gla_sub_chunk

STATE_BYTES = 4  # recurrent states are kept in fp32 whatever the model's dtype (they accumulate)
GLA_GATE_RANK = 16  # fla gate_low_rank_dim


def conv_channels(cfg: ModelConfig, kind: str) -> int:
    if kind == "gated_deltanet":
        return 2 * cfg.linear_k_heads * cfg.linear_k_head_dim + cfg.linear_v_heads * cfg.linear_v_head_dim
    if kind == "mamba2":
        return cfg.ssm_heads * cfg.ssm_head_dim + 2 * cfg.ssm_groups * cfg.ssm_state_size
    if kind == "gla":
        return 0  # fla's default: no short conv
    return cfg.d_model


def recurrent_elements(cfg: ModelConfig, kind: str) -> int:
    """Elements of the recurrent state of one sequence (0 for the short conv: its state is the conv tail)."""
    if kind in ("gated_deltanet", "gla"):
        return cfg.linear_v_heads * cfg.linear_k_head_dim * cfg.linear_v_head_dim
    if kind == "mamba2":
        return cfg.ssm_heads * cfg.ssm_head_dim * cfg.ssm_state_size
    return 0


def state_bytes(cfg: ModelConfig, kind: str, dtype_bytes: float) -> float:
    """One sequence's state in one mixer layer: the conv tail (model dtype) + the recurrent state (fp32)."""
    tail = conv_channels(cfg, kind) * (cfg.mixer_conv_kernel - 1)
    return tail * dtype_bytes + recurrent_elements(cfg, kind) * STATE_BYTES


def projection_weights(cfg: ModelConfig, kind: str) -> int:
    """Weights every token multiplies: the layer's parameters minus the conv, gates, norms and biases."""
    d = cfg.d_model
    if kind == "gated_deltanet":
        key, value = cfg.linear_k_heads * cfg.linear_k_head_dim, cfg.linear_v_heads * cfg.linear_v_head_dim
        return d * (2 * key + 2 * value) + d * 2 * cfg.linear_v_heads + value * d
    if kind == "mamba2":
        inner = cfg.ssm_heads * cfg.ssm_head_dim
        return d * (inner + conv_channels(cfg, kind) + cfg.ssm_heads) + inner * d
    if kind == "short_conv":
        return 4 * d * d
    if kind == "gla":
        key, value = cfg.linear_k_heads * cfg.linear_k_head_dim, cfg.linear_v_heads * cfg.linear_v_head_dim
        return d * (2 * key + 2 * value) + GLA_GATE_RANK * (d + key) + value * d
    raise ValueError(f"not a mixer layer type: {kind!r}")


def _core_step(cfg: ModelConfig, kind: str) -> int:
    """Products of the recurrent step for one token."""
    if kind == "gated_deltanet":
        return 6 * cfg.linear_v_heads * cfg.linear_k_head_dim * cfg.linear_v_head_dim
    if kind == "mamba2":
        return 4 * cfg.ssm_heads * cfg.ssm_head_dim * cfg.ssm_state_size
    if kind == "gla":
        return 4 * cfg.linear_v_heads * cfg.linear_k_head_dim * cfg.linear_v_head_dim
    return 0


def _core_chunked(cfg: ModelConfig, kind: str, new: int) -> int:
    """Products of the chunked form over `new` tokens, padded to whole chunks."""
    c = cfg.mixer_chunk_size
    chunks = -(-new // c)
    if kind == "gated_deltanet":
        h, dk, dv = cfg.linear_v_heads, cfg.linear_k_head_dim, cfg.linear_v_head_dim
        products = 2 * h * c * (2 * c * dk + 3 * dk * dv + c * dv)
        solves = h * c * (c - 1) * (dk + dv)  # unit-triangular forward substitution, c(c-1) per column
        return chunks * (products + solves)
    if kind == "mamba2":
        h, p, n = cfg.ssm_heads, cfg.ssm_head_dim, cfg.ssm_state_size
        return chunks * 2 * h * c * (c * n + c * p + 2 * p * n)
    if kind == "gla":
        h, dk, dv = cfg.linear_v_heads, cfg.linear_k_head_dim, cfg.linear_v_head_dim
        sub = gla_sub_chunk(c)
        # diagonal sub-blocks, the blocks below them, attn @ V, and reading and writing the state
        return chunks * 2 * h * c * (sub * dk + c * dk + c * dv + 2 * dk * dv)
    return 0


def mixer_layer_flops(cfg: ModelConfig, kind: str, past: int, new: int, counting: str) -> int:
    """One mixer layer's FLOPs for a pass of `new` tokens after `past` (batch 1)."""
    if new == 0:
        return 0
    proj = 2 * new * projection_weights(cfg, kind)
    conv = 2 * new * conv_channels(cfg, kind) * cfg.mixer_conv_kernel
    if counting == "useful" or (past > 0 and new == 1):
        return proj + conv + new * _core_step(cfg, kind)
    return proj + conv + _core_chunked(cfg, kind, new)


def backward_excess(cfg: ModelConfig, kind: str, new: int) -> int:
    """Executed backward FLOPs of one mixer layer's chunked core minus 2 x its forward.

    The backward of a unit-triangular solve X = A^-1 B is one more solve plus the product for dA
    (2·C²·r); the first chunk reads a zero initial state, which needs no gradient (one product
    instead of two); the last state update feeds nothing the loss sees (no backward)."""
    c, chunks = cfg.mixer_chunk_size, -(-new // cfg.mixer_chunk_size)
    if kind == "gated_deltanet":
        h, dk, dv = cfg.linear_v_heads, cfg.linear_k_head_dim, cfg.linear_v_head_dim
        state_product = 2 * h * c * dk * dv
        return h * chunks * c * (c + 1) * (dk + dv) - 4 * state_product
    if kind == "mamba2":
        # one chunk: its state contributions feed only the final state, which nothing reads
        state_product = 2 * cfg.ssm_heads * c * cfg.ssm_state_size * cfg.ssm_head_dim
        return -state_product - (2 * state_product if chunks == 1 else 0)
    if kind == "gla":
        # as above: one product less for the zero initial state, two for the last write
        return -3 * 2 * cfg.linear_v_heads * c * cfg.linear_k_head_dim * cfg.linear_v_head_dim
    return 0
