"""Continuous batching: concurrent requests are decoded together and answer as if alone."""

from __future__ import annotations

import threading
import time

import pytest

from transformers import DynamicCache

from engine.backend import CancelToken, CompletionRequest
from engine.local import LocalBackend

PREFIXES = ["def add(a, b):\n    return ", "import os\n\nfor name in ", "class Point:\n    def __init__(self", "x = ["]


def requests(max_tokens=24):
    return [CompletionRequest(prefix=p * (1 + i), suffix="\n", max_tokens=max_tokens, raw=True, cache_key=f"doc{i}")
            for i, p in enumerate(PREFIXES)]  # fmt: skip


def concurrently(backend, reqs, cancels=None):
    out: dict[int, object] = {}
    threads = [threading.Thread(target=lambda i=i, r=r: out.__setitem__(i, backend.complete(r, cancel=(cancels or {}).get(i))))
               for i, r in enumerate(reqs)]  # fmt: skip
    for t in threads:
        t.start()
    return threads, out


def test_concurrent_requests_are_batched_and_answer_as_alone(tiny_model):
    alone = LocalBackend(tiny_model, context_tokens=512, speculate=False)
    expected = [alone.complete(r).text for r in requests()]
    backend = LocalBackend(tiny_model, context_tokens=512, speculate=False)
    threads, out = concurrently(backend, requests())
    for t in threads:
        t.join(timeout=60)
    assert backend.scheduler.widest_batch >= 2
    assert [out[i].text for i in range(len(PREFIXES))] == expected
    backend.close()


def test_a_cancelled_request_leaves_the_batch_and_the_others_finish(tiny_model):
    backend = LocalBackend(tiny_model, context_tokens=512)
    long = [CompletionRequest(prefix=p, max_tokens=100_000, raw=True, cache_key=f"long{i}")
            for i, p in enumerate(PREFIXES[:2])]  # fmt: skip
    cancels = {0: CancelToken(), 1: CancelToken()}
    threads, out = concurrently(backend, long, cancels)
    time.sleep(0.5)
    cancels[0].cancel()
    threads[0].join(timeout=5)
    assert not threads[0].is_alive() and out[0].finish_reason == "cancelled"
    # The other one is still generating, and a new request is served alongside it.
    assert threads[1].is_alive()
    short = backend.complete(CompletionRequest(prefix="y = ", max_tokens=4, raw=True))
    assert short.timings.generated_tokens == 4
    cancels[1].cancel()
    threads[1].join(timeout=5)
    assert not threads[1].is_alive() and out[1].finish_reason == "cancelled"
    backend.close()


def test_scheduler_survives_a_failing_request(tiny_model, monkeypatch):
    backend = LocalBackend(tiny_model, context_tokens=512)
    calls = {"n": 0}
    real = backend.scheduler.model

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("out of memory")
        return real(*args, **kwargs)

    backend.scheduler.model = flaky
    try:
        backend.complete(CompletionRequest(prefix="a = ", max_tokens=2, raw=True))
    except RuntimeError as exc:
        assert "out of memory" in str(exc)
    else:
        raise AssertionError("the model's error was not raised to the caller")
    assert backend.complete(CompletionRequest(prefix="b = ", max_tokens=2, raw=True)).timings.generated_tokens == 2
    backend.close()


def test_a_request_cancelled_while_every_slot_is_busy_returns_at_once(tiny_model):
    backend = LocalBackend(tiny_model, context_tokens=512, max_batch=1)
    busy = CancelToken()
    threads, out = concurrently(backend, [CompletionRequest(prefix="x = ", max_tokens=100_000, raw=True)], {0: busy})
    time.sleep(0.3)
    waiting = CancelToken()
    waiting.cancel()
    started = time.perf_counter()
    late = backend.complete(CompletionRequest(prefix="y = ", max_tokens=4, raw=True), cancel=waiting)
    assert late.finish_reason == "cancelled" and time.perf_counter() - started < 1
    busy.cancel()
    threads[0].join(timeout=5)
    assert not threads[0].is_alive()
    # The slot is free again and serves the next request.
    assert backend.complete(CompletionRequest(prefix="z = ", max_tokens=3, raw=True)).timings.generated_tokens == 3
    backend.close()


def test_a_request_cancelled_while_waiting_for_its_prompt_turn_returns_promptly(tiny_model):
    backend = LocalBackend(tiny_model, context_tokens=512)
    busy = CancelToken()
    threads, out = concurrently(backend, [CompletionRequest(prefix="x = ", max_tokens=100_000, raw=True)], {0: busy})
    time.sleep(0.3)
    waiting = CancelToken()
    result = {}
    late = threading.Thread(target=lambda: result.update(out=backend.complete(
        CompletionRequest(prefix="y = " * 300, max_tokens=4, raw=True), cancel=waiting)))  # fmt: skip
    late.start()
    time.sleep(0.05)
    waiting.cancel()
    late.join(timeout=2)
    assert not late.is_alive() and result["out"].finish_reason == "cancelled"
    busy.cancel()
    threads[0].join(timeout=5)
    backend.close()


