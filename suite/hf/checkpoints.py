"""Hugging Face checkpoints -> archbench: `config.json` -> ModelConfig, `*.safetensors` -> our decoder.

One table, `MODEL_TYPES`, maps each supported `model_type` to two things: how its config.json reads
as ModelConfig fields, and where each of our parameters comes from in its checkpoint. Nothing is
guessed, so an import is either the same function as the original or an error:
- every config key is mapped, checked against the one value we implement, or known not to change
  the forward pass (`HARMLESS_KEYS`: token ids, dropout, training-only options...); any other key is
  a ConfigError naming the file and the key;
- every parameter of our model must come from the checkpoint, every tensor of the checkpoint must be
  used (or be a known non-parameter: causal-mask buffers, RoPE tables, DeepSeek's MTP layers), and
  shapes must agree;
- only safetensors are read (pickle `.bin`/`.pt` files can run code when loaded: refused).

Layout conversions live next to the names they convert: GPT-2's Conv1D stores (in, out) and fuses
q/k/v; gpt-oss interleaves gate/up columns in one (E, in, 2*hidden) tensor; Gemma's RMSNorm stores
w and multiplies by (1 + w); Qwen3-MoE and DeepSeek-V3 store one Linear per expert (we stack them
as (E, in, out)); DeepSeek's `e_score_correction_bias` is our `router_correction` buffer.
Quantised storage is dequantised on read: gpt-oss MXFP4 (`*_blocks` + `*_scales`) and DeepSeek FP8
(`weight` + `weight_scale_inv`, 128x128 blocks).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from suite.config import ConfigError, ModelConfig
from suite.hf.config_map import (MULTIMODAL_KEYS, Reader, config_deepseek_v3, config_gemma3_text, config_gpt2, config_gpt_oss,
                        config_llama, config_mistral, config_olmo2, config_qwen2, config_qwen3, config_qwen3_moe)


class CheckpointError(ConfigError):
    """A checkpoint that does not match its config (missing, unexpected or mis-shaped tensors)."""


# ---------------------------------------------------------------- tensor names
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


def _llama_rules(post: bool = False) -> list[Rule]:
    """Llama naming; `post`: OLMo-2's norms sit after the sublayers."""
    layer = r"model.layers.\1."
    norms = ([(r"blocks\.(\d+)\.attn_post_norm\.weight", _rename(layer + "post_attention_layernorm.weight")),
              (r"blocks\.(\d+)\.mlp_post_norm\.weight", _rename(layer + "post_feedforward_layernorm.weight"))]
             if post else
             [(r"blocks\.(\d+)\.attn_norm\.weight", _rename(layer + "input_layernorm.weight")),
              (r"blocks\.(\d+)\.mlp_norm\.weight", _rename(layer + "post_attention_layernorm.weight"))])
    return [(r"tok_emb\.weight", _rename("model.embed_tokens.weight")),
            (r"final_norm\.weight", _rename("model.norm.weight")),
            (r"lm_head\.weight", _rename("lm_head.weight")),
            *norms,
            (r"blocks\.(\d+)\.attn\.(.+)", _rename(layer + r"self_attn.\2")),
            (r"blocks\.(\d+)\.mlp\.(gate_proj|up_proj|down_proj)\.(weight|bias)", _rename(layer + r"mlp.\2.\3"))]


def _gemma3_rules() -> list[Rule]:
    def norm(template: str):
        return lambda m, cfg: [Source((m.expand(template),), _plus_one)]
    layer = r"model.layers.\1."
    return [(r"final_norm\.weight", norm("model.norm.weight")),
            (r"blocks\.(\d+)\.attn_norm\.weight", norm(layer + "input_layernorm.weight")),
            (r"blocks\.(\d+)\.attn_post_norm\.weight", norm(layer + "post_attention_layernorm.weight")),
            (r"blocks\.(\d+)\.mlp_norm\.weight", norm(layer + "pre_feedforward_layernorm.weight")),
            (r"blocks\.(\d+)\.mlp_post_norm\.weight", norm(layer + "post_feedforward_layernorm.weight")),
            (r"blocks\.(\d+)\.attn\.(q_norm|k_norm)\.weight", norm(layer + r"self_attn.\2.weight")),
            *_llama_rules()]


