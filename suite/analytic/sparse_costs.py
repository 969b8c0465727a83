"""DeepSeek Sparse Attention's FLOPs (attention 'dsa', DeepSeek-V3.2), beside `costs` (no torch).

A DSA layer is MLA over each query's top-k keys (`index_topk`) plus the indexer that picks them.
- The indexer ("indexer" component): wk per new token (its key is cached), and once a pass hands
  attention more than k keys, wq_b from the query latent and weights_proj per new token, then each
  of its heads scores q.k against every key the query may see, summed with the per-head weights:
  2 * index_heads * (index_head_dim + 1) FLOPs per query-key pair. It still grows with L^2, with a
  small constant (V3.2: 64 x 129 per pair against MLA's absorbed 128 x 1,088).
- MLA ("attention_proj", "attention_scores"): useful, query p attends to min(p+1, window, k) keys,
  and at most new * k distinct latents need decompressing; executed (what `suite.model` runs), a
  decoded token gathers and decompresses its k keys, a longer pass scores the full block under the
  selection mask (as transformers does).
The indexer runs without gradients (its selection is discrete; DeepSeek trains it with its own loss),
so training counts its forward only.
"""

from __future__ import annotations

from suite.config import ModelConfig


def indexer_flops(cfg: ModelConfig, new: int, held: int, pairs: int) -> int:
    """The indexer of one layer over `new` tokens, `held` keys handed to attention, scoring `pairs`
    query-key pairs. Its keys are always made (the cache keeps them); it scores only when there is
    something to drop (held > index_topk), otherwise every key is selected."""
    hi, di = cfg.index_heads, cfg.index_head_dim
    keys = 2 * new * cfg.d_model * di  # wk
    if held <= cfg.index_topk:
        return keys
    return keys + 2 * new * (cfg.q_lora_rank * hi * di + cfg.d_model * hi) + 2 * pairs * hi * (di + 1)


def selected(cfg: ModelConfig, new: int, held: int, pairs_within_topk: int, executed: bool) -> tuple[int, int]:
    """MLA's (query-key pairs, keys whose latent is decompressed) over the selected keys; `held` keys
    are handed to attention, `pairs_within_topk` are the causal pairs with at most k keys a query."""
    k = cfg.index_topk
    if executed:
        return (min(k, held), min(k, held)) if new == 1 else (new * held, held)
    return pairs_within_topk, min(held, new * k)