# --- prefill-only requests (max_tokens 0): warming the prompt cache ------------------------------

LONG_PREFIX = "import os\n" + "".join(f"value_{i} = compute({i}, 'x')\n" for i in range(120)) + "def f():\n    return "


def slowed(backend, seconds):
    """Make every forward pass of `backend`'s scheduler take at least `seconds` (to hold a request mid-prompt)."""
    real = backend.scheduler.model

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return real(*args, **kwargs)

    backend.scheduler.model = slow
    return real


def test_a_prefill_only_request_reads_the_prompt_and_the_next_request_reuses_it(tiny_model):
    backend = LocalBackend(tiny_model, context_tokens=2048)
    warm = backend.complete(CompletionRequest(prefix=LONG_PREFIX, suffix="\n", max_tokens=0, raw=True, cache_key="a"))
    assert warm.text == "" and warm.finish_reason == "length"
    assert warm.timings.generated_tokens == 0 and warm.timings.prompt_tokens > 512
    # The real request for the same file reads only what changed: here, the one character typed since.
    real = backend.complete(CompletionRequest(prefix=LONG_PREFIX + "v", suffix="\n", max_tokens=4, raw=True,
                                              cache_key="a"))  # fmt: skip
    assert real.timings.prompt_tokens - real.timings.cached_tokens <= 8
    assert real.timings.generated_tokens == 4
    # Warming an unchanged prompt again reads nothing.
    again = backend.complete(CompletionRequest(prefix=LONG_PREFIX + "v", suffix="\n", max_tokens=0, raw=True,
                                               cache_key="a"))  # fmt: skip
    assert again.timings.cached_tokens >= again.timings.prompt_tokens - 1
    backend.close()


def test_a_real_request_outranks_the_prefill_of_its_file_and_keeps_what_it_read(tiny_model):
    backend = LocalBackend(tiny_model, context_tokens=2048)
    slowed(backend, 0.15)
    out = {}
    warming = threading.Thread(target=lambda: out.update(warm=backend.complete(
        CompletionRequest(prefix=LONG_PREFIX, suffix="\n", max_tokens=0, raw=True, cache_key="a"))))  # fmt: skip
    warming.start()
    time.sleep(0.4)  # two of its prompt chunks are in
    real = backend.complete(CompletionRequest(prefix=LONG_PREFIX, suffix="\n", max_tokens=2, raw=True, cache_key="a"))
    warming.join(timeout=5)
    assert out["warm"].finish_reason == "cancelled"
    assert real.timings.cached_tokens >= 256 and real.timings.generated_tokens == 2
    backend.close()


def test_a_prefill_only_request_waits_while_a_real_request_decodes(tiny_model):
    backend = LocalBackend(tiny_model, context_tokens=2048)
    busy = CancelToken()
    threads, out = concurrently(backend, [CompletionRequest(prefix="x = ", max_tokens=100_000, raw=True)], {0: busy})
    time.sleep(0.3)
    result = {}
    warming = threading.Thread(target=lambda: result.update(warm=backend.complete(
        CompletionRequest(prefix=LONG_PREFIX, suffix="\n", max_tokens=0, raw=True, cache_key="b"))))  # fmt: skip
    warming.start()
    warming.join(timeout=1.0)
    assert warming.is_alive(), "the background prefill took prompt turns from a decoding request"
    busy.cancel()
    threads[0].join(timeout=5)
    warming.join(timeout=10)
    assert result["warm"].finish_reason == "length" and result["warm"].timings.prompt_tokens > 512
    backend.close()


def asking(backend, token, prefix=LONG_PREFIX, max_tokens=100_000):
    """A real request for document "a" in a thread of its own, cancelled by `token`: (its thread, its answer box)."""
    request = CompletionRequest(prefix=prefix, suffix="\n", max_tokens=max_tokens, raw=True, cache_key="a")
    threads, out = concurrently(backend, [request], {0: token})
    return threads[0], out


def warming(backend, prefix):
    """A prefill-only request for document "a", answered."""
    return backend.complete(CompletionRequest(prefix=prefix, suffix="\n", max_tokens=0, raw=True, cache_key="a"))


