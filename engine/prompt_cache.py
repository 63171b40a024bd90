"""KV caches of recent prompts, kept per client or document and bounded in bytes.

While a user types, each request's prompt shares almost all of its tokens
with the previous request for the same document, so the model need only read
the tokens after the longest common prefix. One entry is kept per
`cache_key` (a document, a bench sequence, an HTTP client's slot), least
recently used entries are dropped first once the pool holds more than its
byte budget, and a request with a key the pool has not seen starts from
whichever entry shares the most tokens with it (copied, so the other key's
entry stays intact).

An entry is taken out of the pool while its request runs and put back when it
ends, so two requests never write into one cache. Correctness when the prompt
shrinks or changes in the middle follows from cropping to the common prefix:
whatever comes after it is recomputed.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

#: Default byte budget of the pool (`--prompt-cache-mb`): for the bundled model
#: (24 KiB of float32 keys and values per token) about 20 prompts of 1,000 tokens.
DEFAULT_PROMPT_CACHE_MB = 512
#: A copy from another key's entry is worth it only when it saves this many tokens.
MIN_SHARED_TO_COPY = 32


def common_prefix_length(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def crop_cache(cache: Any, length: int) -> None:
    """Shorten `cache` to its first `length` tokens.

    transformers changed `crop`'s argument from "length to keep" to "count to
    remove" (negative); this is the one place that knows.
    """
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


def cache_bytes(cache: Any) -> int:
    """Bytes the cache's key and value tensors occupy."""
    total = 0
    for layer in getattr(cache, "layers", ()):
        for tensor in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if tensor is not None and hasattr(tensor, "untyped_storage"):
                total += tensor.untyped_storage().nbytes()
    return total


def compact(cache: Any) -> None:
    """Give back the storage a crop left behind (a crop is a view of the longer tensors)."""
    for layer in getattr(cache, "layers", ()):
        keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
        if keys is None or values is None or not hasattr(keys, "untyped_storage"):
            continue
        if keys.untyped_storage().nbytes() > keys.numel() * keys.element_size():
            layer.keys, layer.values = keys.clone(), values.clone()


def copy_prefix(cache: Any, length: int, new_cache: Callable[[], Any]) -> Any:
    """A new cache holding the first `length` tokens of `cache`."""
    copy = new_cache()
    for index, layer in enumerate(cache.layers):
        if getattr(layer, "keys", None) is None:
            continue
        copy.update(layer.keys[..., :length, :].clone(), layer.values[..., :length, :].clone(), index)
    return copy


@dataclass
class _Entry:
    ids: list[int]
    cache: Any
    nbytes: int


class PromptCache:
    """An LRU pool of (prompt ids, KV cache) per key, holding at most `max_bytes`."""

    def __init__(self, new_cache: Callable[[], Any], max_bytes: int) -> None:
        self._new_cache = new_cache
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(e.nbytes for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def checkout(self, key: str, ids: list[int]) -> tuple[Any, int]:
        """A cache that holds `ids[:n]`, and n. The cache is the caller's until `checkin`."""
        with self._lock:
            own = self._entries.pop(key, None)
            shared = common_prefix_length(own.ids, ids) if own is not None else 0
            donor, donor_shared = None, 0
            for entry in self._entries.values():
                n = common_prefix_length(entry.ids, ids)
                if n > donor_shared:
                    donor, donor_shared = entry, n
        if donor is not None and donor_shared >= max(shared + MIN_SHARED_TO_COPY, 1):
            return copy_prefix(donor.cache, donor_shared, self._new_cache), donor_shared
        if own is None:
            return self._new_cache(), 0
        crop_cache(own.cache, shared)
        return own.cache, shared

    def checkin(self, key: str, ids: list[int], cache: Any) -> None:
        """Keep `cache` (holding `ids`) for `key`, dropping the least recently used entries beyond the budget."""
        crop_cache(cache, len(ids))
        compact(cache)
        entry = _Entry(list(ids), cache, cache_bytes(cache))
        with self._lock:
            self._entries.pop(key, None)
            if entry.nbytes > self.max_bytes:
                return
            self._entries[key] = entry
            total = sum(e.nbytes for e in self._entries.values())
            while total > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                total -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
