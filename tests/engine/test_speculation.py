"""Speculative decoding: draft sources, and that drafts never change greedy output."""

from __future__ import annotations

from transformers import DynamicCache

from engine.backend import CompletionRequest
from engine.generation import generate
from engine.local import LocalBackend
from engine.speculation import Drafter, continuation_after_edit, lookup
from fim.postprocess import completion_filter


def test_lookup_takes_what_follows_the_latest_match():
    seq = [1, 2, 3, 9, 9, 1, 2, 3, 7, 8]
    assert lookup(seq, [5, 2, 3], limit=2) == [7, 8]
    assert lookup(seq, [4, 4], limit=3) == []
    # A match at the very end has nothing after it; an earlier one is used.
    assert lookup([5, 6, 1, 5, 6], [5, 6], limit=2) == [1, 5]


def test_drafter_follows_the_continuation_while_generation_agrees():
    drafter = Drafter(continuation=[10, 11, 12, 13], sources=([1, 10, 11, 50, 51],), continuation_draft=2)
    assert drafter.propose([]) == [10, 11]
    assert drafter.propose([10, 11]) == [12, 13]
    # Off the continuation, the prompt is searched by n-gram.
    assert drafter.propose([7, 10, 11]) == [12, 13] or drafter.propose([7, 10, 11]) == [50, 51]


def test_continuation_after_typing_through_or_deleting():
    assert continuation_after_edit("x = ", "\n", "foo(1)", "x = fo", "\n") == "o(1)"
    assert continuation_after_edit("x = fo", "\n", "o(1)", "x = ", "\n") == "foo(1)"
    assert continuation_after_edit("x = ", "\n", "foo(1)", "x = b", "\n") == ""
    assert continuation_after_edit("x = ", "\n", "foo(1)", "x = f", "\ny = 2") == ""


def greedy(lm, prompt, drafter=None, max_tokens=24):
    ids = lm.encode(prompt)
    return generate(lm.model, lambda toks: lm.tokenizer.decode(toks), ids, cache=DynamicCache(config=lm.model.config),
                    max_tokens=max_tokens, stop_ids=frozenset(), text_filter=completion_filter(stop_words=(), raw=True),
                    drafter=drafter)  # fmt: skip


def test_a_right_draft_saves_passes_and_a_wrong_one_changes_nothing(tiny_model):
    prompt = "def add(a, b):\n    return "
    plain = greedy(tiny_model, prompt)
    tokens = tiny_model.encode(plain.text)
    right = greedy(tiny_model, prompt, Drafter(continuation=tokens))
    assert right.text == plain.text
    assert right.forward_passes < plain.forward_passes / 2 and right.draft_accepted > 0
    wrong = greedy(tiny_model, prompt, Drafter(continuation=[(t + 17) % 1000 for t in tokens]))
    assert wrong.text == plain.text and wrong.draft_accepted == 0


def test_backend_answers_the_same_with_and_without_speculation(tiny_model):
    prefix = "".join(f"item_{i} = load({i})\n" for i in range(20)) + "item_20 = "
    fast = LocalBackend(tiny_model, context_tokens=512)
    plain = LocalBackend(tiny_model, context_tokens=512, speculate=False)
    for typed in ("", "l", "lo", "loa"):
        request = CompletionRequest(prefix=prefix + typed, suffix="\n", max_tokens=12, raw=True, cache_key="doc")
        assert fast.complete(request).text == plain.complete(request).text


def test_typing_the_start_of_the_previous_completion_answers_with_the_rest(tiny_model):
    from dataclasses import replace

    backend = LocalBackend(tiny_model, context_tokens=512)
    asked = CompletionRequest(prefix="total = ", suffix="\n", max_tokens=12, cache_key="doc")
    backend._previous.remember("doc", asked, "sum(values)", "stop")
    typed = replace(asked, prefix="total = su", request_id="r2")
    out = backend.complete(typed)
    assert out.reused and out.text == "m(values)" and backend.scheduler.widest_batch == 0
    # Typing on through it keeps answering from it.
    assert backend.complete(replace(typed, prefix="total = sum(", request_id="r3")).text == "values)"
    # A character that disagrees, another file's key, or sampling goes to the model.
    for other in (replace(asked, prefix="total = sx"), replace(asked, prefix="total = su", cache_key="other"),
                  replace(asked, prefix="total = su", temperature=0.7)):  # fmt: skip
        assert not backend.complete(other).reused
    backend.close()


def test_reuse_needs_a_finished_answer_the_same_settings_and_more_than_whitespace():
    from engine.previous import Previous as _Previous, request_settings as _settings, typed_through

    asked = CompletionRequest(prefix="x = ", suffix="\n", max_tokens=8)
    done = _Previous("x = ", "\n", "f(1)  ", "stop", _settings(asked))
    later = CompletionRequest(prefix="x = f", suffix="\n", max_tokens=8)
    assert typed_through(done, later) == "(1)  "
    assert typed_through(_Previous("x = ", "\n", "f(1)", "length", _settings(asked)), later) is None
    assert typed_through(done, CompletionRequest(prefix="x = f", suffix="\ny\n", max_tokens=8)) is None
    assert typed_through(done, CompletionRequest(prefix="x = f(1)", suffix="\n", max_tokens=8)) is None
    assert typed_through(done, CompletionRequest(prefix="x = ", suffix="\n", max_tokens=8)) is None