def test_a_warm_up_sent_while_a_cancelled_request_winds_down_starts_from_what_it_read(tiny_model):
    # A keystroke cancels the request in flight and warms the new prompt at once: the warm-up must wait for the
    # cancelled request's cache to come back, not read the whole prompt again from nothing beside it.
    backend = LocalBackend(tiny_model, context_tokens=2048, speculate=False)
    slowed(backend, 0.1)
    typing = CancelToken()
    thread, out = asking(backend, typing)
    time.sleep(0.8)  # its prompt is read; it is decoding
    typing.cancel()
    warm = warming(backend, LONG_PREFIX + "v")
    thread.join(timeout=5)
    assert out[0].finish_reason == "cancelled"
    assert warm.finish_reason == "length"
    assert warm.timings.cached_tokens >= warm.timings.prompt_tokens - 8, warm.timings
    backend.close()


def test_a_warm_up_for_a_prompt_a_real_request_is_reading_does_nothing(tiny_model):
    backend = LocalBackend(tiny_model, context_tokens=2048, speculate=False)
    slowed(backend, 0.05)
    busy = CancelToken()
    thread, _ = asking(backend, busy)
    time.sleep(0.8)  # its prompt is read; it is decoding
    started = time.perf_counter()
    warm = warming(backend, LONG_PREFIX)
    waited = time.perf_counter() - started
    assert warm.finish_reason == "cancelled" and warm.timings.cached_tokens == 0 and waited < 1.0
    assert not busy.cancelled and thread.is_alive(), "the warm-up stopped the request it was warming for"
    busy.cancel()
    thread.join(timeout=5)
    # The real request's prompt is back in the cache for the next keystroke.
    again = warming(backend, LONG_PREFIX + "v")
    assert again.timings.cached_tokens >= again.timings.prompt_tokens - 8
    backend.close()


class WarmingElsewhere:
    """A prompt-cache holder of another key (`engine.prompt_cache.Holder`)."""

    background = True
    cancelled = False

    def cancel(self) -> None:
        pass


def test_a_request_cancelled_while_it_waits_for_its_key_ends_cancelled(tiny_model):
    # Superseded while the request before it winds down (a fast typist): it must end as cancelled, not fail.
    backend = LocalBackend(tiny_model, context_tokens=2048, speculate=False)
    slowed(backend, 1.5)  # prompt chunks end at 1.5, 3.0, ... s
    first, second = CancelToken(), CancelToken()
    thread, out = asking(backend, first, max_tokens=8)
    time.sleep(2.0)
    first.cancel()  # it stops when its second chunk ends, at 3.0 s
    waiting, later = asking(backend, second, prefix=LONG_PREFIX + "v", max_tokens=8)
    time.sleep(0.6)  # it is waiting for the first one's cache
    second.cancel()
    for n in range(6):  # other keys' caches coming back wake every request waiting for one
        other = WarmingElsewhere()
        backend.prompt_cache.take(f"other{n}", [1, 2, 3], holder=other)
        backend.prompt_cache.checkin(f"other{n}", [1, 2, 3], DynamicCache(config=tiny_model.model.config), other)
        time.sleep(0.05)
    waiting.join(timeout=10)
    thread.join(timeout=10)
    assert later[0].finish_reason == "cancelled" and later[0].text == ""
    assert out[0].finish_reason == "cancelled"
    backend.close()


def test_a_request_that_fails_lets_the_next_one_for_its_key_go_on(tiny_model, monkeypatch):
    backend = LocalBackend(tiny_model, context_tokens=2048, speculate=False)
    real = backend.scheduler.run

    def failing(job):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(backend.scheduler, "run", failing)
    try:
        backend.complete(CompletionRequest(prefix=LONG_PREFIX, suffix="\n", max_tokens=4, raw=True, cache_key="a"))
    except RuntimeError:
        pass
    monkeypatch.setattr(backend.scheduler, "run", real)
    started = time.perf_counter()
    warm = backend.complete(CompletionRequest(prefix=LONG_PREFIX, suffix="\n", max_tokens=0, raw=True, cache_key="a"))
    assert warm.finish_reason == "length" and time.perf_counter() - started < 4.0
    backend.close()


def test_the_scheduler_runs_the_model_with_its_threads_whatever_the_thread_that_starts_it_has(tiny_model):
    # A request thread copies cached prompts with one torch thread (engine.loading.one_thread), which is also
    # torch's default for threads that start meanwhile; the scheduler's worker must keep the configured count.
    import torch

    from engine.loading import one_thread

    if torch.get_num_threads() < 2:
        pytest.skip("needs two torch threads")
    backend = LocalBackend(tiny_model, context_tokens=512, speculate=False)
    real, seen = backend.scheduler.model, []

    def recording(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    backend.scheduler.model = recording
    wanted = torch.get_num_threads()
    with one_thread():  # the worker thread starts here, on the first request
        backend.complete(CompletionRequest(prefix="def f():\n    return ", suffix="\n", max_tokens=2, raw=True))
    assert seen and set(seen) == {wanted}
    backend.close()
