"""lm-eval adapter: any archbench decoder as an `lm_eval` model named `archbench`.

    lm_eval.simple_evaluate(model="archbench", model_args="pretrained=gpt2-small,scale=tiny", tasks=[...])
    lm_eval.simple_evaluate(model=ArchbenchLM(model=my_decoder), tasks=[...])

`pretrained` is a variant name or YAML path (random init unless `checkpoint=` names weights), a
folder written by `archbench train` (config.yaml + model.safetensors), or an HF checkpoint folder
(config.json + safetensors, imported by `suite.hf.load`). The tokenizer is the byte-level one
(`suite.quality.tokenizer`: byte 0 is end-of-text) unless `tokenizer=PATH` names a tokenizer.json or the
folder holds one.

Requests (lm-eval's contracts, see `lm_eval.api.model.LM`):
- loglikelihood: sum of the continuation's token log-probs given the context, and whether every
  continuation token is the argmax (greedy); requests are batched with right padding (the decoder
  is causal, so padding after a sequence cannot change its logits).
- loglikelihood_rolling: lm-eval's disjoint rolling windows of `max_length` tokens, the first
  conditioned on the EOS token: every token is scored exactly once.
- generate_until: greedy (or sampled with `do_sample`) decoding with the KV cache, requests of
  equal prompt length batched together, stopping at EOS or as soon as a stop string appears; the
  text is cut before the first stop string.

Length limits. `max_length` (rolling windows) is the training context: the checkpoint's training
sequence length, else `context_length`. Learned absolute positions cannot go past
`context_length` at all; a request that needs more positions is, with `overflow="fail"` (default),
scored as a failure — log-likelihood -inf and not greedy, empty generation — and recorded in
`overflow_events` (also in `get_model_info()`), so long-context tasks report "cannot" instead of
crashing. `overflow="truncate"` instead keeps the most recent tokens, as lm-eval's HF model does.
RoPE and position-free models have no hard limit and run longer sequences as they are.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from lm_eval.api.model import TemplateLM
from lm_eval.api.registry import register_model
from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs
from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

from suite.config import ConfigError
from suite.quality.tokenizer import ByteTokenizer, Tokenizer, load_tokenizer

OVERFLOW_POLICIES = ("fail", "truncate")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_model(
    pretrained: str | Path,
    *,
    checkpoint: str | Path | None = None,
    scale: str | None = None,
    registry: tuple[str, ...] = (),
    seed: int = 0,
):
    """(model, meta) from a variant name/path, an `archbench train` folder or an HF checkpoint folder."""
    from suite.quality.training import is_trained, load_trained, same_architecture

    path = Path(str(pretrained))
    if is_trained(path):
        return load_trained(path)
    if path.is_dir() and (path / "config.json").is_file():
        from suite.hf.load import load_checkpoint  # HF config.json + safetensors, no pickle

        _, model = load_checkpoint(path)
        return model, {"source": str(path)}
    from suite.hf.resolve import resolve_any
    from suite.model import build_model

    cfg = resolve_any(str(pretrained), registry, scale)
    if checkpoint is not None:
        model, meta = load_trained(Path(checkpoint))
        if not same_architecture(model.cfg, cfg):
            raise ConfigError(
                f"checkpoint {checkpoint} was trained for '{model.cfg.name}', which differs from '{cfg.name}'"
            )
        return model, meta
    return build_model(cfg, seed=seed), {"source": f"{cfg.name} (random init, seed {seed})"}


@register_model("archbench")
class ArchbenchLM(TemplateLM):
    def __init__(
        self,
        pretrained: str | None = None,
        *,
        model: torch.nn.Module | None = None,
        checkpoint: str | None = None,
        scale: str | None = None,
        tokenizer: str | Tokenizer | None = None,
        eos_token: str | None = None,
        batch_size: int | str | None = 8,
        max_batch_size: int | None = None,
        device: str | None = None,
        dtype: str = "float32",
        max_length: int | None = None,
        overflow: str = "fail",
        registry: str | None = None,
        seed: int = 0,
        max_gen_toks: int = 256,
        train_context: int | None = None,
    ):
        super().__init__()
        if overflow not in OVERFLOW_POLICIES:
            raise ConfigError(f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}, got '{overflow}'")
        if dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got '{dtype}'")
        meta: dict[str, Any] = {}
        if model is None:
            if pretrained is None:
                raise ConfigError("ArchbenchLM needs `pretrained` (variant name, path or checkpoint folder) or `model`")
            registry_dirs = tuple(str(registry).split(":")) if registry else ()
            model, meta = load_model(
                pretrained, checkpoint=checkpoint, scale=scale, registry=registry_dirs, seed=int(seed)
            )
        self._device = _torch_device(device)
        self.model = model.to(device=self._device, dtype=DTYPES[dtype]).eval()
        self.cfg = model.cfg
        folder = Path(str(pretrained)) if pretrained is not None and Path(str(pretrained)).is_dir() else None
        self.tok: Tokenizer = (
            tokenizer
            if tokenizer is not None and not isinstance(tokenizer, (str, Path))
            else load_tokenizer(tokenizer, folder=folder, eos_token=eos_token)
        )
        if self.tok.vocab_size > self.cfg.vocab_size:
            raise ConfigError(
                f"tokenizer {self.tok.name} has {self.tok.vocab_size} ids but the model's vocabulary "
                f"is {self.cfg.vocab_size}"
            )
        self.meta = meta
        train_context = train_context or (meta.get("train") or {}).get("seq_len")
        self._max_length = int(max_length or train_context or self.cfg.context_length)
        # learned positions end at context_length; RoPE / none have no hard limit
        self.position_limit = self.cfg.context_length if self.cfg.position == "learned" else None
        if self.position_limit is not None:
            self._max_length = min(self._max_length, self.position_limit)
        self.overflow = overflow
        self.batch_size = 16 if batch_size in (None, "auto") else int(str(batch_size).split(":")[0])
        if max_batch_size:
            self.batch_size = min(self.batch_size, int(max_batch_size))
        self.max_gen_toks = int(max_gen_toks)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.overflow_events: list[dict[str, Any]] = []
        self.nonfinite_logits = 0  # forward passes with a NaN/inf logit: a diverged or damaged model

    # ---------------------------------------------------------------- identity
    @property
    def eot_token_id(self) -> int:
        return self.tok.eos_id

    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def tokenizer_name(self) -> str:
        return self.tok.name

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, **kwargs) -> list[int]:
        return self.tok.encode(string)

    def tok_decode(self, tokens: list[int]) -> str:
        return self.tok.decode(tokens)

    def get_model_info(self) -> dict[str, Any]:
        counts = Counter(e["request"] for e in self.overflow_events)
        return dict(
            archbench_variant=self.cfg.name,
            archbench_tokenizer=self.tok.name,
            archbench_max_length=self.max_length,
            archbench_position_limit=self.position_limit,
            archbench_overflow=self.overflow,
            archbench_overflow_counts=dict(counts),
            archbench_nonfinite_logits=self.nonfinite_logits,
            archbench_source=self.meta.get("source", ""),
        )

    def _overflowed(self, request: str, n_tokens: int) -> None:
        self.overflow_events.append(
            dict(
                request=request,
                tokens=n_tokens,
                limit=self.position_limit,
                reason=f"needs {n_tokens} positions; learned positions stop at {self.position_limit} "
                f"(context_length): scored as a failure",
            )
        )

    @torch.no_grad()
    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._checked(self.model(x.to(self._device)).float())

    def _checked(self, logits: torch.Tensor) -> torch.Tensor:
        if not bool(torch.isfinite(logits).all()):
            self.nonfinite_logits += 1
        return logits

    # -------------------------------------------------------- loglikelihood
    def _loglikelihood_tokens(
        self, requests, disable_tqdm: bool = False, override_bs: int | None = None, request_kind: str = "loglikelihood"
    ) -> list[tuple[float, bool]]:
        """requests: (cache_key, context tokens, continuation tokens) -> (sum log p, greedy) each."""
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        todo = []
        for i, (_, ctx, cont) in enumerate(requests):
            if not cont:
                results[i] = (0.0, True)
                continue
            inp = (list(ctx) + list(cont))[:-1]
            if self.position_limit is not None and len(inp) > self.position_limit:
                if self.overflow == "fail":
                    self._overflowed(request_kind, len(inp))
                    results[i] = (-math.inf, False)
                    continue
                inp = inp[-self.position_limit :]
            todo.append((i, inp, list(cont)))
        todo.sort(key=lambda item: -len(item[1]))  # similar lengths share a batch: less padding
        bs = override_bs or self.batch_size
        for start in range(0, len(todo), bs):
            batch = todo[start : start + bs]
            width = len(batch[0][1])
            x = torch.full((len(batch), width), self.eot_token_id, dtype=torch.long)
            for row, (_, inp, _) in enumerate(batch):
                x[row, : len(inp)] = torch.tensor(inp)
            logprobs = F.log_softmax(self._logits(x), dim=-1)  # (B, T, V)
            for row, (i, inp, cont) in enumerate(batch):
                n = len(cont)
                lp = logprobs[row, len(inp) - n : len(inp)]  # predictions of the continuation
                target = torch.tensor(cont, device=lp.device)
                answer = (float(lp.gather(-1, target[:, None]).sum()), bool((lp.argmax(-1) == target).all()))
                results[i] = answer
                key = requests[i][0]
                if key is not None and request_kind == "loglikelihood":
                    self.cache_hook.add_partial("loglikelihood", key, answer)
        return results  # type: ignore[return-value]

    def rolling_windows(self, tokens: list[int]) -> list[tuple[list[int], list[int]]]:
        """lm-eval's disjoint windows: (context, scored tokens); the scored parts concatenate to `tokens`."""
        return list(
            map(
                make_disjoint_window,
                get_rolling_token_windows(
                    token_list=tokens, prefix_token=self.prefix_token_id, max_seq_len=self.max_length, context_len=1
                ),
            )
        )

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        windows, owners = [], []
        for index, req in enumerate(requests):
            for ctx, cont in self.rolling_windows(self.tok_encode(req.args[0])):
                windows.append((None, ctx, cont))
                owners.append(index)
        scores = self._loglikelihood_tokens(windows, request_kind="loglikelihood_rolling")
        totals = [0.0] * len(requests)
        for owner, (ll, _) in zip(owners, scores):
            totals[owner] += ll
        for req, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
        return totals

    # ------------------------------------------------------------ generation
    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        out: list[str | None] = [None] * len(requests)
        groups: dict[tuple, list[tuple[int, list[int], dict]]] = defaultdict(list)
        for i, req in enumerate(requests):
            context, gen_kwargs = req.args
            kwargs = normalize_gen_kwargs(dict(gen_kwargs or {}), self.max_gen_toks)
            kwargs["until"] = handle_stop_sequences(kwargs.get("until"), eos=None)
            tokens = self.tok_encode(context) or [self.eot_token_id]
            key = (len(tokens), repr(sorted(kwargs.items(), key=lambda kv: kv[0])))
            groups[key].append((i, tokens, kwargs))
        for (_length, _), items in groups.items():
            for start in range(0, len(items), self.batch_size):
                batch = items[start : start + self.batch_size]
                for (i, _, _), text in zip(batch, self._generate_batch([t for _, t, _ in batch], batch[0][2])):
                    out[i] = text
                    self.cache_hook.add_partial("generate_until", requests[i].args, text)
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def _generate_batch(self, prompts: list[list[int]], kwargs: dict) -> list[str]:
        until: list[str] = kwargs["until"]
        max_new = int(kwargs["max_gen_toks"])
        limit = self.position_limit
        length = len(prompts[0])
        if limit is not None:
            if self.overflow == "truncate":
                keep = max(1, limit - max_new)
                prompts = [p[-keep:] for p in prompts]
                length = len(prompts[0])
            elif length > limit:
                for _ in prompts:
                    self._overflowed("generate_until", length)
                return [""] * len(prompts)
            max_new = min(max_new, limit - length + 1)  # the last fed position is limit - 1
        sample = bool(kwargs.get("do_sample")) and float(kwargs.get("temperature") or 0.0) > 0
        cache = self.model.new_cache()
        logits = self._checked(self.model(torch.tensor(prompts, device=self._device), cache=cache)[:, -1].float())
        generated: list[list[int]] = [[] for _ in prompts]
        done = [False] * len(prompts)
        for step in range(max_new):
            if sample:
                probs = torch.softmax(logits / float(kwargs["temperature"]), dim=-1).cpu()
                nxt = torch.multinomial(probs, 1, generator=self.generator).squeeze(1)
            else:
                nxt = logits.argmax(dim=-1).cpu()
            for row, token in enumerate(nxt.tolist()):
                if done[row]:
                    continue
                if token == self.eot_token_id:
                    done[row] = True
                    continue
                generated[row].append(token)
                if until and any(s in self.tok_decode(generated[row]) for s in until):
                    done[row] = True
            if all(done) or step == max_new - 1:
                break
            logits = self._checked(self.model(nxt[:, None].to(self._device), cache=cache)[:, -1].float())
        texts = []
        for tokens in generated:
            text = self.tok_decode(tokens)
            for stop in until:
                text = text.split(stop)[0]
            texts.append(text)
        return texts


