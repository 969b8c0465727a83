"""The variant registry over `architectures/**/*.yaml`, `base:` inheritance and the proxy rule.

A file is a mapping of variant names to fields:

    gpt2-medium:
      base: gpt2-small          # any variant in any file
      source: https://...       # where the published numbers come from
      d_model: 1024

A variant is its base's resolved fields updated by its own. Files are read with
`suite.safeio` (safe loader, duplicate keys refused). Every error names the file, the variant and the field.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from suite.config import ConfigError, ModelConfig, field_names
from suite.messages import shown
from suite.safeio import InputError, check_name, parse_yaml, read_text

META_KEYS = ("base",)


def data_dir(name: str) -> Path:
    """A shipped data folder (`architectures`, `suites`, `tasks`, `reports`), from a wheel or a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_data" / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"archbench data folder '{name}' not found next to {here}")


@dataclass(frozen=True)
class Entry:
    name: str
    file: str
    fields: dict[str, Any]  # as written, without `base`
    base: str | None


@dataclass(frozen=True)
class Resolved:
    config: ModelConfig
    origin: dict[str, str]  # field -> "variant (file)" that set it; absent: dataclass default
    chain: tuple[str, ...]  # the variant, its base, its base's base...


class Registry:
    def __init__(self, dirs: Iterable[str | Path] = (), *, builtin: bool = True):
        self.entries: dict[str, Entry] = {}
        folders = ([data_dir("architectures")] if builtin else []) + [Path(d) for d in dirs]
        for folder in folders:
            if not Path(folder).is_dir():
                raise ConfigError(f"registry folder does not exist: {folder}")
            for path in sorted(Path(folder).rglob("*.yaml")) + sorted(Path(folder).rglob("*.yml")):
                self.add_file(path)
        self._cache: dict[str, Resolved] = {}

    # ------------------------------------------------------------------ loading
    def add_file(self, path: Path) -> None:
        file = _display_path(path)
        # duplicate keys, YAML bombs, deep nesting, binary or unreadable files: one error naming the file
        data = read_yaml(path, file, "variant file")
        if data is None:
            return
        if not isinstance(data, dict):
            raise ConfigError(f"expected a mapping of variant names to fields, got {type(data).__name__}.", file=file)
        known = set(field_names())
        for name, body in data.items():
            check_name(name, file=file, field="name")
            if not isinstance(body, dict):
                raise ConfigError(f"expected a mapping of fields, got {body!r}.", file=file, variant=name)
            if name in self.entries:
                raise ConfigError(
                    f"duplicate variant name; it is also defined in {self.entries[name].file}.", file=file, variant=name
                )
            body = dict(body)
            base = body.pop("base", None)
            if base is not None:
                try:
                    check_name(base, file=file, field="base", what="the base variant name")
                except ConfigError as exc:
                    raise ConfigError(exc.reason, file=file, variant=name, field="base") from None
            if "name" in body:
                raise ConfigError(
                    "the variant name is the mapping key; do not set 'name'.", file=file, variant=name, field="name"
                )
            for key in body:
                if key not in known:
                    close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
                    hint = f" Did you mean '{close[0]}'?" if close else ""
                    raise ConfigError(
                        f"unknown field.{hint} See `archbench show --fields` for the list.",
                        file=file,
                        variant=name,
                        field=str(key),
                    )
            self.entries[name] = Entry(name=name, file=file, fields=body, base=base)

    # ---------------------------------------------------------------- resolving
    def names(self) -> list[str]:
        return sorted(self.entries)

    def resolve(self, name: str) -> Resolved:
        if name in self._cache:
            return self._cache[name]
        if name not in self.entries:
            raise ConfigError(_unknown(name, self.entries, "variant"))
        chain: list[str] = []
        current: str | None = name
        while current is not None:
            if current in chain:
                cycle = " -> ".join(chain[chain.index(current) :] + [current])
                raise ConfigError(
                    f"'base:' inheritance has a cycle: {cycle}.",
                    file=self.entries[name].file,
                    variant=name,
                    field="base",
                )
            if current not in self.entries:
                child = self.entries[chain[-1]]
                raise ConfigError(
                    _unknown(current, self.entries, "base variant"), file=child.file, variant=child.name, field="base"
                )
            chain.append(current)
            current = self.entries[current].base
        merged: dict[str, Any] = {}
        origin: dict[str, str] = {}
        for ancestor in reversed(chain):
            entry = self.entries[ancestor]
            merged.update(entry.fields)
            origin.update({k: f"{entry.name} ({entry.file})" for k in entry.fields})
        # family defaults to the root variant's name's family if not set
        merged["name"] = name
        leaf = self.entries[name]
        config = _build(merged, origin, leaf)
        resolved = Resolved(config=config, origin=origin, chain=tuple(chain))
        self._cache[name] = resolved
        return resolved

    def get(self, name: str) -> ModelConfig:
        return self.resolve(name).config

    def configs(self) -> list[ModelConfig]:
        return [self.get(n) for n in self.names()]


