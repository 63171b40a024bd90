"""The prompt cache pool: reuse per key, copies across keys, and the byte bound.

On the tiny random model: what is checked is which tokens are reused and
how much memory is held, not what the model says.
"""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from engine.backend import CompletionRequest
from engine.local import LocalBackend
from engine.prompt_cache import (
    FRESH_TAIL,
    SEAM_TOKENS,
    KeyRotation,
    PromptCache,
    Run,
    cache_bytes,
    common_prefix_length,
    shifted_runs,
)


def filled(lm, ids):
    cache = DynamicCache(config=lm.model.config)
    with torch.inference_mode():
        lm.model(input_ids=torch.tensor([ids]), past_key_values=cache, use_cache=True)
    return cache


@pytest.fixture()
def pool(tiny_model):
    return PromptCache(lambda: DynamicCache(config=tiny_model.model.config), max_bytes=10**9)


def test_own_entry_is_cropped_to_the_common_prefix(tiny_model, pool):
    ids = list(range(1000, 1100))
    pool.checkin("doc", ids, filled(tiny_model, ids))
    changed = ids[:60] + [7, 8, 9]
    cache, reused = pool.checkout("doc", changed)
    assert reused == 60 and cache.get_seq_length() == 60


def test_a_new_key_starts_from_the_entry_sharing_most_and_leaves_it_intact(tiny_model, pool):
    shared = list(range(2000, 2100))
    pool.checkin("a", shared + [1, 2, 3], filled(tiny_model, shared + [1, 2, 3]))
    pool.checkin("b", shared[:40], filled(tiny_model, shared[:40]))
    cache, reused = pool.checkout("c", shared + [4, 5])
    assert reused == 100 and cache.get_seq_length() == 100
    # "a" still holds all of its tokens: the copy did not crop it.
    again, reused_a = pool.checkout("a", shared + [1, 2, 3])
    assert reused_a == 103 and again.get_seq_length() == 103


def test_copied_prefix_gives_the_same_logits_as_a_fresh_prefill(tiny_model, pool):
    ids = list(range(3000, 3080))
    pool.checkin("a", ids, filled(tiny_model, ids))
    cache, reused = pool.checkout("b", ids[:50] + [11, 12])
    with torch.inference_mode():
        warm = tiny_model.model(input_ids=torch.tensor([[11, 12]]), past_key_values=cache, use_cache=True).logits[0, -1]
        cold = tiny_model.model(input_ids=torch.tensor([ids[:50] + [11, 12]])).logits[0, -1]
    assert reused == 50
    assert torch.allclose(warm, cold, atol=1e-4)


def test_least_recently_used_entries_go_first_once_over_budget(tiny_model):
    one = cache_bytes(filled(tiny_model, list(range(100))))
    pool = PromptCache(lambda: DynamicCache(config=tiny_model.model.config), max_bytes=int(one * 2.5))
    for key in ("a", "b", "c"):
        ids = [hash(key) % 1000 + i for i in range(100)]
        pool.checkin(key, ids, filled(tiny_model, ids))
    assert len(pool) == 2 and pool.nbytes <= pool.max_bytes
    _, reused = pool.checkout("a", [hash("a") % 1000 + i for i in range(100)])
    assert reused == 0  # "a" was the oldest and was dropped


def test_a_zero_budget_keeps_nothing(tiny_model):
    pool = PromptCache(lambda: DynamicCache(config=tiny_model.model.config), max_bytes=0)
    ids = list(range(50))
    pool.checkin("a", ids, filled(tiny_model, ids))
    assert len(pool) == 0 and pool.checkout("a", ids)[1] == 0


def test_cropped_entries_do_not_hold_the_longer_tensors(tiny_model, pool):
    ids = list(range(400))
    cache = filled(tiny_model, ids)
    full = cache_bytes(cache)
    pool.checkin("a", ids[:100], cache)
    assert pool.nbytes <= full * 100 / 400 + 1024


def test_bound_holds_through_a_long_typing_run_on_many_documents(tiny_model):
    backend = LocalBackend(tiny_model, context_tokens=512, prompt_cache_mb=0.25)
    base = "".join(f"value_{i} = compute({i})\n" for i in range(30))
    for doc in range(6):
        for typed in range(8):
            request = CompletionRequest(
                prefix=base + f"doc{doc} = " + "x" * typed, suffix="\n", max_tokens=2, raw=True, cache_key=f"doc{doc}"
            )
            out = backend.complete(request)
            assert backend.prompt_cache.nbytes <= 0.25 * 2**20
        # Typing on one document reuses that document's cache.
        assert out.timings.cached_tokens > out.timings.prompt_tokens // 2
    backend.close()


