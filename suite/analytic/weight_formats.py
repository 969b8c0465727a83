"""Weight formats as real checkpoint files store them: bits per value, per-group scales and zero
points, and which tensors stay in 16 bits.

A format quantises a *scope* of the weights and keeps the rest at `keep_bits`:
- `all`: every matrix, embeddings and head included (fp32 / bf16 / fp16, GGUF);
- `linear`: the decoder's linear layers (attention, MLP, experts, mixer projections); embeddings,
  the output head, norms and the MoE router stay 16-bit (AWQ, GPTQ, FP8 checkpoints);
- `experts`: only the routed experts' matrices (gpt-oss's MXFP4 release).
A quantised value costs `bits + (scale_bits + zero_bits) / group` bits. GGUF Q4_K_M follows
llama.cpp's rule: Q4_K (4.5 bits) everywhere except the output head and, on half of the layers,
attn_v and ffn_down, which get Q6_K (6.5625 bits).

Checked against published checkpoint sizes (tests/test_weight_formats.py has the figures and sources).
"""

from __future__ import annotations

from dataclasses import dataclass

from suite.analytic.params import count_params, routed_expert_matrix_params
from suite.config import ConfigError, ModelConfig


@dataclass(frozen=True)
class WeightFormat:
    bits: float  # bits per quantised value
    scope: str  # all | linear | experts (see the module docstring)
    group: int = 0  # values per scale group (0: one scale per tensor or row, negligible)
    scale_bits: float = 0.0
    zero_bits: float = 0.0
    keep_bits: float = 16.0  # what the scope leaves out
    note: str = ""

    @property
    def bits_per_value(self) -> float:
        return self.bits + ((self.scale_bits + self.zero_bits) / self.group if self.group else 0.0)


_AWQ = WeightFormat(4, "linear", 128, 16, 4, note="int4, groups of 128 with an fp16 scale and a 4-bit zero point")
FORMATS: dict[str, WeightFormat] = {
    "fp32": WeightFormat(32, "all", keep_bits=32, note="every tensor fp32"),
    "bf16": WeightFormat(16, "all", note="every tensor bf16"),
    "fp16": WeightFormat(16, "all", note="every tensor fp16"),
    "fp8": WeightFormat(8, "linear", note="FP8 linear layers, one scale per tensor; embeddings, head, router bf16"),
    "fp8_block": WeightFormat(
        8, "linear", 128 * 128, 32, note="FP8 linear layers in 128x128 blocks with an fp32 scale (DeepSeek-V3)"
    ),
    "int8": WeightFormat(8, "linear", note="int8 linear layers, a scale per output row; embeddings, head, router bf16"),
    "int4": _AWQ,
    "awq-int4-g128": _AWQ,
    "gptq-int4-g128": WeightFormat(4, "linear", 128, 16, 4, note="GPTQ int4 g128 (no act-order): as AWQ"),
    "mxfp4": WeightFormat(
        4, "experts", 32, 8, note="routed-expert matrices MXFP4 (4 bits + an 8-bit scale per 32), the rest bf16"
    ),
    "gguf-q8_0": WeightFormat(8, "all", 32, 16, keep_bits=32, note="GGUF Q8_0: blocks of 32 with an fp16 scale"),
    "gguf-q4_k_m": WeightFormat(
        4.5, "all", keep_bits=32, note="GGUF Q4_K_M: Q4_K (4.5 bits); head and half the layers' attn_v/ffn_down Q6_K"
    ),
}
Q6_K_BITS = 6.5625


def get_format(name: str) -> WeightFormat:
    if name not in FORMATS:
        raise ConfigError(f"unknown dtype '{name}'; choose one of: {', '.join(FORMATS)}.", field="dtype")
    return FORMATS[name]


def _parts(cfg: ModelConfig) -> dict[str, int]:
    """Parameters by how formats treat them."""
    counts = count_params(cfg)
    by = counts["by_component"]
    embedding, head = counts["embedding"], by["lm_head"]
    experts = routed_expert_matrix_params(cfg)
    kept = by["norms"] + by["router"]
    return dict(
        embedding=embedding,
        head=head,
        experts=experts,
        linear=counts["total"] - embedding - head - experts - kept,
        kept=kept,
    )


def _more_bits_layers(n_layers: int) -> int:
    """llama.cpp's `use_more_bits`: the first and last eighth of the layers and every third between."""
    return sum(i < n_layers // 8 or i >= 7 * n_layers // 8 or (i - n_layers // 8) % 3 == 2 for i in range(n_layers))


def _q4_k_m_upgraded(cfg: ModelConfig) -> int:
    """Parameters of attn_v and ffn_down on the layers that get Q6_K under Q4_K_M."""
    v = cfg.d_model * cfg.kv_heads * cfg.value_head_size if not cfg.latent_attention else 0
    if cfg.is_moe:
        down = cfg.d_model * (cfg.n_experts * cfg.expert_size + (cfg.shared_hidden if cfg.n_shared_experts else 0))
    else:
        down = cfg.d_model * cfg.hidden if cfg.has_mlp else 0
    return _more_bits_layers(cfg.n_layers) * (v + down)


def weights_bytes(cfg: ModelConfig, name: str, *, experts_read: float = 1.0, embedding_read: float = 1.0) -> int:
    """Bytes of the weights in format `name`; `experts_read` / `embedding_read` scale those parts
    (a decode step reads only the routed experts and the embedding rows it looks up)."""
    fmt = get_format(name)
    p = _parts(cfg)
    q, keep = fmt.bits_per_value, fmt.keep_bits
    embedding = p["embedding"] * embedding_read
    if name == "gguf-q4_k_m":
        upgraded = _q4_k_m_upgraded(cfg)
        bits = (
            embedding * q
            + p["head"] * Q6_K_BITS
            + (p["linear"] + p["experts"] * experts_read - upgraded) * q
            + upgraded * Q6_K_BITS
            + p["kept"] * keep
        )
        return int(round(bits / 8))
    if fmt.scope == "all":
        bits = (embedding + p["head"] + p["linear"] + p["experts"] * experts_read) * q + p["kept"] * keep
    elif fmt.scope == "linear":
        bits = (p["linear"] + p["experts"] * experts_read) * q + (embedding + p["head"] + p["kept"]) * keep
    else:  # experts
        bits = p["experts"] * experts_read * q + (embedding + p["head"] + p["linear"] + p["kept"]) * keep
    return int(round(bits / 8))
