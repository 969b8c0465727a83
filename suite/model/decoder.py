"""The composable decoder: blocks, model, generate. Everything is chosen from `ModelConfig` fields.

Norm placement: `pre` (GPT-2, Llama: norm before each sublayer), `post` (OLMo-2: norm the sublayer's
output before the residual add), `sandwich` (Gemma-3: both).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from suite.config import ModelConfig
from suite.model.attention import ATTENTIONS, KVCache, LayerCache
from suite.model.mixing import MIXERS, init_mixer_
from suite.model.mlp import make_mlp
from suite.model.norm import make_norm
from suite.model.position import Rotary


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, index: int):
        super().__init__()
        self.kind = cfg.layer_kinds[index]
        self.pre = cfg.norm_placement in ("pre", "sandwich")
        self.post = cfg.norm_placement in ("post", "sandwich")
        self.has_mlp = cfg.has_mlp  # mlp 'none': the block is its mixer only (Mamba-2 models)
        if self.pre:
            self.attn_norm = make_norm(cfg)
            if self.has_mlp:
                self.mlp_norm = make_norm(cfg)
        if self.post:
            self.attn_post_norm = make_norm(cfg)
            if self.has_mlp:
                self.mlp_post_norm = make_norm(cfg)
        # the sequence mixer: attention, or a linear / state-space mixer named by the layer type
        self.attn = MIXERS[self.kind](cfg, index) if self.kind in MIXERS else ATTENTIONS[cfg.attention](cfg, index)
        if self.has_mlp:
            self.mlp = make_mlp(cfg, index)
        self.residual_multiplier = cfg.residual_multiplier
        self.drop = nn.Dropout(cfg.dropout)

    def _residual(self, x, h):
        # Granite scales each sublayer's output; the usual 1.0 adds nothing to the graph
        return x + (h * self.residual_multiplier if self.residual_multiplier != 1.0 else h)

    def forward(self, x, rope, cache: LayerCache | None, start: int):
        h = self.attn(self.attn_norm(x) if self.pre else x, rope, cache, start)
        x = self._residual(x, self.drop(self.attn_post_norm(h) if self.post else h))
        if not self.has_mlp:
            return x
        h = self.mlp(self.mlp_norm(x) if self.pre else x)
        return self._residual(x, self.drop(self.mlp_post_norm(h) if self.post else h))


class Decoder(nn.Module):
    # the analytic cost component of the products this module runs itself, and of its children's
    flop_component: tuple[str, str | None] = ("lm_head", None)

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        if cfg.position == "learned":
            self.pos_emb = nn.Embedding(cfg.context_length, cfg.d_model)
        if cfg.position == "rope":
            # mixers carry position in their recurrence; a NoPE layer gets no table, so attention skips RoPE
            kinds = sorted(set(cfg.layer_kinds) - set(MIXERS) - {"full_nope"})
            self.rotary = nn.ModuleDict({kind: Rotary(cfg, kind) for kind in kinds})
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.final_norm = make_norm(cfg)
        if not cfg.tie_embeddings:
            self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.gradient_checkpointing = False

    # ------------------------------------------------------------------ api
    def new_cache(self) -> KVCache:
        return KVCache(
            [block.attn.new_cache() if hasattr(block.attn, "new_cache") else LayerCache(block.attn.window)
             for block in self.blocks]
        )  # fmt: skip

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None, *, hidden_only: bool = False):
        """idx (B, T) -> logits (B, T, vocab). With a cache, positions continue from what it holds."""
        cfg = self.cfg
        b, t = idx.shape
        start = cache.length if cache is not None else 0
        if cfg.position == "learned" and start + t > cfg.context_length:
            raise ValueError(
                f"{cfg.name}: position {start + t - 1} is past the {cfg.context_length} learned "
                f"positions (context_length)"
            )
        x = self.tok_emb(idx)  # (B, T, d)
        if cfg.scale_embeddings:
            x = x * torch.tensor(math.sqrt(cfg.d_model), dtype=x.dtype)
        if cfg.embedding_multiplier != 1.0:
            x = x * cfg.embedding_multiplier
        positions = torch.arange(start, start + t, device=idx.device)
        if cfg.position == "learned":
            x = x + self.pos_emb(positions)
        x = self.drop(x)
        ropes = {kind: rot(positions, x.dtype) for kind, rot in self.rotary.items()} if cfg.position == "rope" else {}
        for i, block in enumerate(self.blocks):
            layer_cache = cache.layers[i] if cache is not None else None
            rope = ropes.get(block.kind)
            if self.gradient_checkpointing and self.training and cache is None:
                x = checkpoint(block, x, rope, None, start, use_reentrant=False)
            else:
                x = block(x, rope, layer_cache, start)
        x = self.final_norm(x)
        if hidden_only:
            return x
        return self.logits(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.tok_emb.weight if self.cfg.tie_embeddings else self.lm_head.weight
        logits = F.linear(x, weight)
        if self.cfg.logits_scaling != 1.0:
            logits = logits / self.cfg.logits_scaling
        if self.cfg.final_logit_softcap is not None:
            logits = torch.tanh(logits / self.cfg.final_logit_softcap) * self.cfg.final_logit_softcap
        return logits

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 0.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        stop: set[int] | None = None,
    ) -> torch.Tensor:
        """Greedy (temperature 0) or sampled continuation using the KV cache; returns prompt + new tokens."""
        cache = self.new_cache()
        logits = self(idx, cache=cache)[:, -1]
        out = [idx]
        for _ in range(max_new_tokens):
            if temperature <= 0:
                nxt = logits.argmax(dim=-1, keepdim=True)
            else:
                scaled = logits / temperature
                if top_k is not None:
                    kth = torch.topk(scaled, min(top_k, scaled.shape[-1])).values[:, -1:]
                    scaled = scaled.masked_fill(scaled < kth, float("-inf"))
                nxt = torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator)
            out.append(nxt)
            if stop is not None and idx.shape[0] == 1 and int(nxt) in stop:
                break
            logits = self(nxt, cache=cache)[:, -1]
        return torch.cat(out, dim=1)


def init_weights(model: Decoder, seed: int | None = 0) -> None:
    """GPT-2 style: N(0, 0.02), residual output projections scaled by 1/sqrt(2 * n_layers)."""
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    std = 0.02
    residual_std = std / math.sqrt(2 * model.cfg.n_layers)
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if "norm" in name.rsplit(".", 2)[-2] or leaf == "sinks" or leaf.endswith("bias"):
                if "norm" in name.rsplit(".", 2)[-2] and leaf == "weight":
                    p.fill_(1.0)
                else:
                    p.zero_()
                continue
            s = residual_std if ("o_proj" in name or "down" in name or "out_proj" in name) else std
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.dtype) * s)
    init_mixer_(model)


def column_major_linears(model: nn.Module) -> None:
    """Store every nn.Linear weight column-major: the (out, in) parameter becomes a transposed view
    of a contiguous (in, out) buffer. Values, shapes and state-dict are unchanged (to_empty, .to and
    load_state_dict keep the strides); F.linear then multiplies by a row-major (in, out) matrix,
    which MKL's one-token GEMV streams faster on CPU (GPT-2-small decode: 1.10x -> 0.99x of
    transformers, whose Conv1D has this layout); prefill and training steps are unchanged.
    Measured by tests/benchmarks/test_vs_transformers.py."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.weight.data = module.weight.data.t().contiguous().t()


def build_model(
    cfg: ModelConfig,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    seed: int | None = 0,
) -> Decoder:
    """A Decoder for cfg. On the `meta` device nothing is allocated (for full-size analysis)."""
    with torch.device(device or "cpu"):
        model = Decoder(cfg)
    column_major_linears(model)
    if str(device) != "meta":
        init_weights(model, seed)
    if dtype is not None:
        model = model.to(dtype)
    return model
