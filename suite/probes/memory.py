"""Peak-memory probe: measured peak memory of prefill, decode and a training step, beside the
analytic prediction and their ratio.

Measured (`peak_memory_bytes`): in a fresh subprocess per phase (`suite.probes.memwatch`, which defines the
counter exactly): the RSS high-water mark during the phase minus the subprocess's baseline after
`import torch` and before the model is built; on CUDA, `torch.cuda.max_memory_allocated` during
the phase (its peak reset just before) minus what was allocated at that baseline. So it counts
weights, optimizer state, KV cache and activations. Each phase's peak mark is reset just before
it runs, after an untimed warm-up of the same phase at a small context (lazy kernel state, AdamW's
moments), so build-time transients do not count. Phases, as the latency probe defines them:

- prefill: a forward over L tokens that fills a fresh KV cache (no grad);
- decode: one decode step at position L (the cache was prefilled with L tokens before the mark);
- train: forward + backward + AdamW step at L tokens (optimizer state already allocated).

Analytic (`peak_memory_bytes_analytic`, `analytic_peak`): weights + what the phase holds at its
peak, from `suite.analytic.costs` (weights, KV cache, training activations and AdamW state) plus the
inference-activation estimate below (`inference_activation_bytes`), which costs.py does not have.

The probe is registered `isolate=True` (the runner runs it in a fresh process), and it measures in
subprocesses of its own as well, so calling it directly gives the same numbers.
"""

from __future__ import annotations

from typing import Any

from suite.analytic import costs
from suite.config import ModelConfig
from suite.probes import Row, probe
from suite.probes.latency import KNOB_DEFAULTS, PHASES, WORKLOADS, Knobs, build, contexts_of, not_measured, phases_of
from suite.probes.memwatch import IsolatedError, cuda_allocated, current_rss, published_bytes, run_isolated
from suite.threads import default_threads, pinned_threads

BYTES = {"fp32": 4, "bf16": 2}


# ---------------------------------------------------------------- analytic side
def _per_token_peak_elements(cfg: ModelConfig) -> dict[str, int]:
    """Values per token alive at the worst moment of each sublayer of a no-grad forward, read off
    suite.model's code (every intermediate is a fresh tensor; a local keeps its tensor alive until
    the function returns). `x` below is the block input (held by the decoder's loop):
    - mlp: x, the residual after attention, the attention output (still bound), the normed input,
      then gelu: up + act; gated: gate + up + act(gate) + product; gpt-oss's clamped form also keeps
      the two clamped copies;
    - attention: x, normed input, q, k, v, then either the rotary temporaries of the tensor being
      rotated (x*cos, rotate_half and its half-size negation, *sin) with the unrotated q alive while
      k rotates, or the attention output, its reshaped copy and the output projection;
    - head: final-norm output and the logits (all positions, as the model returns them).
    The largest is what one layer holds at the peak; the KV cache is counted separately."""
    d = cfg.d_model
    if cfg.is_moe:
        k, e = cfg.experts_top_k, cfg.n_experts
        per = 2 if cfg.mlp == "gelu" else 4
        # gathered inputs, expert outputs and their weighted copy for k slots; router scores; the
        # busiest expert's hidden activations, taken as twice the mean load (k/E of the slots)
        mlp = 4 * d + 3 * k * d + 2 * e + per * cfg.expert_size * min(1.0, 2 * k / e) * k
        mlp += per * cfg.shared_hidden if cfg.n_shared_experts else 0
        if cfg.moe_dense_first:
            mlp = max(mlp, 4 * d + per * cfg.hidden)
    elif cfg.has_mlp:
        per = 2 if cfg.mlp == "gelu" else (6 if cfg.swiglu_limit is not None else 4)
        mlp = 4 * d + per * cfg.hidden
    else:
        mlp = 0
    if cfg.latent_attention:
        h, dn, dr, dv, r = cfg.n_heads, cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim, cfg.kv_lora_rank
        # per query: x, the query (before and after re-assembly), its rotated part, the kv_a output,
        # the normed latent, the rotated key, the attention output, its copy and the projection
        attn = 3 * d + 2 * h * (dn + dr) + h * dr + (r + dr) + r + dr + 2 * h * dv
    else:
        q, kv = cfg.n_heads * cfg.head_size, cfg.kv_heads * cfg.head_size
        out = 3 * d + 3 * q + 2 * kv
        rope = 2 * d + q + 2 * kv + max(3.5 * q, q + 3.5 * kv) if cfg.position == "rope" else 0
        attn = max(out, rope)
    head = d + max(d, cfg.vocab_size)
    return {"mlp": int(mlp), "attention": int(attn), "head": int(head)}