def _stacked_experts(m: re.Match, cfg: ModelConfig) -> list[Source]:
    """Our (E, in, out) stack from one Linear (out, in) per expert, or transformers-5's fused tensors."""
    layer, which = m.group(1), m.group(2)
    base = f"model.layers.{layer}.mlp.experts"
    per_expert = Source(tuple(f"{base}.{e}.{which}_proj.weight" for e in range(cfg.n_experts)),
                        lambda *ws: torch.stack([w.t() for w in ws]))
    h = cfg.expert_size
    fused = {"gate": Source((f"{base}.gate_up_proj",), lambda w: w[:, :h].transpose(1, 2)),
             "up": Source((f"{base}.gate_up_proj",), lambda w: w[:, h:].transpose(1, 2)),
             "down": Source((f"{base}.down_proj",), lambda w: w.transpose(1, 2))}[which]
    return [per_expert, fused]


def _qwen3_moe_rules() -> list[Rule]:
    return [(r"blocks\.(\d+)\.mlp\.router\.weight", _rename(r"model.layers.\1.mlp.gate.weight")),
            (r"blocks\.(\d+)\.mlp\.(gate|up|down)$", _stacked_experts),
            *_llama_rules()]


def _deepseek_rules() -> list[Rule]:
    attn = r"model.layers.\1.self_attn."
    return [(r"blocks\.(\d+)\.attn\.kv_a_proj\.(weight|bias)", _rename(attn + r"kv_a_proj_with_mqa.\2")),
            (r"blocks\.(\d+)\.attn\.q_a_norm\.weight", _rename(attn + "q_a_layernorm.weight")),
            (r"blocks\.(\d+)\.attn\.kv_a_norm\.weight", _rename(attn + "kv_a_layernorm.weight")),
            (r"blocks\.(\d+)\.mlp\.router\.weight", _rename(r"model.layers.\1.mlp.gate.weight")),
            (r"blocks\.(\d+)\.mlp\.router_correction", _rename(r"model.layers.\1.mlp.gate.e_score_correction_bias")),
            (r"blocks\.(\d+)\.mlp\.shared\.(\w+)\.weight", _rename(r"model.layers.\1.mlp.shared_experts.\2.weight")),
            (r"blocks\.(\d+)\.mlp\.(gate|up|down)$", _stacked_experts),
            *_llama_rules()]


def _gpt_oss_rules() -> list[Rule]:
    experts = r"model.layers.\1.mlp.experts."

    def column(name: str, part: slice):
        # gate and up are interleaved columns of one (E, in, 2*hidden) tensor: gate = ::2, up = 1::2
        return lambda m, cfg: [Source((m.expand(experts + name),), lambda w: w[..., part])]
    return [(r"blocks\.(\d+)\.mlp\.router\.(weight|bias)", _rename(r"model.layers.\1.mlp.router.\2")),
            (r"blocks\.(\d+)\.mlp\.gate$", column("gate_up_proj", slice(0, None, 2))),
            (r"blocks\.(\d+)\.mlp\.up$", column("gate_up_proj", slice(1, None, 2))),
            (r"blocks\.(\d+)\.mlp\.gate_bias$", column("gate_up_proj_bias", slice(0, None, 2))),
            (r"blocks\.(\d+)\.mlp\.up_bias$", column("gate_up_proj_bias", slice(1, None, 2))),
            (r"blocks\.(\d+)\.mlp\.down$", _rename(experts + "down_proj")),
            (r"blocks\.(\d+)\.mlp\.down_bias$", _rename(experts + "down_proj_bias")),
            *_llama_rules()]


