"""Tensor-name rules: where each of our parameters comes from in each model type's checkpoint.

A rule maps a regex on our parameter name to checkpoint tensor names and how to combine them.
Layout conversions live next to the names they convert: GPT-2's Conv1D stores (in, out) and fuses
q/k/v; gpt-oss interleaves gate/up columns in one (E, in, 2*hidden) tensor; Gemma's and Qwen3-Next's
RMSNorms store w and multiply by (1 + w); Qwen3-MoE and DeepSeek-V3 store one Linear per expert (we
stack them as (E, in, out)); DeepSeek's `e_score_correction_bias` is our `router_correction` buffer;
Granite stacks [gate; up] rows in one `input_linear`. Mixer layers (`blocks.N.attn.mixer.*`) carry
transformers' own parameter names, so they map by prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import torch

from suite.config import ModelConfig


@dataclass(frozen=True)
class Source:
    """Where one of our tensors comes from: checkpoint tensor names and how to combine them."""

    keys: tuple[str, ...]
    build: Callable[..., torch.Tensor] = lambda t: t


def _same(key: str) -> list[Source]:
    return [Source((key,))]


def _t(w: torch.Tensor) -> torch.Tensor:
    return w.t()


def _plus_one(w: torch.Tensor) -> torch.Tensor:
    return w + 1  # Gemma's RMSNorm computes x * (1 + w); ours computes x * w


# A rule maps a regex on our parameter name to the sources (alternatives, first complete one wins).
Rule = tuple[str, Callable[[re.Match, ModelConfig], list[Source]]]


def _rename(template: str) -> Callable[[re.Match, ModelConfig], list[Source]]:
    return lambda m, cfg: _same(m.expand(template))


def llama_rules(post: bool = False) -> list[Rule]:
    """Llama naming; `post`: OLMo-2's norms sit after the sublayers."""
    layer = r"model.layers.\1."
    norms = (
        [
            (r"blocks\.(\d+)\.attn_post_norm\.weight", _rename(layer + "post_attention_layernorm.weight")),
            (r"blocks\.(\d+)\.mlp_post_norm\.weight", _rename(layer + "post_feedforward_layernorm.weight")),
        ]
        if post
        else [
            (r"blocks\.(\d+)\.attn_norm\.weight", _rename(layer + "input_layernorm.weight")),
            (r"blocks\.(\d+)\.mlp_norm\.weight", _rename(layer + "post_attention_layernorm.weight")),
        ]
    )
    return [
        (r"tok_emb\.weight", _rename("model.embed_tokens.weight")),
        (r"final_norm\.weight", _rename("model.norm.weight")),
        (r"lm_head\.weight", _rename("lm_head.weight")),
        *norms,
        (r"blocks\.(\d+)\.attn\.(.+)", _rename(layer + r"self_attn.\2")),
        (r"blocks\.(\d+)\.mlp\.(gate_proj|up_proj|down_proj)\.(weight|bias)", _rename(layer + r"mlp.\2.\3")),
    ]


def gemma3_rules() -> list[Rule]:
    def norm(template: str):
        return lambda m, cfg: [Source((m.expand(template),), _plus_one)]

    layer = r"model.layers.\1."
    return [
        (r"final_norm\.weight", norm("model.norm.weight")),
        (r"blocks\.(\d+)\.attn_norm\.weight", norm(layer + "input_layernorm.weight")),
        (r"blocks\.(\d+)\.attn_post_norm\.weight", norm(layer + "post_attention_layernorm.weight")),
        (r"blocks\.(\d+)\.mlp_norm\.weight", norm(layer + "pre_feedforward_layernorm.weight")),
        (r"blocks\.(\d+)\.mlp_post_norm\.weight", norm(layer + "post_feedforward_layernorm.weight")),
        (r"blocks\.(\d+)\.attn\.(q_norm|k_norm)\.weight", norm(layer + r"self_attn.\2.weight")),
        *llama_rules(),
    ]


