"""Latency probe: prefill time at context L and batch B, decode time per token at position L (with
the KV cache, after a prefill of L tokens), and one training step (forward + backward + AdamW).

Every number follows `suite.probes.timing`'s rule (pinned threads, warm-up, repeats until a time budget or
a target CV, median reported, raw samples and IQR/CV kept in `extra`).

The knobs every measured probe accepts (`Knobs`, shared with the memory and scaling probes, which
build their workloads from this module):

    device                  cpu (default) | cuda | auto
    dtype                   auto (default: bf16 on CUDA, fp32 on CPU) | fp32 | bf16 (autocast:
                            weights stay fp32, matmuls run in bf16); rows record the resolved one
    quantize                none | int8 (dynamic int8 nn.Linear weights, CPU, torch's own API)
    gradient_checkpointing  recompute each block in the backward (train step only)
    batch                   sequences per step
    threads                 intra-op threads (default 1, see KNOB_DEFAULTS; None: every core)
    contexts / context      the context lengths L to measure
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from suite.config import ModelConfig
from suite.probes import Row, probe
from suite.probes.timing import measure, resolve_device, timing_options
from suite.threads import pinned_threads

DTYPES = ("fp32", "bf16", "auto")
QUANTIZATIONS = ("none", "int8")
PHASES = ("prefill", "decode", "train")

# threads=1 by default: with two threads, every parallel region waits for the slower thread, and on a
# shared machine (load above the core count) one descheduled thread turns a 1 ms prefill into 100s
# of ms; one thread keeps the median CV of repeated cells low. `threads: null` uses every core.
KNOB_DEFAULTS: dict[str, Any] = dict(
    device="cpu", dtype="auto", quantize="none", gradient_checkpointing=False, batch=1, threads=1, seed=0
)


# ---------------------------------------------------------------- knobs
def default_dtype(device: str) -> str:
    """bf16 on a GPU, where tensor cores run it at several times fp32's rate and every serving
    stack uses it; fp32 on CPU, where bf16 matmuls are often slower and the CPU numbers are kept."""
    return "bf16" if device.startswith("cuda") else "fp32"


@dataclass(frozen=True)
class Knobs:
    device: str = "cpu"
    dtype: str = "fp32"
    quantize: str = "none"
    gradient_checkpointing: bool = False
    batch: int = 1
    threads: int | None = 1
    seed: int = 0

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> "Knobs":
        s = {**KNOB_DEFAULTS, **{k: v for k, v in settings.items() if k in KNOB_DEFAULTS}}
        s = {k: KNOB_DEFAULTS[k] if v is None and k != "threads" else v for k, v in s.items()}
        if s["dtype"] not in DTYPES:
            raise ValueError(f"setting dtype='{s['dtype']}' is not one of: {', '.join(DTYPES)}")
        if s["quantize"] not in QUANTIZATIONS:
            raise ValueError(f"setting quantize='{s['quantize']}' is not one of: {', '.join(QUANTIZATIONS)}")
        if int(s["batch"]) < 1:
            raise ValueError(f"setting batch must be >= 1, got {s['batch']}")
        device = resolve_device(s["device"])
        if s["quantize"] != "none" and device != "cpu":
            raise ValueError(f"quantize='{s['quantize']}' (dynamic int8) runs on CPU only, not on {device}")
        return cls(
            device=device,
            dtype=default_dtype(device) if s["dtype"] == "auto" else s["dtype"],
            quantize=s["quantize"],
            gradient_checkpointing=bool(s["gradient_checkpointing"]),
            batch=int(s["batch"]),
            threads=None if s["threads"] is None else int(s["threads"]),
            seed=int(s["seed"]),
        )

    def recorded(self, threads_in_effect: int) -> dict[str, Any]:
        """The settings a row records (threads as actually pinned, device as resolved)."""
        out = asdict(self)
        out.pop("seed")
        out["threads"] = threads_in_effect
        return out


def contexts_of(settings: dict[str, Any], default: tuple[int, ...] = (64,)) -> list[int]:
    """`contexts` (a list) or `context` (one length)."""
    value = settings.get("contexts", settings.get("context"))
    if value is None:
        return list(default)
    values = [value] if isinstance(value, (int, float, str)) else list(value)
    out = [int(v) for v in values]
    if any(v < 1 for v in out):
        raise ValueError(f"contexts must be positive, got {out}")
    return out


def phases_of(settings: dict[str, Any]) -> list[str]:
    value = settings.get("phases") or PHASES
    value = [value] if isinstance(value, str) else list(value)
    for p in value:
        if p not in PHASES:
            raise ValueError(f"phase '{p}' is not one of: {', '.join(PHASES)}")
    return value


# ---------------------------------------------------------------- workloads
def quantize_int8(model: nn.Module) -> tuple[nn.Module, dict[str, Any]]:
    """Dynamic int8 weights for every nn.Linear (torch.ao.quantization.quantize_dynamic). torch
    marks that API deprecated in favour of torchao, which is not a dependency; it still works, so
    we use it and record which API quantised how many layers. Tied embeddings / the LM head (an
    F.linear on the embedding table) and MoE expert tensors stay fp32."""
    from torch.ao.quantization import quantize_dynamic

    n_linear = sum(isinstance(m, nn.Linear) for m in model.modules())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    return q, {
        "quantize_api": "torch.ao.quantization.quantize_dynamic",
        "quantized_linear_layers": n_linear,
        "quantized_engine": torch.backends.quantized.engine,
    }


def build(cfg: ModelConfig, knobs: Knobs, *, train: bool = False) -> tuple[nn.Module, dict[str, Any]]:
    """The model a workload runs: fp32 weights on the device, optionally int8-quantised (inference)."""
    from suite.model import build_model

    model = build_model(cfg, seed=knobs.seed).to(knobs.device)
    notes: dict[str, Any] = {}
    if knobs.quantize == "int8":
        if train:
            raise ValueError("a training step cannot run on dynamically int8-quantised weights (no backward)")
        model, notes = quantize_int8(model)
    model.train(train)
    model.gradient_checkpointing = knobs.gradient_checkpointing and train
    return model, notes


def autocast(knobs: Knobs):
    if knobs.dtype == "bf16":
        return torch.autocast(device_type=knobs.device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


def tokens(cfg: ModelConfig, knobs: Knobs, length: int, seed_offset: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(knobs.seed + seed_offset)
    return torch.randint(0, cfg.vocab_size, (knobs.batch, length), generator=gen).to(knobs.device)


def check_positions(cfg: ModelConfig, positions: int) -> None:
    """Learned absolute positions have a hard limit; say so before the model does."""
    if cfg.position == "learned" and positions > cfg.context_length:
        raise ValueError(
            f"needs {positions} positions but learned positions stop at context_length={cfg.context_length}"
        )


def fork_cache(cache):
    """A cache that continues from `cache` without changing it: the model's cache update rebinds
    new tensors (torch.cat) rather than writing in place, so a shallow copy per layer suffices."""
    forked = copy.copy(cache)
    forked.layers = [copy.copy(layer) for layer in cache.layers]
    return forked


@dataclass
class Workload:
    """One timed or memory-measured operation: `setup` (untimed) then `run`."""

    run: Callable[[], Any]
    setup: Callable[[], Any] | None = None
    info: Callable[[], dict[str, Any]] | None = None  # facts to record after running (e.g. cache bytes)
    state: dict[str, Any] = field(default_factory=dict)  # what setup hands to run (e.g. the decode cache)


def prefill_workload(model, cfg: ModelConfig, knobs: Knobs, context: int) -> Workload:
    """A forward over L tokens that fills a fresh KV cache (what serving does before decoding)."""
    check_positions(cfg, context)
    idx = tokens(cfg, knobs, context)
    state: dict[str, Any] = {}

    def run():
        with torch.inference_mode(), autocast(knobs):
            cache = model.new_cache()
            model(idx, cache=cache)
        state["kv_cache_bytes"] = cache.nbytes()

    return Workload(run, info=lambda: dict(state))


def decode_workload(model, cfg: ModelConfig, knobs: Knobs, context: int, *, repeatable: bool = True) -> Workload:
    """One decode step at position L: the cache holds L tokens (prefilled once, untimed). With
    `repeatable`, every call continues from that same state (each timing sample is the step at
    exactly position L). Without it the step consumes the prefilled cache, so nothing else holds
    the old cache tensors while the step replaces them (what a memory measurement needs)."""
    check_positions(cfg, context + 1)
    idx = tokens(cfg, knobs, context)
    nxt = tokens(cfg, knobs, 1, seed_offset=1)
    with torch.inference_mode(), autocast(knobs):
        prefilled = model.new_cache()
        model(idx, cache=prefilled)
    state: dict[str, Any] = {"kv_cache_bytes": prefilled.nbytes(), "prefilled": prefilled}

    def setup():
        state["cache"] = fork_cache(state["prefilled"]) if repeatable else state.pop("prefilled")

    def run():
        with torch.inference_mode(), autocast(knobs):
            model(nxt, cache=state["cache"])

    return Workload(run, setup=setup, info=lambda: {"kv_cache_bytes": state["kv_cache_bytes"]}, state=state)


def train_workload(model, cfg: ModelConfig, knobs: Knobs, context: int, optimizer=None) -> Workload:
    """Forward + next-token cross-entropy + backward + AdamW step (+ zero_grad, set_to_none)."""
    check_positions(cfg, context)
    idx = tokens(cfg, knobs, context)
    targets = tokens(cfg, knobs, context, seed_offset=2)
    opt = optimizer or torch.optim.AdamW(model.parameters(), lr=1e-4)

    def run():
        with autocast(knobs):
            logits = model(idx)
        loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return Workload(run)


WORKLOADS = {"prefill": prefill_workload, "decode": decode_workload, "train": train_workload}
METRIC_OF_PHASE = {"prefill": "prefill_ms", "decode": "decode_ms_per_token", "train": "train_step_ms"}


# ---------------------------------------------------------------- the probe
def time_phase(model, cfg: ModelConfig, knobs: Knobs, phase: str, context: int, options: dict[str, Any]):
    work = WORKLOADS[phase](model, cfg, knobs, context)
    timing = measure(work.run, setup=work.setup, device=knobs.device, **options)
    return timing, (work.info() if work.info else {})


def not_measured(metric: str, settings: dict[str, Any], reason: str, status: str = "error") -> Row:
    """A row that says why a number is missing; `status` is error | oom | timeout."""
    return Row(metric, None, settings, status=status, error=reason)


@probe(
    "latency",
    family="latency",
    defaults=dict(contexts=[64], phases=list(PHASES), budget_s=1.0, target_cv=0.02, **KNOB_DEFAULTS),
)
def latency(cfg: ModelConfig, settings: dict[str, Any]) -> list[Row]:
    """Prefill ms at (L, B), decode ms/token at position L with the KV cache, train-step ms."""
    knobs = Knobs.from_settings(settings)
    options = timing_options(settings)
    rows: list[Row] = []
    with pinned_threads(knobs.threads) as threads:
        recorded = knobs.recorded(threads)
        models: dict[bool, tuple[nn.Module, dict]] = {}
        for phase in phases_of(settings):
            train = phase == "train"
            metric = METRIC_OF_PHASE[phase]
            for context in contexts_of(settings):
                row_settings = {**recorded, "context": context, "phase": phase}
                if not train:
                    row_settings.pop("gradient_checkpointing")
                try:
                    if train not in models:
                        models[train] = build(cfg, knobs, train=train)
                    model, notes = models[train]
                    timing, facts = time_phase(model, cfg, knobs, phase, context, options)
                except ValueError as exc:  # a setting this model cannot run (positions, quantised train)
                    rows.append(not_measured(metric, row_settings, str(exc)))
                    continue
                extra = {**timing.extra(), **notes, **facts, "timing_options": options}
                rows.append(Row(metric, timing.median, row_settings, extra))
                rows.append(
                    Row(
                        f"{metric}_cv",
                        timing.cv,
                        row_settings,
                        {"cv_classic": timing.stats["cv_classic"], "n": timing.stats["n"]},
                    )
                )
    return rows