def _per_key_elements(cfg: ModelConfig) -> int:
    """Values per attended key that attention materialises beside the cache: MLA decompresses
    every cached latent on every pass (kv_b output, h * (dn + dv), the assembled key with the
    shared rotary part, h * (dn + dr), and the contiguous copy of the value slice, h * dv, that
    SDPA's math path makes); other kinds attend to the cached K and V directly."""
    if not cfg.latent_attention:
        return 0
    return cfg.n_heads * (2 * cfg.qk_nope_head_dim + 2 * cfg.v_head_dim + cfg.qk_rope_head_dim)


def materialises_scores(cfg: ModelConfig) -> bool:
    """Whether attention builds the full (B, H, T, S) score matrix: our eager path (also taken for
    logit soft-capping), and torch's SDPA math fallback, which CPU SDPA takes when the value head
    size differs from the query/key head size (MLA). Otherwise SDPA's fused kernel works in tiles."""
    eager = cfg.attention_backend == "eager" or cfg.attn_softcap is not None
    return eager or cfg.head_size != cfg.value_head_size


def _needs_mask(cfg: ModelConfig, window: int | None, new: int, past: int) -> bool:
    """Whether suite.model's attention builds a (T, S) mask for a layer: always on the eager path
    and with sinks; otherwise only when neither causal SDPA (a prefill inside the window) nor
    mask-free SDPA (one query that may see every key the layer holds) applies."""
    if cfg.attention_backend == "eager" or cfg.attn_softcap is not None or cfg.attention_sinks:
        return True
    keys = new + (past if window is None else min(past, window))
    causal = past == 0 and (window is None or window >= new)
    sees_all = new == 1 and (window is None or keys <= window)
    return not (causal or sees_all)


def inference_activation_bytes(
    cfg: ModelConfig, context: int, *, batch: int = 1, dtype: str = "fp32", past: int = 0
) -> dict:
    """Peak activation bytes of a no-grad forward over `context` new tokens after `past` cached
    ones (beside the KV cache): the worst sublayer's live tensors (`_per_token_peak_elements`);
    attention also holds its per-key tensors (`_per_key_elements`), the (T, S) boolean mask where
    suite.model needs one (`_needs_mask`) and, where scores are materialised (`materialises_scores`),
    two fp32 (B, H, T, S) tensors at once (scores -> masked scores -> probabilities)."""
    tokens = batch * context * BYTES[dtype]
    per = {name: n * tokens for name, n in _per_token_peak_elements(cfg).items()}
    windows = [cfg.sliding_window if kind == "sliding" else None for kind in cfg.layer_kinds]
    keys = max(context + (past if w is None else min(past, w)) for w in windows)
    per["attention"] += batch * keys * _per_key_elements(cfg) * BYTES[dtype]
    if any(_needs_mask(cfg, w, context, past) for w in windows):
        per["attention"] += context * keys
    if materialises_scores(cfg):
        per["attention"] += 2 * batch * cfg.n_heads * context * keys * 4
    worst = max(per, key=per.get)
    return {"activations": per[worst], "worst_sublayer": worst}


def weights_bytes(cfg: ModelConfig, knobs: Knobs) -> int:
    """fp32 weights; with dynamic int8, the nn.Linear weights (attention, dense MLP, router, untied
    head) become 1 byte each (their biases are counted with them) and the rest stays fp32."""
    if knobs.quantize == "none":
        return costs.weights_bytes(cfg, "fp32")
    parts = costs.params(cfg)["by_component"]
    linear = parts["attention"] + parts["mlp"] + parts["router"] + parts["lm_head"] + parts.get("shared_experts", 0)
    return costs.params(cfg)["total"] * 4 - 3 * linear