def _stacked_experts(m: re.Match, cfg: ModelConfig) -> list[Source]:
    """Our (E, in, out) stack from one Linear (out, in) per expert, or transformers-5's fused tensors."""
    layer, which = m.group(1), m.group(2)
    base = f"model.layers.{layer}.mlp.experts"
    per_expert = Source(
        tuple(f"{base}.{e}.{which}_proj.weight" for e in range(cfg.n_experts)),
        lambda *ws: torch.stack([w.t() for w in ws]),
    )
    h = cfg.expert_size
    fused = {
        "gate": Source((f"{base}.gate_up_proj",), lambda w: w[:, :h].transpose(1, 2)),
        "up": Source((f"{base}.gate_up_proj",), lambda w: w[:, h:].transpose(1, 2)),
        "down": Source((f"{base}.down_proj",), lambda w: w.transpose(1, 2)),
    }[which]
    return [per_expert, fused]


def qwen3_moe_rules() -> list[Rule]:
    return [
        (r"blocks\.(\d+)\.mlp\.router\.weight", _rename(r"model.layers.\1.mlp.gate.weight")),
        (r"blocks\.(\d+)\.mlp\.(gate|up|down)$", _stacked_experts),
        *llama_rules(),
    ]


def deepseek_rules() -> list[Rule]:
    attn = r"model.layers.\1.self_attn."
    return [
        (r"blocks\.(\d+)\.attn\.kv_a_proj\.(weight|bias)", _rename(attn + r"kv_a_proj_with_mqa.\2")),
        (r"blocks\.(\d+)\.attn\.q_a_norm\.weight", _rename(attn + "q_a_layernorm.weight")),
        (r"blocks\.(\d+)\.attn\.kv_a_norm\.weight", _rename(attn + "kv_a_layernorm.weight")),
        (r"blocks\.(\d+)\.mlp\.router\.weight", _rename(r"model.layers.\1.mlp.gate.weight")),
        (r"blocks\.(\d+)\.mlp\.router_correction", _rename(r"model.layers.\1.mlp.gate.e_score_correction_bias")),
        (r"blocks\.(\d+)\.mlp\.shared\.(\w+)\.weight", _rename(r"model.layers.\1.mlp.shared_experts.\2.weight")),
        (r"blocks\.(\d+)\.mlp\.(gate|up|down)$", _stacked_experts),
        *llama_rules(),
    ]


def gpt_oss_rules() -> list[Rule]:
    experts = r"model.layers.\1.mlp.experts."

    def column(name: str, part: slice):
        # gate and up are interleaved columns of one (E, in, 2*hidden) tensor: gate = ::2, up = 1::2
        return lambda m, cfg: [Source((m.expand(experts + name),), lambda w: w[..., part])]

    return [
        (r"blocks\.(\d+)\.mlp\.router\.(weight|bias)", _rename(r"model.layers.\1.mlp.router.\2")),
        (r"blocks\.(\d+)\.mlp\.gate$", column("gate_up_proj", slice(0, None, 2))),
        (r"blocks\.(\d+)\.mlp\.up$", column("gate_up_proj", slice(1, None, 2))),
        (r"blocks\.(\d+)\.mlp\.gate_bias$", column("gate_up_proj_bias", slice(0, None, 2))),
        (r"blocks\.(\d+)\.mlp\.up_bias$", column("gate_up_proj_bias", slice(1, None, 2))),
        (r"blocks\.(\d+)\.mlp\.down$", _rename(experts + "down_proj")),
        (r"blocks\.(\d+)\.mlp\.down_bias$", _rename(experts + "down_proj_bias")),
        *llama_rules(),
    ]