def test_common_prefix_length():
    assert common_prefix_length([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length([1, 2], [1, 2, 3]) == 2


# --- reuse at shifted positions (--cache-reuse) -----------------------------------------


def filled_at(lm, ids, first_position):
    """The cache of `ids` read as if they stood at `first_position` onwards (same context, shifted)."""
    cache = DynamicCache(config=lm.model.config)
    positions = torch.arange(first_position, first_position + len(ids))[None]
    with torch.inference_mode():
        lm.model(input_ids=torch.tensor([ids]), position_ids=positions, past_key_values=cache, use_cache=True)
    return cache


def test_shifted_keys_are_the_keys_at_the_new_positions(tiny_model):
    """With the same context, keys read at p + d are the keys read at p turned by d, in every layer."""
    rotation = KeyRotation.of(tiny_model.model)
    ids = list(range(500, 540))
    at_zero, at_seven = filled(tiny_model, ids), filled_at(tiny_model, ids, 7)
    for near, far in zip(at_zero.layers, at_seven.layers):
        assert not torch.allclose(near.keys, far.keys, atol=1e-3)  # the shift is not a no-op
        assert torch.allclose(rotation.shift(near.keys, 7), far.keys, atol=1e-5)
        assert torch.allclose(rotation.shift(far.keys, -7), near.keys, atol=1e-5)
        assert torch.allclose(near.values, far.values, atol=1e-5)


def test_a_shift_there_and_back_is_the_identity(tiny_model):
    rotation = KeyRotation.of(tiny_model.model)
    keys = filled(tiny_model, list(range(600, 664))).layers[1].keys
    assert torch.allclose(rotation.shift(rotation.shift(keys, 1234), -1234), keys, atol=1e-5)


def test_the_suffix_after_an_insertion_is_found_at_its_old_place():
    prefix, suffix = list(range(100, 140)), list(range(200, 300))
    cached = prefix + [1, 2] + suffix + [3]
    ids = prefix + [1, 7, 8, 2] + suffix + [3]
    runs = shifted_runs(cached, ids, common_prefix_length(cached, ids), min_run=16)
    # The run is 2 and the suffix (from 43, was at 41); its seam token is read again, and so is the prompt's
    # tail: the last FRESH_TAIL tokens and the final token, whose logits are needed.
    assert runs == [Run(at=43 + SEAM_TOKENS, source=41 + SEAM_TOKENS, length=len(ids) - 1 - FRESH_TAIL - 44)]


def test_runs_shorter_than_the_minimum_are_read_again():
    cached = list(range(50)) + list(range(900, 910)) + [5]
    ids = list(range(50)) + [1] + list(range(900, 910)) + [5]
    assert shifted_runs(cached, ids, 50, min_run=16) == []
    assert shifted_runs(cached, ids, 50, min_run=0) == []


def test_a_new_prompt_whose_start_moved_reuses_the_rest(tiny_model):
    """The window's start moved down a few tokens: the rest was in the cache, a few positions later."""
    pool = PromptCache(lambda: DynamicCache(config=tiny_model.model.config), 10**9, reuse_min=16,
                       rotation=KeyRotation.of(tiny_model.model))  # fmt: skip
    old = [9] + list(range(1000, 1100))
    pool.checkin("doc", old, filled(tiny_model, old))
    new = [9] + list(range(1010, 1100)) + [42]
    taken = pool.take("doc", new)
    # Tokens 1010.. were 10 places later; the seam (1010) and the tail are read again.
    assert taken.cached == 1
    assert [(s.at, s.length) for s in taken.shifted] == [(2, len(new) - 1 - FRESH_TAIL - 2)]
    with pytest.raises(ValueError, match="position 2"):
        taken.shifted[0].put(taken.cache)  # a run goes only where the cache ends: token 1 is read first


def test_typing_before_the_suffix_reads_only_what_changed(tiny_model):
    """With --cache-reuse, a keystroke in the prefix does not re-read the suffix after it."""
    suffix = "".join(f"    total += item_{i} * weight_{i}\n" for i in range(12))
    prefix = "def score(items):\n    total = 0\n    for item in items:\n        x = "

    def run(backend, typed):
        request = CompletionRequest(prefix=prefix + typed, suffix=suffix, max_tokens=2, raw=True, cache_key="doc")
        return backend.complete(request).timings

    plain, reusing = (LocalBackend(tiny_model, speculate=False, reuse=False, cache_reuse=n) for n in (0, 16))
    for backend in (plain, reusing):
        run(backend, "a")
    before, after = run(plain, "ab"), run(reusing, "ab")
    read_plain = before.prompt_tokens - before.cached_tokens
    read_reusing = after.prompt_tokens - after.cached_tokens
    assert before.prompt_tokens == after.prompt_tokens
    assert read_plain > 100 and read_reusing <= FRESH_TAIL + 10  # the suffix is ~150 tokens
    for backend in (plain, reusing):
        backend.close()


def test_reuse_is_off_without_a_rotation(tiny_model):
    pool = PromptCache(lambda: DynamicCache(config=tiny_model.model.config), 10**9, reuse_min=16, rotation=None)
    ids = list(range(100))
    pool.checkin("doc", ids, filled(tiny_model, ids))
    assert pool.take("doc", [7] + ids).shifted == []


def test_copying_a_cached_prompt_in_a_request_thread_starts_no_torch_worker_threads():
    # Each thread that runs a parallel torch op gets OpenMP workers for as long as it lives; with more of them
    # than cores the model's own thread decodes ~1.5x slower (engine.loading.one_thread).
    import os
    import threading

    if torch.get_num_threads() < 2 or not os.path.isdir("/proc/self/task"):
        pytest.skip("needs two torch threads and /proc")
    layers = 4
    new_cache = DynamicCache
    pool = PromptCache(new_cache, max_bytes=10**10)
    source = DynamicCache()
    for layer in range(layers):  # big enough that torch copies it in parallel
        source.update(torch.randn(1, 2, 4000, 64), torch.randn(1, 2, 4000, 64), layer)
    ids = list(range(4000))
    pool.checkin("other", ids, source)
    go, took, done = threading.Event(), threading.Event(), threading.Event()
    counts = {}

    def request_thread():
        go.wait()
        counts["taken"] = pool.take("new", ids + [1, 2, 3]).cached  # a new key starts from a copy of "other"
        pool.checkin("new", ids, DynamicCache())
        took.set()
        done.wait()  # stays alive, as a server's worker threads do

    thread = threading.Thread(target=request_thread)
    thread.start()
    try:
        before = len(os.listdir("/proc/self/task"))
        go.set()
        took.wait(30)
        after = len(os.listdir("/proc/self/task"))
    finally:
        done.set()
        thread.join()
    assert counts["taken"] == 4000
    assert after == before