def _build(merged: dict[str, Any], origin: dict[str, str], leaf: Entry) -> ModelConfig:
    """Type-check every field against the file that set it, then validate the whole config."""
    try:
        return ModelConfig.from_dict(merged, file=leaf.file)
    except ConfigError as exc:
        if exc.field and exc.field in origin and not origin[exc.field].endswith(f"({leaf.file})"):
            raise ConfigError(
                f"{exc.reason} (the value is inherited from {origin[exc.field]})",
                variant=leaf.name,
                file=leaf.file,
                field=exc.field,
            ) from None
        raise


def read_yaml(path: Path, file: str, what: str) -> Any:
    """`safeio` reading and parsing, plus the ValueError PyYAML's constructors raise themselves: an integer
    literal past Python's 4,300-digit conversion limit, a date such as 2024-13-45."""
    text = read_text(path, what)
    try:
        return parse_yaml(text, file, what)
    except ConfigError:
        raise
    except ValueError as exc:
        raise InputError(
            f"{what} {file} has a value YAML cannot convert: {str(exc).split(';')[0]}.", file=file
        ) from None


def _display_path(path: Path) -> str:
    """Built-in files as 'architectures/x.yaml'; the user's own files as given."""
    try:
        return str(Path(path).resolve().relative_to(data_dir("architectures").parent))
    except (ValueError, RuntimeError, OSError):  # not built in; or a symlink loop, which reading will report
        return str(path)


def _unknown(name: str, known: Iterable[str], what: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5) if len(name) <= 200 else []
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    quoted = shown(name) if len(name) > 200 or not name.isprintable() else f"'{name}'"
    return f"unknown {what} {quoted}.{hint} `archbench list` shows all {len(list(known))} variants."


# -------------------------------------------------------------------- lookup
def load_variant(spec: str, registry_dirs: Iterable[str | Path] = ()) -> ModelConfig:
    """A variant by name or a path to a variant YAML file (HF configs are read by `suite.hf.resolve`)."""
    path = Path(spec)
    try:
        is_file = path.exists()
    except OSError:  # a name too long to be a path (ENAMETOOLONG) is still a name
        is_file = False
    if is_file:
        if path.is_dir() or path.suffix == ".json":
            raise ConfigError(
                "a folder or .json file is a Hugging Face checkpoint/config, not a registry variant; "
                "open it through the hf layer (suite.hf.resolve.resolve_any).",
                file=str(path),
            )
        registry = Registry(registry_dirs)
        local = Registry([], builtin=False)
        local.add_file(path)
        names = local.names()
        if len(names) != 1:
            raise ConfigError(
                f"a variant file given as a path must hold exactly one variant, found {len(names)}: "
                f"{', '.join(names)}; name one of them instead.",
                file=str(path),
            )
        for entry in local.entries.values():
            if entry.name in registry.entries and registry.entries[entry.name].file != entry.file:
                registry.entries.pop(entry.name)
            registry.entries[entry.name] = entry
        return registry.get(names[0])
    return Registry(registry_dirs).get(spec)


# --------------------------------------------------------------- proxy rule
SCALES: dict[str, dict[str, int]] = {
    # d_model, query heads target, head_dim, max layers of the repeating pattern, context, vocab
    "tiny": dict(d_model=64, heads=4, head_dim=16, context=256, vocab=256),
    "small": dict(d_model=128, heads=4, head_dim=32, context=512, vocab=256),
    "base": dict(d_model=256, heads=8, head_dim=32, context=1024, vocab=256),
}