def _gpt2_rules() -> list[Rule]:
    h = r"transformer.h.\1."

    def qkv(part: str):
        # Conv1D c_attn: y = x @ W + b with W (d, 3d) holding q | k | v; ours are Linear (out, in)
        j = "qkv".index(part)

        def build(w):
            d = w.shape[-1] // 3
            piece = w[..., j * d:(j + 1) * d]
            return piece.t() if piece.dim() == 2 else piece
        return lambda m, cfg: [Source((m.expand(h + r"attn.c_attn.\2"),), build)]

    def conv(template: str):
        return lambda m, cfg: [Source((m.expand(template),), _t if m.group(2) == "weight" else (lambda b: b))]
    return [(r"tok_emb\.weight", _rename("transformer.wte.weight")),
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
            (r"blocks\.(\d+)\.mlp\.down_proj\.(weight|bias)", conv(h + r"mlp.c_proj.\2"))]


# ---------------------------------------------------------------- the table
@dataclass(frozen=True)
class HFType:
    family: str
    config: Callable[[Reader], dict[str, Any]]
    rules: Callable[[], list[Rule]]
    prefix: str = "model."                       # the base model's prefix in a *ForCausalLM checkpoint
    ignore: tuple[str, ...] = ()                 # regexes of checkpoint tensors that are not parameters
    key_aliases: tuple[tuple[str, str], ...] = ()  # stored-name prefix -> canonical prefix
    text_config: bool = False                    # a multimodal config: the decoder is its `text_config`


MODEL_TYPES: dict[str, HFType] = {
    "gpt2": HFType("gpt2", config_gpt2, _gpt2_rules, prefix="transformer.",
                   ignore=(r"transformer\.h\.\d+\.attn\.(masked_)?bias$",)),
    "llama": HFType("llama", config_llama, _llama_rules),
    "mistral": HFType("mistral", config_mistral, _llama_rules),
    "qwen2": HFType("qwen2", config_qwen2, _llama_rules),
    "qwen3": HFType("qwen3", config_qwen3, _llama_rules),
    "qwen3_moe": HFType("qwen3", config_qwen3_moe, _qwen3_moe_rules),
    "olmo2": HFType("olmo2", config_olmo2, lambda: _llama_rules(post=True)),
    "gemma3_text": HFType("gemma3", config_gemma3_text, _gemma3_rules),
    "gpt_oss": HFType("gpt-oss", config_gpt_oss, _gpt_oss_rules),
    "deepseek_v3": HFType("deepseek", config_deepseek_v3, _deepseek_rules),
    # Gemma 3 4B/12B/27B ship as image-text models: we import the text decoder, not the vision tower
    "gemma3": HFType("gemma3", config_gemma3_text, _gemma3_rules, text_config=True,
                     key_aliases=(("model.language_model.", "model."), ("language_model.model.", "model."),
                                  ("language_model.lm_head.", "lm_head.")),
                     ignore=(r"(model\.)?(vision_tower|multi_modal_projector)\..*",)),
}

ALWAYS_IGNORED = (r"(.*\.)?rotary_emb\.inv_freq$",)


# ---------------------------------------------------------------- config_from_hf
def _config_file(path: str | Path) -> Path:
    path = Path(path)
    file = path / "config.json" if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(f"no config.json in {path}; a checkpoint folder needs the Hugging Face config.json.",
                          file=str(path))
    return file


def read_hf_config(path: str | Path) -> tuple[dict[str, Any], Path]:
    file = _config_file(path)
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg} at line {exc.lineno}.", file=str(file)) from None
    if not isinstance(data, dict):
        raise ConfigError("expected a JSON object.", file=str(file))
    return data, file


def _type_of(data: dict[str, Any], file: Path) -> tuple[str, HFType]:
    model_type = data.get("model_type")
    if model_type not in MODEL_TYPES:
        raise ConfigError(f"model_type {model_type!r} is not supported; supported: {', '.join(MODEL_TYPES)}.",
                          file=str(file), field="model_type")
    return model_type, MODEL_TYPES[model_type]