def gpt2_rules() -> list[Rule]:
    h = r"transformer.h.\1."

    def qkv(part: str):
        # Conv1D c_attn: y = x @ W + b with W (d, 3d) holding q | k | v; ours are Linear (out, in)
        j = "qkv".index(part)

        def build(w):
            d = w.shape[-1] // 3
            piece = w[..., j * d : (j + 1) * d]
            return piece.t() if piece.dim() == 2 else piece

        return lambda m, cfg: [Source((m.expand(h + r"attn.c_attn.\2"),), build)]

    def conv(template: str):
        return lambda m, cfg: [Source((m.expand(template),), _t if m.group(2) == "weight" else (lambda b: b))]

    return [
        (r"tok_emb\.weight", _rename("transformer.wte.weight")),
        (r"pos_emb\.weight", _rename("transformer.wpe.weight")),
        (r"final_norm\.(weight|bias)", _rename(r"transformer.ln_f.\1")),
        (r"lm_head\.weight", _rename("lm_head.weight")),
        (r"blocks\.(\d+)\.attn_norm\.(weight|bias)", _rename(h + r"ln_1.\2")),
        (r"blocks\.(\d+)\.mlp_norm\.(weight|bias)", _rename(h + r"ln_2.\2")),
        (r"blocks\.(\d+)\.attn\.q_proj\.(weight|bias)", qkv("q")),
        (r"blocks\.(\d+)\.attn\.k_proj\.(weight|bias)", qkv("k")),
        (r"blocks\.(\d+)\.attn\.v_proj\.(weight|bias)", qkv("v")),
        (r"blocks\.(\d+)\.attn\.o_proj\.(weight|bias)", conv(h + r"attn.c_proj.\2")),
        (r"blocks\.(\d+)\.mlp\.up_proj\.(weight|bias)", conv(h + r"mlp.c_fc.\2")),
        (r"blocks\.(\d+)\.mlp\.down_proj\.(weight|bias)", conv(h + r"mlp.c_proj.\2")),
    ]


def _zero_centred(template: str):
    return lambda m, cfg: [Source((m.expand(template),), _plus_one)]


def qwen3_next_rules() -> list[Rule]:
    layer = r"model.layers.\1."
    return [
        # the Gated DeltaNet's own gated norm stores w itself: mapped before the (1 + w) norms
        (r"blocks\.(\d+)\.attn\.mixer\.(.+)", _rename(layer + r"linear_attn.\2")),
        (r"final_norm\.weight", _zero_centred("model.norm.weight")),
        (r"blocks\.(\d+)\.attn_norm\.weight", _zero_centred(layer + "input_layernorm.weight")),
        (r"blocks\.(\d+)\.mlp_norm\.weight", _zero_centred(layer + "post_attention_layernorm.weight")),
        (r"blocks\.(\d+)\.attn\.(q_norm|k_norm)\.weight", _zero_centred(layer + r"self_attn.\2.weight")),
        (r"blocks\.(\d+)\.mlp\.shared\.(\w+)\.weight", _rename(layer + r"mlp.shared_expert.\2.weight")),
        (r"blocks\.(\d+)\.mlp\.shared_gate\.weight", _rename(layer + "mlp.shared_expert_gate.weight")),
        *qwen3_moe_rules(),
    ]


def mamba2_rules() -> list[Rule]:
    layer = r"backbone.layers.\1."
    embedding = [Source(("backbone.embeddings.weight",)), Source(("backbone.embedding.weight",))]  # older name
    return [
        (r"tok_emb\.weight", lambda m, cfg: embedding),
        (r"final_norm\.weight", _rename("backbone.norm_f.weight")),
        (r"lm_head\.weight", _rename("lm_head.weight")),
        (r"blocks\.(\d+)\.attn_norm\.weight", _rename(layer + "norm.weight")),
        (r"blocks\.(\d+)\.attn\.mixer\.(.+)", _rename(layer + r"mixer.\2")),
    ]


def _granite_experts(m: re.Match, cfg: ModelConfig) -> list[Source]:
    """Our (E, in, out) stacks from input_linear (E, [gate; up], in) and output_linear (E, out, hidden), or
    transformers-5's renamed experts.gate_up_proj / experts.down_proj (same layouts)."""
    base, which, h = f"model.layers.{m.group(1)}.block_sparse_moe.", m.group(2), cfg.expert_size
    build = {
        "gate": lambda w: w[:, :h].transpose(1, 2),
        "up": lambda w: w[:, h:].transpose(1, 2),
        "down": lambda w: w.transpose(1, 2),
    }[which]
    stored = "output_linear.weight" if which == "down" else "input_linear.weight"
    renamed = "experts.down_proj" if which == "down" else "experts.gate_up_proj"
    return [Source((base + stored,), build), Source((base + renamed,), build)]


