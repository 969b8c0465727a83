"""What a serving engine adds to the arithmetic of `budget`: the memory it keeps back, tensor
parallelism over several GPUs, and the time to the first token.

Engine reserve (`--reserve auto`, the default), as vLLM allots memory:
- `gpu_memory_utilization` 0.9: a tenth of the device's memory is never used;
- 512 MiB of non-torch memory (CUDA context, NCCL, allocator pools), an assumption;
- the activations of one prefill chunk of 8,192 tokens (vLLM profiles a forward of
  `max_num_batched_tokens` before sizing the KV cache), from the widest sublayer of the config:
  per token, the residual stream and normed input, plus the wider of attention (q, k, v, output)
  and the MLP (gate, up, product for the active experts), in the weights' activation dtype.
Tensor parallelism over N GPUs (`--gpus N`): weights and KV heads split N ways (a KV head is
replicated when there are fewer than N), bandwidth and FLOP/s add up, and each layer pays two
all-reduces of the step's activations (ring: 2(N-1)/N of the bytes over the link, plus a fixed
latency per all-reduce). Time to first token: the prompt's prefill FLOPs (attention's L² term
included) at the summed peak, or reading the weights once, whichever is longer.
Every figure is a bound: `--efficiency` scales the device's peak and bandwidth to what an engine
achieves (default 1.0: the bound itself); the output says which.
"""

from __future__ import annotations

from dataclasses import dataclass

from suite.analytic import costs
from suite.config import ConfigError, ModelConfig

GPU_MEMORY_UTILIZATION = 0.9
NON_TORCH_BYTES = 512 * 2**20
PREFILL_CHUNK = 8192


@dataclass(frozen=True)
class Link:
    name: str
    bandwidth: float  # bytes/s each way per GPU
    latency: float  # seconds per all-reduce
    note: str


LINKS: dict[str, Link] = {
    "nvlink3": Link("nvlink3", 300e9, 5e-6, "NVLink 3 (A100 SXM): 300 GB/s each way per GPU"),
    "nvlink4": Link("nvlink4", 450e9, 5e-6, "NVLink 4 (H100/H200 SXM): 450 GB/s each way per GPU"),
    "nvlink5": Link("nvlink5", 900e9, 5e-6, "NVLink 5 (B200): 900 GB/s each way per GPU"),
    "infinity-fabric": Link("infinity-fabric", 448e9, 5e-6, "AMD Infinity Fabric (MI300X): 7 x 64 GB/s"),
    "pcie4": Link("pcie4", 32e9, 10e-6, "PCIe 4.0 x16: 32 GB/s each way"),
    "pcie5": Link("pcie5", 64e9, 10e-6, "PCIe 5.0 x16: 64 GB/s each way"),
}


def get_link(name: str) -> Link:
    if name not in LINKS:
        raise ConfigError(f"unknown link '{name}'; choose one of: {', '.join(LINKS)}.", field="link")
    return LINKS[name]


def activation_bytes(cfg: ModelConfig) -> int:
    """Bytes per activation value when serving (bf16 unless the weights are fp32)."""
    return 4 if cfg.weight_format == "fp32" else 2


def prefill_chunk_bytes(cfg: ModelConfig, chunk: int = PREFILL_CHUNK) -> int:
    """Activations of one prefill chunk at its widest sublayer (see the module docstring)."""
    d = cfg.d_model
    if cfg.latent_attention:
        attn = cfg.n_heads * (cfg.head_size + cfg.value_head_size) + (cfg.kv_lora_rank or 0) + d
    else:
        attn = cfg.n_heads * cfg.head_size * 2 + 2 * cfg.kv_heads * cfg.head_size
    if cfg.is_moe:
        hidden = cfg.experts_top_k * cfg.expert_size + (cfg.shared_hidden if cfg.n_shared_experts else 0)
    else:
        hidden = cfg.hidden if cfg.has_mlp else 0
    return chunk * activation_bytes(cfg) * (2 * d + max(attn, 3 * hidden))


def engine_reserve(cfg: ModelConfig, device_memory: int, chunk: int = PREFILL_CHUNK) -> dict[str, int]:
    """The memory an engine keeps from the KV cache, by part."""
    parts = {
        "unused_fraction": round(device_memory * (1 - GPU_MEMORY_UTILIZATION)),
        "non_torch": NON_TORCH_BYTES,
        "prefill_activations": prefill_chunk_bytes(cfg, chunk),
    }
    return {**parts, "total": sum(parts.values())}


def kv_split(cfg: ModelConfig, gpus: int) -> float:
    """Share of the KV cache one GPU holds under tensor parallelism (KV heads split, replicated
    when fewer than the GPUs; MLA's latent is replicated)."""
    if gpus == 1 or cfg.latent_attention:
        return 1.0
    return -(-cfg.kv_heads // gpus) / cfg.kv_heads  # ceil(kv / gpus) heads each: 1 when replicated


def allreduce_seconds(cfg: ModelConfig, tokens: int, gpus: int, link: Link) -> float:
    """Two all-reduces per layer of `tokens` x d activations (ring)."""
    if gpus == 1:
        return 0.0
    message = tokens * cfg.d_model * activation_bytes(cfg)
    per = 2 * (gpus - 1) / gpus * message / link.bandwidth + link.latency
    return 2 * cfg.n_layers * per


def time_to_first_token(
    cfg: ModelConfig,
    *,
    prompt: int,
    peak: float,
    bandwidth: float,
    dtype: str,
    gpus: int = 1,
    link: Link | None = None,
) -> dict[str, float]:
    """Seconds to prefill `prompt` tokens (batch 1): compute or weight reads, plus all-reduces."""
    flops = costs.total(costs.prefill_flops(cfg, prompt))
    weights = costs.weights_bytes(cfg, dtype)
    t_compute = flops / (peak * gpus)
    t_weights = weights / (bandwidth * gpus)
    comm = allreduce_seconds(cfg, prompt, gpus, link) if link else 0.0
    return {
        "prompt": prompt,
        "prefill_flops": flops,
        "seconds_compute": t_compute,
        "seconds_weights": t_weights,
        "seconds_allreduce": comm,
        "seconds": max(t_compute, t_weights) + comm,
        "bound": "compute" if t_compute >= t_weights else "bandwidth",
    }