def config_from_hf(path: str | Path, *, name: str | None = None) -> ModelConfig:
    """A ModelConfig from an HF checkpoint folder or its config.json; errors name the file and key."""
    data, file = read_hf_config(path)
    model_type, spec = _type_of(data, file)
    if spec.text_config:
        outer = Reader(data, str(file))
        for key in MULTIMODAL_KEYS:
            outer.get(key)
        text = dict(outer.get("text_config") or {})
        if "tie_word_embeddings" in data:  # the composite model's own setting decides the head
            text["tie_word_embeddings"] = outer.get("tie_word_embeddings")
        outer.finish()
        reader = Reader(text, f"{file} (text_config)")
    else:
        reader = Reader(data, str(file))
    fields = spec.config(reader)
    reader.finish()
    default_name = file.parent.name if file.name == "config.json" else file.stem
    fields = {k: v for k, v in fields.items() if v is not None}
    fields.update(name=name or default_name or "imported", family=spec.family, source=str(file),
                  description=f"imported from {file} (model_type {model_type})")
    return ModelConfig.from_dict(fields, file=str(file))


def variant_yaml(cfg: ModelConfig) -> str:
    """The variant as registry YAML (only fields that differ from the defaults)."""
    import yaml
    body = {k: v for k, v in cfg.to_dict(skip_defaults=True).items() if k != "name"}
    for key in ("family", "description", "source"):
        body.setdefault(key, getattr(cfg, key))
    ordered = {k: body[k] for k in ("family", "description", "source") if k in body}
    ordered.update({k: v for k, v in body.items() if k not in ordered})
    class Dumper(yaml.SafeDumper):  # block mappings, one-line lists (layer_types stays readable)
        pass
    Dumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
    text = yaml.dump({cfg.name: ordered}, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=110)
    return f"# archbench variant, mapped from a Hugging Face config by `archbench import`\n{text}"


# ---------------------------------------------------------------- tensors
FP4_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0)