def _round(x: float, multiple: int = 8) -> int:
    return max(multiple, int(round(x / multiple)) * multiple)


def _pattern_period(kinds: tuple[str, ...]) -> int:
    """The shortest p with kinds[i] == kinds[i % p] for every i (KMP's failure function: linear time,
    where trying every p took minutes for 100,000 layers without a repeat)."""
    fail = [0] * len(kinds)
    k = 0
    for i in range(1, len(kinds)):
        while k and kinds[i] != kinds[k]:
            k = fail[k - 1]
        if kinds[i] == kinds[k]:
            k += 1
        fail[i] = k
    return len(kinds) - fail[-1] if kinds else 0


MAX_PROXY_LAYERS = 256  # one period of layer_types; a longer one would not run on a CPU


def proxy(cfg: ModelConfig, scale: str = "tiny", *, width: int | None = None) -> ModelConfig:
    """Scale a variant down to a CPU-runnable size, keeping its component choices and ratios.

    The rule (documented in the README):
    - width: d_model and head_dim from the scale; MLP and expert hidden sizes keep their ratio to d_model;
    - heads: the GQA group size n_heads/n_kv_heads is kept (MQA stays MQA, MHA stays MHA);
    - layers: one period of the layer_types pattern (at least 2 layers), plus one dense layer if
      the original has dense-first MoE layers (one period of them if they hold a layer kind the MoE
      layers lack), so every layer kind is present; a period over 256 layers is refused;
    - MoE: the experts/top-k ratio is kept with top-k capped at 2 (n_experts capped at 64);
    - sliding window: min(window, context / 4) so sliding layers really slide at proxy context;
    - sparse attention (dsa): index_topk likewise min(topk, context / 4), at least 8, so selection
      drops keys; the indexer gets the scale's head_dim and at most n_heads heads;
    - vocabulary: 256 (byte-level tokenizer); every component key and flag is unchanged.
    """
    if scale not in SCALES:
        raise ConfigError(f"unknown scale '{scale}'; choose one of: {', '.join(SCALES)}.", field="scale")
    s = SCALES[scale]
    if width is not None:
        # the same rule at another width: the scale's head_dim, as many query heads as fit
        if not 8 <= width <= 65536:
            raise ConfigError(f"a proxy width must be between 8 and 65536, got {width}.", field="width")
        s = dict(s, d_model=width, heads=max(1, round(width / s["head_dim"])))
    d = s["d_model"]
    kinds = cfg.layer_kinds
    dense = kinds[: cfg.moe_dense_first] if cfg.is_moe else ()
    body = kinds[len(dense) :]  # never empty: validate keeps at least one MoE layer
    # one dense layer; one period of them when they hold a layer kind the MoE layers lack
    dense = dense[: 1 if set(dense) <= set(body) else _pattern_period(dense)]
    moe_dense, period = len(dense), _pattern_period(body)
    n_layers = moe_dense + max(2, period)
    if n_layers > MAX_PROXY_LAYERS:
        raise ConfigError(
            f"the proxy keeps one period of the layer pattern, and no pattern shorter than {period} layers "
            f"repeats; at most {MAX_PROXY_LAYERS} layers run as a proxy. Analyse it at --scale full, or "
            "write layer_types as a repeating pattern.",
            variant=cfg.name,
            field="layer_types",
        )
    pattern = dense + tuple(body[i % len(body)] for i in range(n_layers - moe_dense))
    group = cfg.n_heads // cfg.kv_heads
    # MQA stays MQA (one head alone is MHA, and scales as MHA, unless the variant says 'mqa')
    if cfg.attention == "mqa" or (cfg.kv_heads == 1 and cfg.n_heads > 1):
        n_heads, n_kv = s["heads"], 1
    else:
        n_kv = max(1, s["heads"] // group)
        n_heads = n_kv * group
    ratio = d / cfg.d_model
    changes: dict[str, Any] = dict(
        name=f"{cfg.name}@{scale}" + (f"-w{width}" if width is not None else ""),
        vocab_size=s["vocab"],
        d_model=d,
        n_layers=n_layers,
        n_heads=n_heads,
        n_kv_heads=None if cfg.n_kv_heads is None and n_kv == n_heads else n_kv,
        head_dim=None if cfg.head_dim is None and d % n_heads == 0 else s["head_dim"],
        mlp_hidden=None if cfg.mlp_hidden is None else _round(cfg.hidden * ratio),
        context_length=min(cfg.context_length, s["context"]),
        layer_types=None if cfg.layer_types is None else pattern,
    )
    if cfg.head_dim is None and d % n_heads:
        changes["head_dim"] = s["head_dim"]
    if cfg.attn_scale is not None:
        # keep the ratio of the published scale to head_dim ** -0.5
        changes["attn_scale"] = cfg.attn_scale / cfg.head_size**-0.5 * (changes["head_dim"] or d // n_heads) ** -0.5
    if cfg.sliding_window:
        changes["sliding_window"] = max(8, min(cfg.sliding_window, changes["context_length"] // 4))
    if cfg.rope_original_context:
        # never above the proxy's context: the pre-extension context cannot exceed the extended one
        changes["rope_original_context"] = min(
            max(16, min(cfg.rope_original_context, changes["context_length"])), changes["context_length"]
        )
    if cfg.is_moe:
        top_k = min(cfg.experts_top_k, 2)
        n_experts = min(64, max(top_k, round(cfg.n_experts * top_k / cfg.experts_top_k)))
        groups = cfg.router_groups if n_experts % cfg.router_groups == 0 else 1
        changes.update(
            n_experts=n_experts,
            experts_top_k=top_k,
            moe_dense_first=moe_dense,
            router_groups=groups,
            router_topk_groups=min(cfg.router_topk_groups, groups),
            expert_hidden=None if cfg.expert_hidden is None else _round(cfg.expert_size * ratio),
            shared_expert_hidden=None if cfg.shared_expert_hidden is None else _round(cfg.shared_hidden * ratio),
        )
        if groups > 1 and top_k > changes["router_topk_groups"] * (n_experts // groups):
            changes["router_topk_groups"] = groups
    if cfg.latent_attention:
        changes.update(
            q_lora_rank=None if cfg.q_lora_rank is None else _round(cfg.q_lora_rank * ratio),
            kv_lora_rank=_round(cfg.kv_lora_rank * ratio),
            qk_rope_head_dim=8,
            qk_nope_head_dim=s["head_dim"],
            v_head_dim=s["head_dim"],
            head_dim=None,
        )
    if cfg.attention == "dsa":  # top-k like a window: small enough that selection drops keys at proxy context
        changes.update(
            index_heads=min(cfg.index_heads, n_heads),
            index_head_dim=s["head_dim"],
            index_topk=max(8, min(cfg.index_topk, changes["context_length"] // 4)),
        )
    changes.update(_proxy_mixers(cfg, s))
    return dataclasses.replace(cfg, **changes)  # validated on construction


def _proxy_mixers(cfg: ModelConfig, s: dict[str, int]) -> dict[str, Any]:
    """Mixer sizes at proxy scale: head dims from the scale, the value/key head ratio (Gated DeltaNet)
    and the expansion (Mamba-2: heads x head_dim / d_model) kept, the SSM state capped at 16."""
    out: dict[str, Any] = {}
    if cfg.linear_k_heads:
        per_key = cfg.linear_v_heads // cfg.linear_k_heads
        k_heads = max(1, s["heads"] // per_key)
        out.update(
            linear_k_heads=k_heads,
            linear_v_heads=k_heads * per_key,
            linear_k_head_dim=s["head_dim"],
            linear_v_head_dim=s["head_dim"],
        )
    if cfg.ssm_heads:
        expand = cfg.ssm_heads * cfg.ssm_head_dim / cfg.d_model
        heads = max(1, round(expand * s["d_model"] / s["head_dim"]))
        groups = max(g for g in range(1, min(cfg.ssm_groups, heads) + 1) if heads % g == 0)
        out.update(
            ssm_heads=heads, ssm_head_dim=s["head_dim"], ssm_state_size=min(cfg.ssm_state_size, 16), ssm_groups=groups
        )
    return out


def resolve_config(spec: str, registry_dirs: Iterable[str | Path] = (), scale: str | None = None) -> ModelConfig:
    """The one entry point commands use: a name or path, optionally scaled to a proxy."""
    cfg = load_variant(spec, registry_dirs)
    return proxy(cfg, scale) if scale and scale != "full" else cfg