def byte_lm(model: torch.nn.Module, **kwargs) -> ArchbenchLM:
    """An in-memory decoder with the byte tokenizer (what the quality probe evaluates)."""
    return ArchbenchLM(model=model, tokenizer=ByteTokenizer(), **kwargs)


# ------------------------------------------------------------- `archbench eval`
def task_manager(tasks: list[str], include_path=(), metadata: dict | None = None):
    """Our tasks folder first; lm-eval's own catalogue is indexed only when a task is not ours (it takes seconds)."""
    from lm_eval.tasks import TaskManager

    from suite.registry import data_dir

    paths = [str(data_dir("tasks")), *map(str, include_path)]
    ours = TaskManager(include_path=paths, include_defaults=False, metadata=metadata)
    if all(t in ours.all_tasks or t.startswith("archbench") for t in tasks):
        return ours
    return TaskManager(include_path=paths, include_defaults=True, metadata=metadata)


def _torch_device(spec: str | None) -> torch.device:
    """--device as a torch device that exists here (an unknown name or a missing GPU is the user's to fix)."""
    try:
        device = torch.device(spec or "cpu")
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"unknown torch device {spec!r}; use cpu, cuda, cuda:0 or mps.", field="device") from None
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
    }
    if not available.get(device.type, False):
        raise ConfigError(f"torch device {spec!r} is not available on this machine; use cpu.", field="device")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(
            f"torch device {spec!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s).",
            field="device",
        )
    return device


def __getattr__(name: str):
    # `archbench eval` moved to suite.quality.evaluate; the old import path keeps working
    if name in ("run_eval", "list_tasks", "print_eval"):
        from suite.quality import evaluate

        return getattr(evaluate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
