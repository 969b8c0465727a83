"""Data for proxy training and the quality tasks: the embedded corpus and small seeded generators.

Nothing here downloads anything.

Default corpus
    The source of a fixed list of pure-Python standard-library modules (`CORPUS_FILES`, ~3.5 MB) of
    the running interpreter, read in sorted order, newlines normalised to "\\n", NUL bytes removed,
    files joined by the EOS byte. The same CPython version gives the same bytes on any machine
    (pure-Python modules are not built or configured per platform; the list avoids the few modules
    distributions patch, such as site, sysconfig and pydoc). `Corpus.sha256` is recorded with every
    checkpoint and quality row, so a different interpreter shows up as a different hash. Every
    tenth file (index % 10 == 9) is held out for bits-per-byte; the rest is training text.
    `--corpus PATH` uses any UTF-8 text file instead (its last 10% is held out).

Synthetic tasks (byte-level strings; one generator per task, shared by training and evaluation)
    mqar     "a7 Q3 x0 ... | Q" -> "3": multi-query associative recall, keys are distinct letters
             (52: a-z, A-Z), values digits; one byte each, so recall is the classic two-layer
             induction pattern at any width. Training documents ask many queries after the `|`.
    copy     "copy qwerty...\\n" -> "qwerty...": repeat a random lowercase string.
    passkey  filler sentences with "The pass key is 12345. ..." at a random depth, then
             "What is the pass key? The pass key is " -> "12345"; each document is exactly
             `length` bytes including the answer and a final ".".
    Evaluation documents use seed `EVAL_SEED` and training documents the training seed (an
    independent stream), so the two do not share documents. Python's `random.Random` drives the
    generators; only its integer methods are used, which are stable across CPython versions.

Cache
    Evaluation sets are generated once into `cache_dir()/tasks/` (`$ARCHBENCH_CACHE`, default
    `~/.cache/archbench`; never the package folder, which may be read-only) as JSONL with a
    `.sha256` sidecar; a file whose bytes no longer match its hash is regenerated.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EOS = b"\x00"
EVAL_SEED = 1234
DATA_VERSION = 3  # bump when a generator changes: part of the task-data cache key

# Pure-Python, platform-independent modules present in CPython 3.10-3.13 (a missing one is skipped
# and changes the hash, which is recorded).
CORPUS_FILES = (
    "_pydecimal.py",
    "_pyio.py",
    "argparse.py",
    "ast.py",
    "asyncio/base_events.py",
    "asyncio/tasks.py",
    "bisect.py",
    "calendar.py",
    "codecs.py",
    "collections/__init__.py",
    "configparser.py",
    "contextlib.py",
    "copy.py",
    "csv.py",
    "dataclasses.py",
    "difflib.py",
    "doctest.py",
    "email/_header_value_parser.py",
    "email/feedparser.py",
    "email/message.py",
    "enum.py",
    "fnmatch.py",
    "fractions.py",
    "ftplib.py",
    "functools.py",
    "gettext.py",
    "glob.py",
    "heapq.py",
    "html/parser.py",
    "http/client.py",
    "http/cookiejar.py",
    "imaplib.py",
    "inspect.py",
    "ipaddress.py",
    "json/__init__.py",
    "json/decoder.py",
    "json/encoder.py",
    "json/scanner.py",
    "locale.py",
    "logging/__init__.py",
    "mailbox.py",
    "optparse.py",
    "pathlib.py",
    "pickle.py",
    "pickletools.py",
    "pprint.py",
    "queue.py",
    "random.py",
    "sched.py",
    "selectors.py",
    "shlex.py",
    "shutil.py",
    "smtplib.py",
    "statistics.py",
    "string.py",
    "tarfile.py",
    "textwrap.py",
    "threading.py",
    "tokenize.py",
    "traceback.py",
    "typing.py",
    "unittest/case.py",
    "unittest/mock.py",
    "urllib/parse.py",
    "uuid.py",
    "weakref.py",
    "xml/dom/minidom.py",
    "zipfile.py",
)
HELDOUT_EVERY = 10  # file i is held out when i % 10 == 9
BPB_DOC_BYTES = 1024  # held-out text is cut into documents of at most this many bytes


def cache_dir() -> Path:
    return Path(os.environ.get("ARCHBENCH_CACHE") or Path.home() / ".cache" / "archbench")


# ------------------------------------------------------------------ corpus
@dataclass(frozen=True)
class Corpus:
    name: str
    train: bytes  # documents joined by EOS
    heldout: tuple[str, ...]  # held-out documents (text), at most BPB_DOC_BYTES each
    sha256: str  # of the whole normalised corpus (train and held-out)
    n_files: int

    def describe(self) -> dict[str, Any]:
        return dict(
            corpus=self.name,
            corpus_sha256=self.sha256,
            corpus_train_bytes=len(self.train),
            corpus_heldout_docs=len(self.heldout),
        )


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _chunks(text: str, limit: int = BPB_DOC_BYTES) -> list[str]:
    """Cut text at line boundaries into pieces of at most `limit` UTF-8 bytes (long lines are split)."""
    out, current, size = [], [], 0
    for line in text.splitlines(keepends=True):
        while len(line.encode()) > limit:  # a single overlong line
            head, line = line[: limit // 4], line[limit // 4 :]
            out.append(head)
        n = len(line.encode())
        if size + n > limit and current:
            out.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += n
    if current:
        out.append("".join(current))
    return [c for c in out if c.strip()]


def _corpus(name: str, train_docs: list[str], heldout_docs: list[str]) -> Corpus:
    digest = hashlib.sha256()
    for doc in train_docs + heldout_docs:
        digest.update(doc.encode() + EOS)
    pieces = []
    for doc in heldout_docs:
        pieces.extend(_chunks(doc))
    random.Random(EVAL_SEED).shuffle(pieces)  # the first `limit` documents span several files
    return Corpus(
        name=name,
        train=EOS.join(d.encode() for d in train_docs),
        heldout=tuple(pieces),
        sha256=digest.hexdigest(),
        n_files=len(train_docs) + len(heldout_docs),
    )


@functools.lru_cache(maxsize=1)
def default_corpus() -> Corpus:
    root = Path(sysconfig.get_paths()["stdlib"])
    train, heldout = [], []
    found = [rel for rel in sorted(CORPUS_FILES) if (root / rel).is_file()]
    if not found:
        raise FileNotFoundError(f"none of the corpus files were found under {root}")
    for i, rel in enumerate(found):
        text = _normalise((root / rel).read_text(encoding="utf-8"))
        (heldout if i % HELDOUT_EVERY == HELDOUT_EVERY - 1 else train).append(text)
    version = ".".join(map(str, sys.version_info[:3]))
    return _corpus(f"python{version}-stdlib", train, heldout)


MIN_CORPUS_BYTES = 4096  # a training window plus a held-out part; fewer cannot train or measure anything
MAX_CORPUS_BYTES = 2**30


@functools.lru_cache(maxsize=4)
def file_corpus(path: str) -> Corpus:
    """Any UTF-8 text file: the first 90% (cut at a line boundary) trains, the rest is held out."""
    from suite.safeio import InputError, read_text

    text = _normalise(read_text(path, "corpus file", limit=MAX_CORPUS_BYTES))
    size = len(text.encode())
    if size < MIN_CORPUS_BYTES:
        raise InputError(
            f"corpus file {path} holds {size:,} bytes of text; a corpus needs at least {MIN_CORPUS_BYTES:,} bytes "
            "(its first 90% trains, the rest is held out).",
            file=path,
            field="corpus",
        )
    cut = text.rfind("\n", 0, int(len(text) * 0.9)) + 1 or int(len(text) * 0.9)
    if not text[cut:].strip():
        raise InputError(
            f"corpus file {path} has no text in its last 10% (after {cut:,} characters) to hold out; "
            "give a file whose end is text, not blank lines.",
            file=path,
            field="corpus",
        )
    return _corpus(f"file:{Path(path).name}", [text[:cut]], [text[cut:]])


def load_corpus(path: str | None = None) -> Corpus:
    if not path:
        return default_corpus()
    try:
        path = str(Path(path).resolve())
    except (OSError, RuntimeError):  # a symlink loop: reading it says so, naming the path
        path = str(path)
    return file_corpus(path)


# -------------------------------------------------------------- generators
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
MQAR_KEYS = tuple(_LETTERS + _LETTERS.upper())
MQAR_VALUES = "0123456789"
PASSKEY_FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
PASSKEY_QUESTION = "What is the pass key? The pass key is "
MQAR_PAIR_BYTES = 3  # "a7 "


def _passkey_needle(key: str) -> str:
    return f"The pass key is {key}. Remember it. {key} is the pass key. "


def mqar_example(rng: random.Random, n_pairs: int, n_queries: int) -> tuple[str, list[tuple[str, str, int]]]:
    """(pairs text, [(key, value, bytes from the key to the end of the pairs)] for the queries)."""
    if not 1 <= n_pairs <= len(MQAR_KEYS):
        raise ValueError(f"mqar: n_pairs must be in 1..{len(MQAR_KEYS)}, got {n_pairs}")
    keys = rng.sample(MQAR_KEYS, n_pairs)
    values = [rng.choice(MQAR_VALUES) for _ in keys]
    pairs = " ".join(f"{k}{v}" for k, v in zip(keys, values))
    order = rng.sample(range(n_pairs), min(n_queries, n_pairs))
    return pairs, [(keys[i], values[i], (n_pairs - i) * MQAR_PAIR_BYTES) for i in order]


def mqar_train_doc(rng: random.Random, max_bytes: int) -> list[tuple[str, bool]]:
    most = max(1, min(len(MQAR_KEYS), (max_bytes - 4) // MQAR_PAIR_BYTES - 1))
    n = rng.randrange(1, most + 1)
    room = max(1, (max_bytes - n * MQAR_PAIR_BYTES - 2) // MQAR_PAIR_BYTES)
    pairs, queries = mqar_example(rng, n, min(n, room))
    pieces = [(pairs + " |", False)]
    for k, v, _ in queries:
        pieces += [(" " + k, False), (v, True)]
    return pieces


def copy_example(rng: random.Random, length: int) -> tuple[str, str]:
    s = "".join(rng.choice(_LETTERS) for _ in range(length))
    return f"copy {s}\n", s


def copy_train_doc(rng: random.Random, max_bytes: int) -> list[tuple[str, bool]]:
    length = rng.randrange(4, max(5, min(64, (max_bytes - 8) // 2) + 1))
    context, target = copy_example(rng, length)
    return [(context, False), (target + "\n", True)]


def passkey_example(rng: random.Random, length: int) -> tuple[str, str, float]:
    """(context, key, depth): context + key + "." is exactly `length` bytes."""
    key = str(rng.randrange(10000, 100000))
    needle = _passkey_needle(key)
    n_filler = length - len(needle) - len(PASSKEY_QUESTION) - len(key) - 1
    if n_filler < 0:
        raise ValueError(f"passkey: length {length} is too short (needs at least {length - n_filler} bytes)")
    filler = (PASSKEY_FILLER * (n_filler // len(PASSKEY_FILLER) + 1))[:n_filler]
    end = filler.rfind(". ") + 2 if ". " in filler else 0
    filler = filler[:end] + " " * (n_filler - end)  # whole sentences, padded to the exact length
    depth = rng.random()
    cut = filler.rfind(". ", 0, int(depth * n_filler) + 1)
    cut = 0 if cut < 0 else cut + 2
    return filler[:cut] + needle + filler[cut:] + PASSKEY_QUESTION, key, cut / max(1, n_filler)


def passkey_min_length() -> int:
    return len(_passkey_needle("12345")) + len(PASSKEY_QUESTION) + 6


def passkey_train_doc(rng: random.Random, max_bytes: int) -> list[tuple[str, bool]]:
    low = passkey_min_length()
    length = rng.randrange(low, max(low + 1, max_bytes + 1))
    context, key, _ = passkey_example(rng, length)
    return [(context, False), (key + ".", True)]


# Mixture of synthetic training documents: generator and weight. A generator returns the document
# as (text, supervised) pieces: only the answers are trained on (the keys, values and filler around
# them are random or trivial), as in Zoology's MQAR. Without this, a tiny proxy stayed at chance on
# MQAR after 2,000 steps of pure MQAR data; answer-only loss reached 36% (and rising) in the same steps.
TRAIN_GENERATORS = {"mqar": (mqar_train_doc, 0.5), "copy": (copy_train_doc, 0.25), "passkey": (passkey_train_doc, 0.25)}


def synthetic_train_doc(rng: random.Random, max_bytes: int) -> list[tuple[str, bool]]:
    names = list(TRAIN_GENERATORS)
    weights = [TRAIN_GENERATORS[n][1] for n in names]
    name = rng.choices(names, weights)[0]  # choices with weights uses random(): stable
    return TRAIN_GENERATORS[name][0](rng, max_bytes)


def synthetic_train_text(rng: random.Random, max_bytes: int) -> str:
    return "".join(text for text, _ in synthetic_train_doc(rng, max_bytes))


# ------------------------------------------------------ evaluation documents
def _mqar_docs(n_pairs: int, n_docs: int, seed: int) -> list[dict]:
    rng = random.Random(f"mqar-{n_pairs}-{seed}")
    docs = []
    for _ in range(n_docs):
        pairs, [(key, value, distance)] = mqar_example(rng, n_pairs, 1)
        context = f"{pairs} | {key}"
        docs.append(
            dict(context=context, target=value, n_pairs=n_pairs, key_distance=distance + 2)
        )  # bytes from the key's first mention to the query
    return docs


def _copy_docs(length: int, n_docs: int, seed: int) -> list[dict]:
    rng = random.Random(f"copy-{length}-{seed}")
    return [dict(zip(("context", "target"), copy_example(rng, length)), length=length) for _ in range(n_docs)]


def _passkey_docs(length_factor: float, context_length: int, n_docs: int, seed: int) -> list[dict]:
    length = int(round(length_factor * context_length))
    if length < passkey_min_length():
        raise ValueError(
            f"passkey: {length_factor:g}x the training context ({context_length}) is {length} bytes, "
            f"shorter than the {passkey_min_length()} a passkey document needs; train with a longer "
            f"seq_len or leave the passkey tasks out"
        )
    rng = random.Random(f"passkey-{length}-{seed}")
    docs = []
    for _ in range(n_docs):
        context, key, depth = passkey_example(rng, length)
        needle_distance = len(context) - context.index(
            _passkey_needle(key)
        )  # bytes from the needle to the question's end
        docs.append(
            dict(
                context=context,
                target=key,
                length=length,
                length_factor=length_factor,
                depth=round(depth, 4),
                needle_distance=needle_distance,
            )
        )
    return docs


def _bpb_docs(corpus: str | None, n_docs: int | None, seed: int) -> list[dict]:
    docs = load_corpus(corpus).heldout
    return [dict(text=t) for t in (docs[:n_docs] if n_docs else docs)]


GENERATORS = {"mqar": _mqar_docs, "copy": _copy_docs, "passkey": _passkey_docs, "bpb": _bpb_docs}


def task_docs(kind: str, **params: Any) -> tuple[list[dict], str]:
    """The evaluation documents of a task and the sha256 of their cached JSONL file."""
    if kind not in GENERATORS:
        raise KeyError(f"unknown task data '{kind}'; available: {', '.join(GENERATORS)}")
    params.setdefault("seed", EVAL_SEED)
    if kind == "bpb":  # the held-out text depends on the corpus: key the cache by its content
        params["corpus_sha256"] = load_corpus(params.get("corpus")).sha256
    key = hashlib.sha256(json.dumps([kind, DATA_VERSION, params], sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir() / "tasks" / f"{kind}-{key}.jsonl"
    sidecar = path.with_suffix(".sha256")
    if path.is_file() and sidecar.is_file():
        blob = path.read_bytes()
        digest = hashlib.sha256(blob).hexdigest()
        if digest == sidecar.read_text().strip():
            return [json.loads(line) for line in blob.decode().splitlines()], digest
    gen_params = {k: v for k, v in params.items() if k != "corpus_sha256"}
    docs = GENERATORS[kind](**gen_params)
    blob = "".join(json.dumps(d, sort_keys=True) + "\n" for d in docs).encode()
    digest = hashlib.sha256(blob).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(blob)
    os.replace(tmp, path)  # atomic: concurrent writers produce the same bytes
    sidecar.write_text(digest + "\n")
    return docs, digest
