"""MLPs: GELU, gated (SwiGLU, GeGLU, gpt-oss clamped SwiGLU) and mixture-of-experts.

MoE routing is vectorised: (token, slot) pairs are sorted by expert and each expert runs one matmul
over all its tokens; the only Python loop is over experts, never over tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

OSS_ALPHA = 1.702  # gpt-oss: glu = gate * sigmoid(alpha * gate)


def activation(cfg):
    if cfg.mlp == "swiglu":
        return F.silu
    return lambda x: F.gelu(x, approximate=cfg.gelu_approximation)


def gated(cfg, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    if cfg.swiglu_limit is not None:
        gate = gate.clamp(max=cfg.swiglu_limit)
        up = up.clamp(-cfg.swiglu_limit, cfg.swiglu_limit)
        return (up + 1) * (gate * torch.sigmoid(gate * OSS_ALPHA))
    return activation(cfg)(gate) * up


class DenseMLP(nn.Module):
    # the analytic cost component of the products this module runs itself, and of its children's
    flop_component: tuple[str, str | None] = ("mlp", "mlp")

    def __init__(self, cfg, hidden: int):
        super().__init__()
        self.cfg = cfg
        self.is_gated = cfg.mlp != "gelu"
        if self.is_gated:
            self.gate_proj = nn.Linear(cfg.d_model, hidden, bias=cfg.mlp_bias)
        self.up_proj = nn.Linear(cfg.d_model, hidden, bias=cfg.mlp_bias)
        self.down_proj = nn.Linear(hidden, cfg.d_model, bias=cfg.mlp_bias)

    def forward(self, x):
        if self.is_gated:
            return self.down_proj(gated(self.cfg, self.gate_proj(x), self.up_proj(x)))
        return self.down_proj(activation(self.cfg)(self.up_proj(x)))


# ------------------------------------------------------------------ routers
def _softmax_topk(cfg, logits, bias):
    probs = torch.softmax(logits.float(), dim=-1)
    return torch.topk(probs, cfg.experts_top_k, dim=-1)


def _topk_softmax(cfg, logits, bias):
    values, index = torch.topk(logits, cfg.experts_top_k, dim=-1)
    return torch.softmax(values.float(), dim=-1), index


def _sigmoid(cfg, logits, bias):
    scores = torch.sigmoid(logits.float())
    choice = scores + bias if bias is not None else scores
    if cfg.router_groups > 1:
        n, e = choice.shape
        grouped = choice.view(n, cfg.router_groups, e // cfg.router_groups)
        group_scores = grouped.topk(2, dim=-1).values.sum(-1)  # (N, G)
        keep = torch.zeros_like(group_scores).scatter_(
            1, group_scores.topk(cfg.router_topk_groups, dim=-1).indices, 1.0
        )
        # -inf, not 0: with a negative correction bias every kept score can be below 0
        choice = choice.masked_fill(~keep.bool().repeat_interleave(e // cfg.router_groups, dim=1), float("-inf"))
    index = torch.topk(choice, cfg.experts_top_k, dim=-1).indices
    return scores.gather(1, index), index


ROUTERS = {"softmax_topk": _softmax_topk, "topk_softmax": _topk_softmax, "sigmoid": _sigmoid}


class MoE(nn.Module):
    """Routed experts (stacked weights, (E, in, out)) plus optional always-on shared experts."""

    # the analytic cost component of the products this module runs itself, and of its children's
    flop_component: tuple[str, str | None] = ("experts", "experts")

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        e, d, hidden = cfg.n_experts, cfg.d_model, cfg.expert_size
        self.is_gated = cfg.mlp != "gelu"
        self.router = nn.Linear(d, e, bias=cfg.router_bias)
        if cfg.router == "sigmoid":
            # DeepSeek-V3's e_score_correction_bias: a load-balancing buffer, not a trained parameter
            self.register_buffer("router_correction", torch.zeros(e))
        if self.is_gated:
            self.gate = nn.Parameter(torch.empty(e, d, hidden))
        self.up = nn.Parameter(torch.empty(e, d, hidden))
        self.down = nn.Parameter(torch.empty(e, hidden, d))
        if cfg.mlp_bias:
            if self.is_gated:
                self.gate_bias = nn.Parameter(torch.zeros(e, hidden))
            self.up_bias = nn.Parameter(torch.zeros(e, hidden))
            self.down_bias = nn.Parameter(torch.zeros(e, d))
        if cfg.n_shared_experts:
            self.shared = DenseMLP(cfg, cfg.shared_hidden)
            if cfg.shared_expert_gate:  # Qwen2-MoE / Qwen3-Next: a per-token sigmoid gate on the shared expert
                self.shared_gate = nn.Linear(cfg.d_model, 1, bias=False)

    def route(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, d) -> weights (N, k), expert index (N, k)."""
        cfg = self.cfg
        weights, index = ROUTERS[cfg.router](cfg, self.router(x), getattr(self, "router_correction", None))
        if cfg.router_norm_topk:
            weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-20)
        return (weights * cfg.router_scale).to(x.dtype), index

    def _expert(self, e: int, x: torch.Tensor) -> torch.Tensor:
        bias = self.cfg.mlp_bias
        up = x @ self.up[e] + (self.up_bias[e] if bias else 0)
        if self.is_gated:
            gate = x @ self.gate[e] + (self.gate_bias[e] if bias else 0)
            h = gated(self.cfg, gate, up)
        else:
            h = activation(self.cfg)(up)
        return h @ self.down[e] + (self.down_bias[e] if bias else 0)

    def forward(self, x):
        shape = x.shape
        flat = x.reshape(-1, shape[-1])  # (N, d)
        weights, index = self.route(flat)  # (N, k)
        k = index.shape[-1]
        order = torch.argsort(index.reshape(-1), stable=True)  # (N*k,) grouped by expert
        counts = torch.bincount(index.reshape(-1), minlength=self.cfg.n_experts).tolist()
        token = order // k
        inputs = flat[token]
        outputs = torch.empty_like(inputs)
        start = 0
        for e, count in enumerate(counts):
            if count:
                outputs[start : start + count] = self._expert(e, inputs[start : start + count])
                start += count
        outputs = outputs * weights.reshape(-1)[order, None]
        y = torch.zeros_like(flat).index_add_(0, token, outputs)
        if self.cfg.n_shared_experts:
            shared = self.shared(flat)
            if self.cfg.shared_expert_gate:
                shared = shared * torch.sigmoid(self.shared_gate(flat))
            y = y + shared
        return y.view(shape)


def make_mlp(cfg, layer_index: int) -> nn.Module:
    return MoE(cfg) if cfg.is_moe_layer(layer_index) else DenseMLP(cfg, cfg.hidden)