def _layer_kv_bytes(cfg: ModelConfig, context: int, dtype: str, batch: int) -> list[int]:
    """Per layer: cache bytes after `context` tokens (a sliding layer holds at most its window)."""
    windows = [cfg.sliding_window if kind == "sliding" else None for kind in cfg.layer_kinds]
    return [
        batch * e * (context if w is None else min(context, w)) * BYTES[dtype]
        for e, w in zip(costs.kv_cache_elements_per_token(cfg), windows)
    ]


def analytic_peak(cfg: ModelConfig, phase: str, context: int, knobs: Knobs) -> dict[str, int]:
    """Predicted peak bytes of a phase, by part; `total` is what the probe compares with."""
    act_dtype = "bf16" if knobs.dtype == "bf16" else "fp32"
    b = knobs.batch
    if phase == "train":
        parts = costs.training_memory(cfg, context, batch=b, dtype="fp32", checkpointing=knobs.gradient_checkpointing)
        parts.pop("total")
        if knobs.dtype == "bf16":  # autocast: fp32 weights/grads/moments, bf16 activations and weight casts
            parts["activations"] = costs.activation_bytes_train(
                cfg, context, batch=b, dtype="bf16", checkpointing=knobs.gradient_checkpointing
            )
            parts["autocast_weight_copies"] = costs.weights_bytes(cfg, "bf16")
    else:
        parts = {"weights": weights_bytes(cfg, knobs)}
        # the cache holds what the projections return: bf16 under autocast (what an efficient
        # model does; suite.model's fp32 RoPE tables currently promote rotated keys to fp32)
        kv_dtype = act_dtype
        if phase == "prefill":
            parts["kv_cache"] = costs.kv_cache_bytes(cfg, context, kv_dtype, batch=b)
            parts["activations"] = inference_activation_bytes(cfg, context, batch=b, dtype=act_dtype)["activations"]
        else:
            # the cache after the step. A prefill reserves exactly what it holds, so the step grows each
            # full-attention buffer by max(16, context // 8) tokens (the spare stays reserved) and, while
            # one layer copies, its old buffer lives beside the new one; a sliding ring writes in place
            parts["kv_cache"] = costs.kv_cache_bytes(cfg, context + 1, kv_dtype, batch=b)
            windows = [cfg.sliding_window if kind == "sliding" else None for kind in cfg.layer_kinds]
            per_token = [b * e * BYTES[kv_dtype] for e in costs.kv_cache_elements_per_token(cfg)]
            growing = [(n, t) for n, t, w in zip(_layer_kv_bytes(cfg, context, kv_dtype, b), per_token, windows)
                       if w is None and t]  # fmt: skip
            parts["cache_reserve"] = sum(t * (max(16, context // 8) - 1) for _, t in growing)
            parts["cache_append_copy"] = max((n for n, _ in growing), default=0)
            parts["activations"] = inference_activation_bytes(cfg, 1, batch=b, dtype=act_dtype, past=context)[
                "activations"
            ]
    parts["total"] = sum(parts.values())
    return parts


# ---------------------------------------------------------------- measured side (subprocess)
def measure_phase(payload: dict[str, Any], watch) -> list[dict[str, Any]]:
    """Runs in the memwatch subprocess: one phase at each context (ascending), each measured from a
    reset high-water mark. Stops (and marks the point oom) once a peak passes `memory_budget`.

    Order: (1) a throwaway model runs the phase once at a small context, so the runtime's lazy,
    size-independent state (kernel selection, BLAS buffers, thread-local scratch, imported modules)
    exists; it is then deleted; (2) the baseline is taken; (3) the measured model is built."""
    import gc

    import torch

    cfg = ModelConfig.from_dict(payload["config"])
    knobs = Knobs(**payload["knobs"])
    phase, contexts, budget = payload["phase"], sorted(payload["contexts"]), payload.get("memory_budget")
    train = phase == "train"
    out: list[dict[str, Any]] = []

    def workload(model, context, opt):
        options = {"train": {"optimizer": opt}, "decode": {"repeatable": False}}.get(phase, {})
        return WORKLOADS[phase](model, cfg, knobs, context, **options)

    with pinned_threads(knobs.threads) as threads:
        model, _ = build(cfg, knobs, train=train)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4) if train else None
        warm = workload(model, min(8, contexts[0]), opt)
        if warm.setup:
            warm.setup()
        warm.run()
        del warm, model, opt
        watch.mark_baseline()

        model, _ = build(cfg, knobs, train=train)
        opt = None
        if train:  # a first step creates AdamW's moments: the measured steps are steady-state steps
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            workload(model, min(8, contexts[0]), opt).run()
        gc.collect()
        model_bytes = current_rss() - watch.baseline_bytes  # weights (+ AdamW moments), no phase yet
        held = dict(model_bytes=model_bytes)
        if watch.cuda:  # on a GPU the weights live in device memory, not in the RSS
            held["cuda_model_bytes"] = cuda_allocated(watch.device) - watch.cuda_baseline_bytes
        for context in contexts:
            gc.collect()
            try:
                work = workload(model, context, opt)
            except ValueError as exc:  # this context cannot run (e.g. past learned positions)
                out.append(dict(context=context, status="error", error=str(exc)))
                continue
            if work.setup:
                work.setup()
            record = watch.measure(work.run)
            record.update(context=context, threads=threads, **held, **(work.info() if work.info else {}))
            del work
            out.append(record)
            if budget is not None and published_bytes(record) > budget:
                record.update(
                    status="oom",
                    error=f"peak {published_bytes(record)} bytes is over the memory budget of {budget} bytes",
                )
                break
    return out


def measure_isolated(
    cfg: ModelConfig,
    knobs: Knobs,
    phase: str,
    contexts: list[int],
    *,
    memory_budget: int | None = None,
    timeout: float | None = None,
) -> list[dict[str, Any]]:
    """One fresh subprocess for one phase over `contexts`; returns its records."""
    from dataclasses import asdict

    payload = dict(
        config=cfg.to_dict(), knobs=asdict(knobs), phase=phase, contexts=list(contexts), memory_budget=memory_budget
    )
    return run_isolated(f"{__name__}:measure_phase", payload, timeout=timeout, device=knobs.device)


# ---------------------------------------------------------------- the probe
@probe("memory", family="memory", isolate=True, defaults=dict(contexts=[128], phases=list(PHASES), **KNOB_DEFAULTS))
def memory(cfg: ModelConfig, settings: dict[str, Any]) -> list[Row]:
    """Peak memory per phase (fresh subprocess; RSS high-water mark, on CUDA the allocator peak) beside the
    analytic prediction."""
    knobs = Knobs.from_settings(settings)
    contexts = contexts_of(settings, default=(128,))
    rows: list[Row] = []
    for phase in phases_of(settings):
        base = {**knobs.recorded(knobs.threads or default_threads()), "phase": phase}
        if phase != "train":
            base.pop("gradient_checkpointing")
        try:
            records = measure_isolated(cfg, knobs, phase, contexts, timeout=settings.get("timeout_s"))
        except IsolatedError as exc:
            rows.extend(not_measured("peak_memory_bytes", {**base, "context": c}, str(exc), exc.kind) for c in contexts)
            continue
        for record in records:
            context = record["context"]
            row_settings = {**base, "context": context, "threads": record.get("threads", base["threads"])}
            if record.get("status") == "error":
                rows.append(not_measured("peak_memory_bytes", row_settings, record["error"]))
                continue
            measured = published_bytes(record)  # CUDA allocator peak on a GPU, RSS peak on CPU
            predicted = analytic_peak(cfg, phase, context, knobs)
            rows.append(Row("peak_memory_bytes", measured, row_settings, record))
            rows.append(Row("peak_memory_bytes_analytic", predicted["total"], row_settings, {"parts": predicted}))
            rows.append(
                Row(
                    "memory_measured_over_analytic",
                    measured / predicted["total"],
                    row_settings,
                    {"measured": measured, "analytic": predicted["total"]},
                )
            )
    return rows


__all__ = ["analytic_peak", "inference_activation_bytes", "measure_isolated", "memory"]