def _granite_shared(m: re.Match, cfg: ModelConfig) -> list[Source]:
    """The shared MLP (or, without experts, the dense MLP): input_linear holds [gate; up] rows."""
    base, which = f"model.layers.{m.group(1)}.shared_mlp.", m.group(2)
    if which == "down_proj":
        return [Source((base + "output_linear.weight",))]
    h = cfg.shared_hidden if cfg.is_moe else cfg.hidden
    part = slice(0, h) if which == "gate_proj" else slice(h, None)
    return [Source((base + "input_linear.weight",), lambda w: w[part])]


def granite_rules() -> list[Rule]:
    moe = r"model.layers.\1.block_sparse_moe."
    router = lambda m, cfg: [Source((m.expand(moe + name),)) for name in ("router.layer.weight", "router.weight")]
    return [
        (r"blocks\.(\d+)\.attn\.mixer\.(.+)", _rename(r"model.layers.\1.mamba.\2")),
        (r"blocks\.(\d+)\.mlp\.router\.weight", router),
        (r"blocks\.(\d+)\.mlp\.(gate|up|down)$", _granite_experts),
        (r"blocks\.(\d+)\.mlp\.shared\.(gate_proj|up_proj|down_proj)\.weight", _granite_shared),
        (r"blocks\.(\d+)\.mlp\.(gate_proj|up_proj|down_proj)\.weight", _granite_shared),
        *llama_rules(),
    ]


def _mixtral_experts(m: re.Match, cfg: ModelConfig) -> list[Source]:
    """Mixtral stores w1 (gate), w3 (up), w2 (down) per expert; transformers 5 renames them as Qwen's."""
    base, which = f"model.layers.{m.group(1)}.block_sparse_moe.experts", m.group(2)
    w = {"gate": "w1", "up": "w3", "down": "w2"}[which]
    stored = Source(
        tuple(f"{base}.{e}.{w}.weight" for e in range(cfg.n_experts)), lambda *ws: torch.stack([x.t() for x in ws])
    )
    return [stored, *_stacked_experts(m, cfg)]


def mixtral_rules() -> list[Rule]:
    def router(m, cfg):
        return [Source((m.expand(rf"model.layers.\1.{part}.gate.weight"),)) for part in ("block_sparse_moe", "mlp")]

    return [
        (r"blocks\.(\d+)\.mlp\.router\.weight", router),
        (r"blocks\.(\d+)\.mlp\.(gate|up|down)$", _mixtral_experts),
        *llama_rules(),
    ]


def qwen2_moe_rules() -> list[Rule]:
    layer = r"model.layers.\1."
    return [
        (r"blocks\.(\d+)\.mlp\.shared\.(\w+)\.weight", _rename(layer + r"mlp.shared_expert.\2.weight")),
        (r"blocks\.(\d+)\.mlp\.shared_gate\.weight", _rename(layer + "mlp.shared_expert_gate.weight")),
        *qwen3_moe_rules(),
    ]


def phi3_rules() -> list[Rule]:
    """Phi-3 fuses q|k|v rows in qkv_proj and gate|up rows in gate_up_proj: we split the rows."""
    layer = r"model.layers.\1."

    def rows(fused: str, part: int):
        def build(m: re.Match, cfg: ModelConfig) -> list[Source]:
            if fused == "self_attn.qkv_proj":
                q, kv = cfg.n_heads * cfg.head_size, cfg.kv_heads * cfg.head_size
                bounds = [(0, q), (q, q + kv), (q + kv, q + 2 * kv)][part]
            else:
                bounds = [(0, cfg.hidden), (cfg.hidden, 2 * cfg.hidden)][part]
            return [Source((m.expand(layer + fused + ".weight"),), lambda w: w[bounds[0] : bounds[1]])]

        return build

    return [
        *[(rf"blocks\.(\d+)\.attn\.{n}_proj\.weight", rows("self_attn.qkv_proj", i)) for i, n in enumerate("qkv")],
        (r"blocks\.(\d+)\.mlp\.gate_proj\.weight", rows("mlp.gate_up_proj", 0)),
        (r"blocks\.(\d+)\.mlp\.up_proj\.weight", rows("mlp.gate_up_proj", 1)),
        *llama_rules(),
    ]