def dequantize_mxfp4(blocks: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """gpt-oss MXFP4: blocks (..., out, G, 16) uint8 holding two e2m1 values each (low nibble first),
    scales (..., out, G) uint8 biased exponents of 32-value groups -> (..., in = G*32, out) float32."""
    lut = torch.tensor(FP4_VALUES, dtype=torch.float32)
    blocks = blocks.to(torch.uint8)
    low, high = lut[(blocks & 0x0F).long()], lut[(blocks >> 4).long()]
    values = torch.stack((low, high), dim=-1).flatten(-2)               # (..., out, G, 32)
    values = torch.ldexp(values, (scales.to(torch.int32) - 127).unsqueeze(-1))
    return values.flatten(-2).transpose(-1, -2).contiguous()


def dequantize_fp8(weight: torch.Tensor, scale_inv: torch.Tensor, block: tuple[int, int] = (128, 128)) -> torch.Tensor:
    """DeepSeek-V3 FP8: weight (out, in) e4m3 times one scale per (128 x 128) block."""
    out, inp = weight.shape
    scale = scale_inv.float().repeat_interleave(block[0], 0)[:out].repeat_interleave(block[1], 1)[:, :inp]
    return weight.float() * scale


class TensorStore:
    """Checkpoint tensors by name across safetensors shards, read lazily; quantised tensors are
    dequantised on read. Remembers which stored tensors were read."""

    def __init__(self, folder: Path, files: list[Path], spec: HFType, fp8_block: tuple[int, int] = (128, 128)):
        from safetensors import safe_open
        self.handles = {f: safe_open(str(f), framework="pt") for f in files}
        self.where: dict[str, tuple[Path, str]] = {}  # canonical name -> (file, name in the file)
        for f, handle in self.handles.items():
            for key in handle.keys():
                self.where[self._canonical(key, spec)] = (f, key)
        self.used: set[str] = set()
        self.fp8_block = fp8_block
        self._last: tuple[str, torch.Tensor] | None = None

    @staticmethod
    def _canonical(key: str, spec: HFType) -> str:
        """Base-model checkpoints (no `model.` / `transformer.` prefix) read like *ForCausalLM ones;
        a multimodal checkpoint's text decoder reads like a text-only one."""
        for stored, canonical in spec.key_aliases:
            if key.startswith(stored):
                return canonical + key[len(stored):]
        if key.startswith(spec.prefix) or key.startswith("lm_head.") or any(
                re.fullmatch(p, key) for p in spec.ignore):
            return key
        return spec.prefix + key

    def keys(self) -> set[str]:
        return set(self.where)

    def has(self, key: str) -> bool:
        return (key in self.where or (key + "_blocks" in self.where and key + "_scales" in self.where))

    def _read(self, key: str) -> torch.Tensor:
        self.used.add(key)
        file, stored = self.where[key]
        return self.handles[file].get_tensor(stored)

    def get(self, key: str) -> torch.Tensor:
        if self._last is not None and self._last[0] == key:
            return self._last[1]  # gate and up read the same fused tensor
        if key not in self.where:
            tensor = dequantize_mxfp4(self._read(key + "_blocks"), self._read(key + "_scales"))
        else:
            tensor = self._read(key)
            scale_key = key + "_scale_inv"
            if key.endswith(".weight") and scale_key in self.where:
                tensor = dequantize_fp8(tensor, self._read(scale_key), self.fp8_block)
        self._last = (key, tensor)
        return tensor


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint (the index's shards, or every *.safetensors); [] if none.
    Pickle weights are refused: loading them can run arbitrary code."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError) as exc:
            raise CheckpointError(f"unreadable shard index ({exc}).", file=str(index)) from None
        missing = [n for n in names if not (folder / n).is_file()]
        if missing:
            raise CheckpointError(f"the index lists shard {missing[0]} but it is not in the folder "
                                  f"({len(missing)} missing).", file=str(index))
        return [folder / n for n in names]
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        pickles = sorted(p.name for pattern in ("*.bin", "*.pt", "*.pth", "*.ckpt") for p in folder.glob(pattern))
        if pickles:
            raise CheckpointError(
                f"only pickle weights found ({', '.join(pickles[:3])}); archbench reads safetensors only, because "
                "unpickling can run arbitrary code. Convert them once in a trusted environment, e.g. "
                "`AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(OUT)` (writes model.safetensors).",
                file=str(folder))
    return files


def _examples(items: list[str], n: int = 4) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" (and {len(items) - n} more)" if len(items) > n else "")


def _empty_model(cfg: ModelConfig, device: str | torch.device, dtype: torch.dtype):
    """Our decoder with uninitialised storage (every persistent tensor is then read from the checkpoint)."""
    from suite.model import build_model
    from suite.model.position import Rotary
    model = build_model(cfg, device="meta").to_empty(device=device)
    # to_empty leaves non-persistent buffers (the RoPE tables) uninitialised: rebuild them
    if cfg.position == "rope":
        for kind in list(model.rotary):
            model.rotary[kind] = Rotary(cfg, kind).to(device)
    persistent = set(model.state_dict())
    stray = [n for n, _ in model.named_buffers() if n not in persistent and not n.startswith("rotary.")]
    if stray:  # a new kind of derived buffer in the decoder: it would stay uninitialised here
        raise RuntimeError(f"checkpoints._empty_model does not know how to rebuild buffer {stray[0]}")
    return model.to(dtype)


def load_checkpoint(path: str | Path, *, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu",
                    name: str | None = None):
    """(cfg, model): the config mapped from config.json and our decoder holding the checkpoint's weights."""
    data, file = read_hf_config(path)
    folder = file.parent
    cfg = config_from_hf(file, name=name)
    spec = MODEL_TYPES[data["model_type"]]
    files = weight_files(folder)
    if not files:
        raise CheckpointError("no *.safetensors weights in the folder (only a config: use it as a variant, "
                              "e.g. `archbench show DIR`).", file=str(folder))
    block = tuple((data.get("quantization_config") or {}).get("weight_block_size") or (128, 128))
    store = TensorStore(folder, files, spec, fp8_block=block)
    model = _empty_model(cfg, device, dtype)
    rules = [(re.compile(pattern), build) for pattern, build in spec.rules()]
    missing, shapes = [], []
    with torch.no_grad():
        for our_name, target in model.state_dict(keep_vars=True).items():
            sources = next((build(m, cfg) for regex, build in rules if (m := regex.fullmatch(our_name))), None)
            if sources is None:
                raise RuntimeError(f"checkpoints: no name rule for our tensor {our_name} ({data['model_type']})")
            source = next((s for s in sources if all(store.has(k) for k in s.keys)), None)
            if source is None:
                missing.append(sources[0].keys[0] if len(sources[0].keys) == 1 else
                               f"{sources[0].keys[0]} .. {sources[0].keys[-1]}")
                continue
            tensor = source.build(*(store.get(k) for k in source.keys))
            if tuple(tensor.shape) != tuple(target.shape):
                shapes.append(f"{source.keys[0]}: checkpoint gives {tuple(tensor.shape)}, the config needs "
                              f"{tuple(target.shape)} (as {our_name})")
                continue
            target.copy_(tensor.to(target.dtype))
    if missing:
        raise CheckpointError(f"{len(missing)} tensors the config needs are missing from the checkpoint: "
                              f"{_examples(missing)}.", file=str(folder))
    if shapes:
        raise CheckpointError(f"{len(shapes)} tensors do not match the config's shapes: {_examples(shapes, 3)}.",
                              file=str(folder))
    _check_tied_head(cfg, store, model, folder)
    ignore = [re.compile(p) for p in (*spec.ignore, *ALWAYS_IGNORED)]
    extra_layers = re.compile(rf"{re.escape(spec.prefix)}layers\.(\d+)\.")
    unexpected = []
    for key in sorted(store.keys() - store.used):
        if any(p.fullmatch(key) for p in ignore) or key.removesuffix("_scale_inv") in store.used:
            continue
        m = extra_layers.match(key)
        if m and int(m.group(1)) >= cfg.n_layers and data.get("num_nextn_predict_layers"):
            continue  # DeepSeek's multi-token-prediction layers follow the main model's layers
        unexpected.append(key)
    if unexpected:
        raise CheckpointError(f"{len(unexpected)} checkpoint tensors have no place in the mapped model (a config "
                              f"that does not describe these weights?): {_examples(unexpected)}.", file=str(folder))
    model.eval()
    return cfg, model


def _check_tied_head(cfg: ModelConfig, store: TensorStore, model, folder: Path) -> None:
    """A stored lm_head with tied embeddings is fine only if it is the embedding."""
    if cfg.tie_embeddings and store.has("lm_head.weight"):
        head = store.get("lm_head.weight")
        if head.shape != model.tok_emb.weight.shape or not torch.equal(head.to(model.tok_emb.weight.dtype),
                                                                        model.tok_emb.weight):
            raise CheckpointError("tie_word_embeddings is true but the checkpoint's lm_head.weight differs from the "
                                  "input embedding; the model would silently lose its head.", file=str(folder),
                                  field="tie_word_embeddings")


# ---------------------------------------------------------------- `archbench import`
def import_checkpoint(path: str | Path, *, name: str | None = None, out: str | Path | None = None,
                      check: bool = False, seq_len: int = 32, batch: int = 2) -> tuple[dict[str, Any], str]:
    """Map (and, with weights, load) a checkpoint; optionally check parity. Returns (record, variant YAML)."""
    from suite.analytic.params import count_params
    data, file = read_hf_config(path)
    folder = file.parent
    files = weight_files(folder)
    if files:
        cfg, model = load_checkpoint(file, name=name)
        weights = {"files": len(files), "tensors": len(model.state_dict()),
                   "parameters": sum(p.numel() for p in model.parameters())}
    else:
        if check:
            raise CheckpointError("--check needs weights: the folder has a config.json but no *.safetensors.",
                                  file=str(folder))
        cfg, model, weights = config_from_hf(file, name=name), None, None
    text = variant_yaml(cfg)
    if out is not None:
        Path(out).write_text(text)
    params = count_params(cfg)
    record: dict[str, Any] = {
        "model_type": data["model_type"], "variant": cfg.name, "out": None if out is None else str(out),
        "params": {k: params[k] for k in ("total", "active", "embedding", "active_excl_embedding")},
        "weights": weights, "config": cfg.to_dict()}
    if check:
        from suite.hf.parity import check_parity
        record.update(check_parity(file, seq_len=seq_len, batch=batch, loaded=(cfg, model)))
    return record, text
