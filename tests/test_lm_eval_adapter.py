"""The lm-eval adapter meets lm-eval's contracts on tiny models: log-likelihoods equal the sum of
token log-probs computed directly, rolling windows score every token once, generation stops at
stop strings and agrees with a full recompute, positions past learned ones fail cleanly."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from lm_eval.api.instance import Instance

from suite.config import ConfigError, ModelConfig
from suite.model import build_model
from suite.quality.lm_eval_adapter import ArchbenchLM, byte_lm
from suite.quality.tokenizer import ByteTokenizer, JsonTokenizer

LEARNED = ModelConfig(name="learned", vocab_size=256, d_model=32, n_layers=2, n_heads=2, context_length=64, dropout=0.0)
ROPE = LEARNED.replace(name="rope", position="rope")


pytestmark = pytest.mark.usefixtures("fresh_cache")


@pytest.fixture(scope="module")
def model():
    return build_model(LEARNED, seed=1).eval()


def ll_request(context, continuation):
    return Instance("loglikelihood", doc={}, arguments=(context, continuation), idx=0)


def direct_logprob(model, context: bytes, continuation: bytes) -> tuple[float, bool]:
    tokens = list(context + continuation)
    with torch.no_grad():
        logp = F.log_softmax(model(torch.tensor([tokens[:-1]]))[0].float(), dim=-1)
    n = len(continuation)
    picked = logp[len(tokens) - 1 - n :, :]
    target = torch.tensor(tokens[-n:])
    return float(picked.gather(-1, target[:, None]).sum()), bool((picked.argmax(-1) == target).all())


def test_registered_under_archbench():
    from lm_eval.api.registry import get_model

    assert get_model("archbench") is ArchbenchLM


def test_loglikelihood_is_sum_of_token_logprobs(model):
    lm = byte_lm(model, batch_size=3)  # batches of mixed lengths: right padding must not leak
    pairs = [
        ("The pass key is", " 12345"),
        ("a", "bcdef"),
        ("def f(x):\n    return", " x + 1"),
        ("ab=12 cd=34 | cd=", "34"),
    ]
    got = lm.loglikelihood([ll_request(c, t) for c, t in pairs])
    for (context, continuation), (ll, greedy) in zip(pairs, got):
        want, want_greedy = direct_logprob(model, context.encode(), continuation.encode())
        assert ll == pytest.approx(want, abs=1e-4)
        assert greedy == want_greedy


def test_empty_context_is_conditioned_on_eos(model):
    lm = byte_lm(model)
    [(ll, _)] = lm.loglikelihood([ll_request("", "hello")])
    assert ll == pytest.approx(direct_logprob(model, b"\x00", b"hello")[0], abs=1e-4)


def test_is_greedy_true_exactly_for_the_greedy_continuation(model):
    lm = byte_lm(model)
    context = list(b"import ")
    greedy = model.generate(torch.tensor([context]), 5)[0, len(context) :].tolist()
    other = [(greedy[0] + 1) % 256] + greedy[1:]
    (_, is_greedy), (_, not_greedy) = lm._loglikelihood_tokens([(None, context, greedy), (None, context, other)])
    assert is_greedy and not not_greedy


def test_rolling_windows_score_every_token_once(model):
    lm = byte_lm(model)
    tokens = list(range(1, 200))
    windows = lm.rolling_windows(tokens)
    assert len(windows) > 1 and all(len(c) + len(t) - 1 <= lm.max_length for c, t in windows)
    assert [tok for _, scored in windows for tok in scored] == tokens
    assert windows[0][0] == [lm.eot_token_id]


def test_rolling_loglikelihood_matches_direct_windows(model):
    lm = byte_lm(model)
    text = "x = [i * i for i in range(10)]\n" * 5  # 155 bytes > max_length 64: several windows
    [total] = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (text,), 0)])
    want = sum(
        direct_logprob(model, bytes(ctx), bytes(cont))[0] for ctx, cont in lm.rolling_windows(list(text.encode()))
    )
    assert total == pytest.approx(want, abs=1e-3)
    short = "print(1)\n"
    [one] = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (short,), 0)])
    assert one == pytest.approx(direct_logprob(model, b"\x00", short.encode())[0], abs=1e-4)


class Counting(torch.nn.Module):
    """A fake decoder that predicts the next byte value ("a" -> "bcd...") and EOS after "d" or "~"."""

    def __init__(self):
        super().__init__()
        self.cfg = ROPE
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def new_cache(self):
        return None

    def forward(self, idx, cache=None):
        nxt = torch.where((idx == ord("d")) | (idx == ord("~")), 0, (idx + 1) % 256)
        return F.one_hot(nxt, 256).float() * 10


def gen_request(context, **kwargs):
    return Instance("generate_until", doc={}, arguments=(context, kwargs), idx=0)


def test_generate_until_stops_at_stop_strings():
    lm = byte_lm(Counting())
    out = lm.generate_until(
        [
            gen_request("k", until=["n"], max_gen_toks=20),
            gen_request("k", until=["zz", "pq"], max_gen_toks=20),
            gen_request("k", until=["zz"], max_gen_toks=4),
            gen_request("A", until="D", max_gen_toks=20),
        ]
    )
    assert out == ["lm", "lmno", "lmno", "BC"]


def test_generate_until_stops_at_eos():
    lm = byte_lm(Counting())
    assert lm.generate_until([gen_request("a", until=["zz"], max_gen_toks=20), gen_request("x", max_gen_toks=20)]) == [
        "bcd",
        "yz{|}~",
    ]


def test_generation_with_cache_matches_full_recompute(model):
    lm = byte_lm(model, batch_size=4)
    prompts = ["def main", "class Foo", "import os", "return x"]  # equal lengths: one batch
    got = lm.generate_until([gen_request(p, until=["\n\n"], max_gen_toks=12) for p in prompts])
    for prompt, text in zip(prompts, got):
        tokens = list(prompt.encode())
        for _ in range(12):
            with torch.no_grad():
                tokens.append(int(model(torch.tensor([tokens]))[0, -1].argmax()))
        want = ByteTokenizer().decode(tokens[len(prompt) :]).split("\n\n")[0]
        assert text == want


def test_positions_past_learned_table_fail_and_are_recorded(model):
    lm = byte_lm(model)
    long_context = "y" * 100  # LEARNED has 64 positions
    [(ll, greedy)] = lm.loglikelihood([ll_request(long_context, "z")])
    assert ll == -math.inf and greedy is False
    assert lm.generate_until([gen_request(long_context, until=["."], max_gen_toks=3)]) == [""]
    assert [e["request"] for e in lm.overflow_events] == ["loglikelihood", "generate_until"]
    assert "learned positions stop at 64" in lm.overflow_events[0]["reason"]
    assert lm.get_model_info()["archbench_overflow_counts"] == {"loglikelihood": 1, "generate_until": 1}
    truncating = byte_lm(model, overflow="truncate")
    [(ll, _)] = truncating.loglikelihood([ll_request(long_context, "z")])
    assert math.isfinite(ll) and not truncating.overflow_events


def test_rope_model_runs_past_training_context():
    lm = byte_lm(build_model(ROPE, seed=0), train_context=64)
    [(ll, _)] = lm.loglikelihood([ll_request("y" * 200, "z")])
    assert math.isfinite(ll) and lm.position_limit is None and lm.max_length == 64


def test_generation_respects_learned_context_limit(model):
    lm = byte_lm(model)
    [text] = lm.generate_until([gen_request("q" * 60, until=["\x01"], max_gen_toks=50)])
    assert len(text.encode()) <= 64 - 60 + 1


def test_bad_options_are_rejected_with_a_message(model):
    with pytest.raises(ConfigError, match="overflow must be one of fail, truncate"):
        byte_lm(model, overflow="ignore")
    with pytest.raises(ConfigError, match="needs `pretrained`"):
        ArchbenchLM()


def test_construct_from_variant_name_and_args_string():
    lm = ArchbenchLM.create_from_arg_string("pretrained=gpt2-small,scale=tiny,seed=3", {"batch_size": "4"})
    assert lm.cfg.name == "gpt2-small@tiny" and lm.batch_size == 4 and lm.tokenizer_name == "bytes"


def _word_tokenizer(folder):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["<unk>", "<|endoftext|>", "hello", "world", "the", "pass", "key", "is"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(["<|endoftext|>"])
    tok.save(str(folder / "tokenizer.json"))
    return folder / "tokenizer.json"


def test_tokenizer_json_from_a_local_file(tmp_path):
    path = _word_tokenizer(tmp_path)
    tok = JsonTokenizer(path)
    assert tok.eos_id == 1 and tok.encode("hello world") == [2, 3]
    cfg = LEARNED.replace(vocab_size=8)
    lm = ArchbenchLM(model=build_model(cfg, seed=0), tokenizer=str(path))
    [(ll, _)] = lm.loglikelihood([ll_request("the pass key", " is")])
    assert math.isfinite(ll) and lm.tokenizer_name == str(path)


def test_tokenizer_json_eos_from_config_or_error(tmp_path):
    from tokenizers import Tokenizer, models

    (tmp_path / "a").mkdir()
    Tokenizer(models.WordLevel({"<unk>": 0, "[END]": 1}, unk_token="<unk>")).save(
        str(tmp_path / "a" / "tokenizer.json")
    )
    with pytest.raises(ValueError, match="cannot tell the end-of-text token"):
        JsonTokenizer(tmp_path / "a")
    (tmp_path / "a" / "tokenizer_config.json").write_text(json.dumps({"eos_token": "[END]"}))
    assert JsonTokenizer(tmp_path / "a").eos_id == 1


def test_byte_tokenizer_round_trip_and_eos():
    tok = ByteTokenizer()
    text = "héllo\tworld ✓"
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode("a\x00b") == [97, 98]  # NUL is reserved for end-of-text
    assert tok.decode([104, 105, 0, 106]) == "hij"
