"""The `analytic` probe family: costs from the config alone, and a check of them against torch.

- `analytic`: parameters, FLOPs, KV-cache / weight / activation / optimizer bytes, serving budget
  and decode roofline, all from `suite.analytic.costs` and `suite.analytic.budget` (pure arithmetic, any size).
- `flop_check`: runs the real `suite.model` (on the config itself when small, else on its tiny
  proxy) under `FlopCounterMode`, attributes what the counter sees to the same components, and
  compares with the analytic "executed" count. It says so loudly (a warning and the row's extra)
  when the counter sees products it cannot attribute, or operators that do matrix work the
  counter has no formula for (which it would otherwise count as zero).
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any

from suite.analytic import budget, costs
from suite.config import ModelConfig
from suite.probes import Row, probe
from suite.threads import pinned_threads
from suite.units import parse_size

# Proxy ops are tiny: more threads only add OpenMP spin-waiting (20x slower on a busy machine).
CHECK_THREADS = 1

ANALYTIC_DEFAULTS = {
    "context": [1024, 8192, 32768],  # contexts past the model's own are skipped
    "kv_dtype": ["bf16"],
    "weight_dtype": ["bf16", "fp8", "int4", "mxfp4"],
    "batch": 1,
    "memory_budget": "80GB",
    "device_preset": ["h100"],
}


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


@probe("analytic", family="analytic", defaults=ANALYTIC_DEFAULTS)
def analytic(cfg: ModelConfig, settings: dict[str, Any]) -> list[Row]:
    """Parameters, FLOPs, memory and serving budget from the config alone (no weights allocated)."""
    s = {**ANALYTIC_DEFAULTS, **settings}
    contexts = [c for c in _as_list(s["context"]) if c <= cfg.context_length] or [cfg.context_length]
    batch = int(s["batch"])
    p = costs.params(cfg)
    rows = [Row("params_total", p["total"]), Row("params_active", p["active"]), Row("params_embedding", p["embedding"])]
    for L in contexts:
        prefill, decode = costs.prefill_flops(cfg, L), costs.decode_flops(cfg, L)
        rows += [
            Row(
                "flops_prefill_per_token",
                costs.total(prefill) / L,
                {"context": L},
                {
                    "by_component": {k: v / L for k, v in prefill.items()},
                    "counting": "useful",
                    "executed": costs.total(costs.prefill_flops(cfg, L, "executed")) / L,
                },
            ),
            Row(
                "flops_decode_per_token",
                costs.total(decode),
                {"context": L},
                {
                    "by_component": decode,
                    "counting": "useful",
                    "executed": costs.total(costs.decode_flops(cfg, L, "executed")),
                },
            ),
        ]
        for ckpt in (False, True):
            train = costs.train_flops(cfg, L, checkpointing=ckpt)
            rows.append(Row("flops_train_per_token", costs.total(train) / L, {"context": L, "checkpointing": ckpt}))
        for dt in _as_list(s["kv_dtype"]):
            rows.append(Row("kv_cache_bytes", costs.kv_cache_bytes(cfg, L, dt), {"context": L, "dtype": dt}))
    for dt in _as_list(s["kv_dtype"]):
        rows.append(
            Row(
                "kv_cache_bytes_per_token",
                costs.kv_cache_bytes_per_token(cfg, dt),
                {"dtype": dt},
                {"past_every_window": costs.kv_cache_bytes_per_token_long(cfg, dt)},
            )
        )
        # what one more token costs once the context is past every sliding window: what long contexts pay
        rows.append(
            Row("kv_cache_bytes_per_token_marginal", costs.kv_cache_bytes_per_token_long(cfg, dt), {"dtype": dt})
        )
    for dt in _as_list(s["weight_dtype"]):
        rows.append(
            Row(
                "weights_bytes",
                costs.weights_bytes(cfg, dt),
                {"dtype": dt},
                {"format": costs.WEIGHT_FORMATS[dt].note} if costs.WEIGHT_FORMATS[dt].note else {},
            )
        )
    L = contexts[0]
    for ckpt in (False, True):
        rows.append(
            Row(
                "activation_bytes_train",
                costs.activation_bytes_train(cfg, L, batch=batch, checkpointing=ckpt),
                {"context": L, "batch": batch, "dtype": "bf16", "checkpointing": ckpt},
                {"estimate": "values saved for backward, from the components' shapes"},
            )
        )
    rows.append(Row("optimizer_bytes", costs.optimizer_bytes(cfg), {"optimizer": "adamw", "state_dtype": "fp32"}))
    memory = parse_size(s["memory_budget"])
    for dt in _as_list(s["weight_dtype"]):
        fit = budget.max_context(cfg, memory, dtype=dt, batch=batch)
        rows.append(
            Row(
                "max_context_at_budget",
                fit["max_context"],
                {"memory_budget": str(s["memory_budget"]), "dtype": dt, "kv_dtype": fit["kv_dtype"], "batch": batch},
                {k: fit[k] for k in ("limited_by", "memory_max_context")},
            )
        )
    for preset in _as_list(s["device_preset"]):
        device = budget.get_device(preset)
        for L in contexts:
            roof = budget.decode_roofline(cfg, device, context=L, batch=batch, dtype="bf16")
            rows.append(
                Row(
                    "decode_tokens_per_s_bound",
                    roof["tokens_per_s"],
                    {"device_preset": preset, "context": L, "batch": batch, "dtype": "bf16"},
                    {
                        k: roof[k]
                        for k in (
                            "bound",
                            "tokens_per_s_bandwidth",
                            "tokens_per_s_compute",
                            "bytes_per_step",
                            "flops_per_step",
                        )
                    },
                )
            )
    return rows


# ------------------------------------------------------------ counter check
# Operators whose names say they do matrix work. If the counter has no formula for one, it
# counts it as zero without a word; we name them instead.
_MATRIX_OP = re.compile(r"(mm|matmul|bmm|conv|attention|einsum|linear|addmv|\bmv\b|\bdot\b|vdot|_int_mm)")


def _cpu_flash_formulas() -> dict:
    """torch's counter has formulas for the CUDA SDPA kernels but not the CPU flash kernel, which it
    would count as 0; give it the same formulas (full T x S, as the kernels' own formulas do)."""
    import torch
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten

    def forward(query, key, value, *args, out_shape=None, **kwargs):
        return sdpa_flop_count(query, key, value)

    def backward(grad_out, query, key, value, *args, out_shape=None, **kwargs):
        return sdpa_backward_flop_count(grad_out, query, key, value)

    def triangular_solve(a, b, *args, out_shape=None, **kwargs):
        # unit-triangular forward substitution (Gated DeltaNet's chunked form): m(m-1) FLOPs per column
        m, batch = a[-1], math.prod(b[:-2])  # the counter hands shapes, not tensors
        return batch * m * (m - 1) * b[-1]

    def conv_backward(grad_out, x, w, *args, out_shape=None, **kwargs):
        # torch's formula ignores `groups`, counting a depthwise conv's backward as a dense one
        # (x channels); each gradient (input, weight) costs what the forward did
        mask = kwargs.get("output_mask", args[-1] if args else (True, True, False))
        forward = 2 * math.prod(grad_out) * math.prod(w[1:])
        return forward * (int(bool(mask[0])) + int(bool(mask[1])))

    mapping = {aten.linalg_solve_triangular: triangular_solve, aten.convolution_backward: conv_backward}
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu"):
        mapping[aten._scaled_dot_product_flash_attention_for_cpu] = forward
    if hasattr(aten, "_scaled_dot_product_flash_attention_for_cpu_backward"):
        mapping[aten._scaled_dot_product_flash_attention_for_cpu_backward] = backward
    return mapping


# module class -> (component of the products it runs itself, component its children default to).
# A module inside an already-classified one inherits (a DenseMLP that is MoE's shared expert is
# "experts"); a child attribute named here overrides.
CHILD_ATTRIBUTION = {"router": "router", "indexer": "indexer"}
UNATTRIBUTED = "unattributed"


def _components_of(model) -> dict[str, str]:
    """Module path ('' = root) -> component of the products it runs itself."""
    out: dict[str, str] = {}

    def walk(module, path: str, context: str | None):
        own, children = context, context
        component = getattr(type(module), "flop_component", None)  # declared by the model's classes
        if context is None and component is not None:
            own, children = component
        out[path] = own or UNATTRIBUTED
        for name, child in module.named_children():
            walk(child, f"{path}.{name}" if path else name, CHILD_ATTRIBUTION.get(name, children))

    walk(model, "", None)
    return out


def count_flops(model, fn, *args, **kwargs) -> dict[str, Any]:
    """Run fn(*args) under FlopCounterMode; return the counter's FLOPs by analytic component, the
    total, and any matrix operators it could not count.

    Returns {"total", "by_component" (incl. "unattributed"), "uncounted_ops": {op: calls}, "result"}.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, depth=1000, custom_mapping=_cpu_flash_formulas())
    known = {str(k) for k in counter.flop_registry}
    seen: dict[str, int] = {}

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = str(func._overloadpacket)
            if _MATRIX_OP.search(name.split(".", 1)[-1]) and name not in known:
                seen[name] = seen.get(name, 0) + 1
            return func(*args, **(kwargs or {}))

    with counter, Recorder():
        result = fn(*args, **kwargs)

    inclusive = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    root = type(model).__name__
    component = _components_of(model)
    by = dict.fromkeys(costs.COMPONENTS, 0)
    for extra in ("mixer", "indexer"):  # components only some models have
        if extra in component.values():
            by[extra] = 0
    by[UNATTRIBUTED] = 0
    # exclusive count of a module = its inclusive count minus that of its nearest descendants the
    # counter saw (containers such as ModuleList are never called, so they are skipped in the names)
    paths = {
        name: name[len(root) + 1 :] if name != root else ""
        for name in inclusive
        if name == root or name.startswith(root + ".")
    }
    for name, path in paths.items():
        inner = [n for n in paths if n.startswith(name + ".")]
        nearest = [n for n in inner if not any(n.startswith(m + ".") for m in inner)]
        by[component.get(path, UNATTRIBUTED)] += inclusive[name] - sum(inclusive[n] for n in nearest)
    global_total = inclusive.get("Global", 0)
    by[UNATTRIBUTED] += global_total - inclusive.get(root, 0)  # products outside the model
    return {"total": global_total, "by_component": by, "uncounted_ops": seen, "result": result}


def check_forward(
    cfg: ModelConfig, *, context: int = 32, past: int = 0, batch: int = 1, seed: int = 0
) -> dict[str, Any]:
    """Counter vs analytic "executed" FLOPs for one forward pass (`past` cached, `context` new)."""
    import torch

    from suite.model import build_model

    model = build_model(cfg, seed=seed).eval()
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, cfg.vocab_size, (batch, past + context), generator=gen)
    with torch.no_grad(), pinned_threads(CHECK_THREADS):
        cache = model.new_cache() if past else None
        if past:
            model(idx[:, :past], cache=cache)
        counted = count_flops(model, model, idx[:, past:], cache=cache)
    analytic = {k: batch * v for k, v in costs.forward_flops(cfg, new=context, past=past, counting="executed").items()}
    return _compare(counted, analytic)


def check_train(
    cfg: ModelConfig, *, context: int = 32, batch: int = 1, checkpointing: bool = False, seed: int = 0
) -> dict[str, Any]:
    """Counter vs analytic "executed" FLOPs for forward + backward of a language-model loss."""
    import torch
    import torch.nn.functional as F

    from suite.model import build_model

    model = build_model(cfg, seed=seed).train()
    model.gradient_checkpointing = checkpointing
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, cfg.vocab_size, (batch, context + 1), generator=gen)

    def step():
        logits = model(idx[:, :-1])
        F.cross_entropy(logits.reshape(-1, logits.shape[-1]), idx[:, 1:].reshape(-1)).backward()

    # torch's non-reentrant checkpoint stops recomputing once it has what backward needs (it skips
    # each block's last product); the analytic model counts the whole recompute, so turn that off
    from torch.utils.checkpoint import set_checkpoint_early_stop

    with set_checkpoint_early_stop(False), pinned_threads(CHECK_THREADS):
        counted = count_flops(model, step)
    analytic = {
        k: batch * v
        for k, v in costs.train_flops(cfg, context, checkpointing=checkpointing, counting="executed").items()
    }
    return _compare(counted, analytic, by_component=False)


def _compare(counted: dict, analytic: dict[str, int], by_component: bool = True) -> dict[str, Any]:
    total_analytic = sum(analytic.values())
    problems = []
    if by_component and counted["by_component"][UNATTRIBUTED]:
        problems.append(
            f"{counted['by_component'][UNATTRIBUTED]:,} FLOPs the counter saw belong to no analytic component"
        )
    if counted["uncounted_ops"]:
        problems.append(
            "matrix operators the counter has no formula for (counted as 0): "
            + ", ".join(f"{op} x{n}" for op, n in sorted(counted["uncounted_ops"].items()))
        )
    components = {}
    if by_component:
        for key, value in analytic.items():
            got = counted["by_component"].get(key, 0)
            components[key] = {
                "counter": got,
                "analytic": value,
                "rel_error": (got - value) / value if value else (0.0 if not got else float("inf")),
            }
    return {
        "counter": counted["total"],
        "analytic": total_analytic,
        "ratio": counted["total"] / total_analytic if total_analytic else float("nan"),
        "components": components,
        "unattributed": counted["by_component"][UNATTRIBUTED],
        "uncounted_ops": counted["uncounted_ops"],
        "problems": problems,
    }


FLOP_CHECK_DEFAULTS = {"check_context": 32, "check_past": 80, "max_params": 50_000_000}


@probe("flop_check", family="analytic", defaults=FLOP_CHECK_DEFAULTS, needs=("proxy",))
def flop_check(cfg: ModelConfig, settings: dict[str, Any], *, proxy: ModelConfig | None = None) -> list[Row]:
    """FlopCounterMode on the real model vs the analytic count (the config itself if small, else its
    tiny proxy): prefill of `check_context` tokens, one decode step after `check_past` (past the
    proxies' sliding windows), and a training step. Warns, and records the problem in extra, when
    the counter sees products it cannot attribute or matrix operators it has no formula for."""
    s = {**FLOP_CHECK_DEFAULTS, **settings}
    context, past = int(s["check_context"]), int(s["check_past"])
    checked = cfg if costs.params(cfg)["total"] <= s["max_params"] else proxy
    if checked is None:
        raise ValueError(
            f"flop_check: {cfg.name} has more than max_params={s['max_params']:,} parameters "
            f"and no `proxy` config was given to run instead"
        )
    if cfg.position == "learned":  # learned positions end at context_length
        past = min(past, checked.context_length - 1)
    rows = []
    for phase, n, result in (
        ("prefill", context, check_forward(checked, context=context)),
        ("decode", past, check_forward(checked, context=1, past=past)),
        ("train", context, check_train(checked, context=context)),
    ):
        extra = {
            "checked_config": checked.name,
            "counter": result["counter"],
            "analytic": result["analytic"],
            "components": result["components"],
            "unattributed": result["unattributed"],
            "uncounted_ops": result["uncounted_ops"],
        }
        if abs(result["ratio"] - 1) > 0.02:
            result["problems"].append(f"counter/analytic = {result['ratio']:.4f}, more than 2% off")
        if result["problems"]:
            extra["warning"] = "; ".join(result["problems"])
            warnings.warn(f"flop_check {cfg.name} ({phase}): {extra['warning']}", stacklevel=2)
        rows.append(Row("flops_counter_over_analytic", result["ratio"], {"phase": phase, "context": n}, extra))
    return rows
