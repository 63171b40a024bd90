"""The decode loop and the in-process backend: stops, streaming, cancellation, prompt cache.

These run on a tiny random model with the bundled tokenizer: what is checked
is the mechanics, which do not depend on what the model says.
"""

from __future__ import annotations

import threading
import time

import pytest
from transformers import DynamicCache

from engine.backend import CancelToken, CompletionRequest
from engine.generation import Sampling, generate
from engine.local import LocalBackend
from fim.postprocess import completion_filter


def run(lm, prompt="def f():\n", *, decode=None, stop_ids=None, stops=(), max_tokens=8, **kw):
    ids = lm.encode(prompt)
    return generate(
        lm.model,
        decode or (lambda toks: lm.tokenizer.decode(toks)),
        ids,
        cache=DynamicCache(config=lm.model.config),
        max_tokens=max_tokens,
        stop_ids=lm.stop_ids if stop_ids is None else stop_ids,
        text_filter=completion_filter(stop_words=stops, raw=True),
        **kw,
    )


def test_max_tokens_is_a_hard_limit(tiny_model):
    out = run(tiny_model, stop_ids=frozenset(), max_tokens=5)
    assert out.generated_tokens == 5 and out.finish_reason == "length" and out.stop_type == "limit"


def test_max_tokens_zero_reads_the_whole_prompt_into_the_cache_and_generates_nothing(tiny_model):
    ids = tiny_model.encode("def f():\n")
    cache = DynamicCache(config=tiny_model.model.config)
    out = generate(tiny_model.model, tiny_model.tokenizer.decode, ids, cache=cache, max_tokens=0,
                   stop_ids=tiny_model.stop_ids, text_filter=completion_filter(stop_words=(), raw=True))  # fmt: skip
    assert out.text == "" and out.generated_tokens == 0 and out.finish_reason == "length"
    assert cache.get_seq_length() == len(ids)


def test_stop_token_ends_generation_and_is_not_shown(tiny_model):
    every_token = frozenset(range(len(tiny_model.tokenizer)))
    out = run(tiny_model, stop_ids=every_token)
    assert out.text == "" and out.finish_reason == "stop" and out.stop_type == "eos"


def test_stop_string_cuts_the_text_and_names_the_word(tiny_model):
    out = run(tiny_model, stop_ids=frozenset(), decode=lambda toks: "ab" * len(toks), stops=("ba",), max_tokens=20)
    assert out.text == "a" and out.stop_type == "word" and out.stopping_word == "ba"
    assert out.generated_tokens == 2  # stopped as soon as the word appeared


def test_streamed_pieces_add_up_to_the_final_text(tiny_model):
    pieces: list[str] = []
    out = run(tiny_model, stop_ids=frozenset(), max_tokens=12, on_text=pieces.append)
    assert "".join(pieces) == out.text


def test_cancel_before_start_generates_nothing(tiny_model):
    token = CancelToken()
    token.cancel()
    out = run(tiny_model, cancel=token, stop_ids=frozenset())
    assert out.finish_reason == "cancelled" and out.generated_tokens == 0


def test_cancel_stops_a_long_generation_promptly(tiny_model):
    token = CancelToken()
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(out=run(tiny_model, cancel=token, stop_ids=frozenset(), max_tokens=100_000))
    )
    worker.start()
    time.sleep(0.5)
    token.cancel()
    worker.join(timeout=5)
    assert not worker.is_alive(), "generation kept running after cancel"
    assert result["out"].finish_reason == "cancelled" and result["out"].generated_tokens < 100_000


def test_sampling_is_reproducible_with_a_seed(tiny_model):
    sampling = Sampling(temperature=1.0, top_p=0.9, top_k=50, seed=7)
    a = run(tiny_model, stop_ids=frozenset(), sampling=sampling, max_tokens=10)
    b = run(tiny_model, stop_ids=frozenset(), sampling=sampling, max_tokens=10)
    assert a.text == b.text


@pytest.fixture()
def backend(tiny_model):
    b = LocalBackend(tiny_model, context_tokens=256)
    yield b
    b.close()


def test_prompt_cache_reuses_the_shared_start_and_changes_nothing(tiny_model, backend):
    prefix = "import os\n" + "".join(f"x{i} = {i}\n" for i in range(40)) + "def f():\n    return "
    request = CompletionRequest(prefix=prefix, suffix="\n", max_tokens=6, raw=True)
    first = backend.complete(request)
    again = backend.complete(request)
    assert again.timings.cached_tokens >= again.timings.prompt_tokens - 1
    assert again.text == first.text
    # The user types one more character: most of the prompt is reused, and the
    # answer equals that of a backend with a cold cache.
    typed = CompletionRequest(prefix=prefix + "o", suffix="\n", max_tokens=6, raw=True)
    warm = backend.complete(typed)
    cold = LocalBackend(tiny_model, context_tokens=256).complete(typed)
    assert warm.timings.cached_tokens > warm.timings.prompt_tokens // 2
    assert cold.timings.cached_tokens == 0
    assert warm.text == cold.text
    # A change in the middle of the prompt still gives the cold answer.
    edited = CompletionRequest(prefix=prefix.replace("x20 = 20", "y = 'changed'"), suffix="\n", max_tokens=6, raw=True)
    assert backend.complete(edited).text == LocalBackend(tiny_model, context_tokens=256).complete(edited).text


def test_over_budget_prompt_is_truncated_and_reported(backend):
    prefix = "".join(f"value_{i} = compute({i})\n" for i in range(400))
    out = backend.complete(CompletionRequest(prefix=prefix, suffix="", max_tokens=2, raw=True))
    assert out.truncated and out.timings.prompt_tokens <= 256 + 8


def test_cancelled_while_waiting_for_the_model(backend, tiny_model):
    long = CompletionRequest(prefix="x = ", max_tokens=100_000, raw=True)
    first_token = CancelToken()
    worker = threading.Thread(target=backend.complete, args=(long,), kwargs={"cancel": first_token})
    worker.start()
    time.sleep(0.3)
    waiting = CancelToken()
    waiting.cancel()
    out = backend.complete(CompletionRequest(prefix="y = ", max_tokens=4), cancel=waiting)
    assert out.finish_reason == "cancelled"
    first_token.cancel()
    worker.join(timeout=5)
    assert not worker.is_alive()


@pytest.mark.parametrize(
    "text",
    ["def f(x):\n    return x  # done\n", "s = 'héllo 👋 世界'\nprint(s)\n", "\t\tx = [1, 2]\r\n", "  leading spaces"],
)
def test_incremental_decoding_equals_full_decoding(tiny_model, text):
    from engine.generation import IncrementalDecoder

    tok = tiny_model.tokenizer
    ids = tok.encode(text, add_special_tokens=False)
    decoder = IncrementalDecoder(lambda toks: tok.decode(toks))
    seen = []
    for token in ids:
        seen.append(decoder.push(token))
    assert seen[-1] == tok.decode(ids) == text
    assert all("\ufffd" not in s for s in seen)
    assert all(b.startswith(a) for a, b in zip(seen, seen[1:]))
