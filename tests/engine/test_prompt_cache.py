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
from engine.prompt_cache import PromptCache, cache_bytes, common_prefix_length


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
            request = CompletionRequest(prefix=base + f"doc{doc} = " + "x" * typed, suffix="\n", max_tokens=2,
                                        raw=True, cache_key=f"doc{doc}")
            out = backend.complete(request)
            assert backend.prompt_cache.nbytes <= 0.25 * 2**20
        # Typing on one document reuses that document's cache.
        assert out.timings.cached_tokens > out.timings.prompt_tokens // 2
    backend.close()


def test_common_prefix_length():
    assert common_prefix_length([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length([1, 2], [1, 2, 3]) == 2
