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
ends, so two requests never write into one cache. A request for a key whose
entry is out waits for it to come back when that is soon: the holder is a
prefill-only request (asked to stop; it hands over what it has read) or a
request already cancelled. While a real request holds it, a prefill-only
request for the key has nothing to do. Without this, a request arriving while
the entry was out (a keystroke's warm-up during the previous one's) read the
whole prompt again from nothing, alongside the holder. Correctness when the prompt
shrinks or changes in the middle follows from cropping to the common prefix:
whatever comes after it is recomputed.

Unless `reuse_min` is set (`--cache-reuse N`, llama.cpp's idea): then runs of
at least N tokens after the common prefix that the old prompt also had, at
another position (the suffix after a keystroke in the prefix, the rest of the
file after the window's start moved), are taken from the old cache with
their keys turned to the new positions (`KeyRotation`) instead of being read
again. That is exact for the positions but not for the context: those keys
and values were computed attending to the old text before them, so it is an
approximation whose quality cost README measures.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch

from engine.loading import one_thread

#: Default byte budget of the pool (`--prompt-cache-mb`): for the bundled model
#: (24 KiB of float32 keys and values per token) about 20 prompts of 1,000 tokens.
DEFAULT_PROMPT_CACHE_MB = 512
#: A copy from another key's entry is worth it only when it saves this many tokens.
MIN_SHARED_TO_COPY = 32
#: Default `--cache-reuse`: shortest run taken from the cache at a shifted position; 0 keeps it off.
DEFAULT_CACHE_REUSE = 0
#: First tokens of each reused run that are read again: the seam token (the suffix sentinel after an edit in the
#: prefix) sums up the text before it for every later position; reused stale, the bundled model's next token
#: agreed with a cold read in 1 of 12 typing edits (one keystroke in a stdlib line), read again in 11 of 12.
SEAM_TOKENS = 1
#: Tokens before the prompt's end that are always read again (the ones the completion attends to most); with
#: them as well the probe agreed in 12 of 12.
FRESH_TAIL = 32
#: Longest a request waits for its key's entry to come back from a holder that is stopping (about one prompt chunk).
HANDOVER_WAIT_S = 5.0
#: RoPE variants whose frequencies do not depend on the sequence length, so a rotation by d is the same everywhere.
SHIFTABLE_ROPE = ("default", "linear", "yarn", "llama3")


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


class KeyRotation:
    """Turns cached keys computed at position p into the keys at p + d.

    transformers keeps keys after RoPE, and RoPE rotations compose: rotating
    by angle d*theta (per frequency) the key rotated by p*theta gives the key
    rotated by (p + d)*theta. Values carry no position and move unchanged.
    """

    def __init__(self, inv_freq: torch.Tensor) -> None:
        self.inv_freq = inv_freq.detach().float().cpu()

    @classmethod
    def of(cls, model: Any) -> KeyRotation | None:
        """The rotation for `model`'s keys, or None when its position encoding cannot be shifted this way."""
        rotary = getattr(getattr(model, "model", model), "rotary_emb", None)
        inv_freq = getattr(rotary, "inv_freq", None)
        if inv_freq is None or getattr(rotary, "rope_type", "default") not in SHIFTABLE_ROPE:
            return None
        config = model.config
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        if 2 * inv_freq.numel() != head_dim:  # partial rotary: only some of each key turns
            return None
        return cls(inv_freq)

    def shift(self, keys: torch.Tensor, d: int) -> torch.Tensor:
        """`keys` (batch, heads, tokens, head_dim) moved by `d` positions."""
        if d == 0:
            return keys.clone()
        angles = torch.cat([self.inv_freq * d] * 2)
        cos, sin = angles.cos(), angles.sin()
        turned = keys.float()
        half = turned.shape[-1] // 2
        rotated_half = torch.cat((-turned[..., half:], turned[..., :half]), dim=-1)
        return (turned * cos + rotated_half * sin).to(keys.dtype)


@dataclass(frozen=True)
class Run:
    """`length` tokens at `at` in the new prompt that were at `source` in the cached one."""

    at: int
    source: int
    length: int


def shifted_runs(cached: list[int], ids: list[int], start: int, min_run: int) -> list[Run]:
    """Runs of at least `min_run` tokens of `ids[start:-1]` that `cached[start:]` also has, left to right.

    At each position the longest run found is taken (the nearest to its old
    place on a tie). Each run's first `SEAM_TOKENS` and the prompt's last
    `FRESH_TAIL` tokens are left out, to be read again (see the constants); so
    is the last token, whose logits are needed.
    """
    if min_run <= 0:
        return []
    index: dict[tuple[int, ...], list[int]] = {}
    for j in range(start, len(cached) - min_run + 1):
        index.setdefault(tuple(cached[j : j + min_run]), []).append(j)
    runs: list[Run] = []
    end = len(ids) - 1 - FRESH_TAIL
    at = start
    while at + min_run <= end:
        best: tuple[int, int] | None = None  # (length, -distance) of the best source so far
        source = -1
        for j in index.get(tuple(ids[at : at + min_run]), ()):
            n = min_run
            while at + n < end and j + n < len(cached) and ids[at + n] == cached[j + n]:
                n += 1
            if best is None or (n, -abs(j - at)) > best:
                best, source = (n, -abs(j - at)), j
        if best is None:
            at += 1
            continue
        if best[0] > SEAM_TOKENS:
            runs.append(Run(at + SEAM_TOKENS, source + SEAM_TOKENS, best[0] - SEAM_TOKENS))
        at += best[0]
    return runs


@dataclass
class Shifted:
    """Cached keys and values for `ids[at : at + length]`, already turned to those positions."""

    at: int
    length: int
    layers: list[tuple[torch.Tensor, torch.Tensor]]

    def put(self, cache: Any) -> int:
        """Append to `cache` (which must hold exactly `at` tokens); returns the tokens added."""
        if cache.get_seq_length() != self.at:
            raise ValueError(f"a shifted run for position {self.at} put on a cache of {cache.get_seq_length()} tokens")
        for index, (keys, values) in enumerate(self.layers):
            cache.update(keys, values, index)
        return self.length


def take_runs(cache: Any, runs: list[Run], rotation: KeyRotation) -> list[Shifted]:
    """The runs' keys and values copied out of `cache` and turned to their new positions."""
    taken = []
    for run in runs:
        span = slice(run.source, run.source + run.length)
        layers = [(rotation.shift(layer.keys[..., span, :], run.at - run.source), layer.values[..., span, :].clone())
                  for layer in cache.layers]  # fmt: skip
        taken.append(Shifted(run.at, run.length, layers))
    return taken


@dataclass
class Checkout:
    """What `PromptCache.take` hands out: a cache holding the prompt's first `cached` tokens, and runs to splice in."""

    cache: Any
    cached: int
    shifted: list[Shifted]

    @property
    def shifted_tokens(self) -> int:
        return sum(s.length for s in self.shifted)


class Holder(Protocol):
    """Who has a key's entry out. `background`: a prefill-only request, which gives the entry up when asked."""

    background: bool

    @property
    def cancelled(self) -> bool: ...

    def cancel(self) -> None: ...


@dataclass
class _Entry:
    ids: list[int]
    cache: Any
    nbytes: int


class PromptCache:
    """An LRU pool of (prompt ids, KV cache) per key, holding at most `max_bytes`.

    With `reuse_min` > 0 and a `rotation`, `take` also finds runs of that many
    tokens at shifted positions in the key's own entry (see the module docstring).
    """

    def __init__(self, new_cache: Callable[[], Any], max_bytes: int, *, reuse_min: int = 0,
                 rotation: KeyRotation | None = None) -> None:  # fmt: skip
        if reuse_min < 0:
            raise ValueError(f"the shortest reused run cannot be negative, not {reuse_min}")
        self._new_cache = new_cache
        self.max_bytes = max_bytes
        self.reuse_min = reuse_min if rotation is not None else 0
        self.rotation = rotation
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        #: Signalled when an entry comes back (or its holder lets go).
        self._returned = threading.Condition(self._lock)
        #: Who has each key's entry out now (requests that passed a `holder` to `take`).
        self._held: dict[str, Holder] = {}

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(e.nbytes for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def checkout(self, key: str, ids: list[int]) -> tuple[Any, int]:
        """A cache that holds `ids[:n]`, and n. The cache is the caller's until `checkin`."""
        taken = self.take(key, ids, shift=False)
        assert taken is not None  # only a background holder is ever turned away
        return taken.cache, taken.cached

    def take(self, key: str, ids: list[int], *, shift: bool = True, holder: Holder | None = None,
             wait_s: float = HANDOVER_WAIT_S) -> Checkout | None:  # fmt: skip
        """`checkout`, plus the runs after the common prefix that the key's entry had elsewhere (if reuse is on).

        With a `holder`, the entry is the holder's until `checkin` or `release` with it, and a
        holder that has it out now is handled as the module docstring says; None means a
        background `holder` has nothing to do (a real request holds the key), or `holder` was
        cancelled while it waited.
        """
        with self._lock:
            if holder is not None and not self._wait_for(key, holder, time.monotonic() + wait_s):
                return None
            if holder is not None:
                self._held[key] = holder
            own = self._entries.pop(key, None)
            shared = common_prefix_length(own.ids, ids) if own is not None else 0
            donor, donor_shared = None, 0
            for entry in self._entries.values():
                n = common_prefix_length(entry.ids, ids)
                if n > donor_shared:
                    donor, donor_shared = entry, n
        with one_thread():  # called from request threads: see engine.loading.one_thread
            if donor is not None and donor_shared >= max(shared + MIN_SHARED_TO_COPY, 1):
                return Checkout(copy_prefix(donor.cache, donor_shared, self._new_cache), donor_shared, [])
            if own is None:
                return Checkout(self._new_cache(), 0, [])
            shifted: list[Shifted] = []
            if shift and self.reuse_min and self.rotation is not None:
                runs = shifted_runs(own.ids, ids, shared, self.reuse_min)
                shifted = take_runs(own.cache, runs, self.rotation)  # before the crop below drops them
            crop_cache(own.cache, shared)
            return Checkout(own.cache, shared, shifted)

    def _wait_for(self, key: str, holder: Holder, deadline: float) -> bool:
        """Wait (lock held) until `key`'s entry is back or waiting is pointless; False: `holder` should not run."""
        while (current := self._held.get(key)) is not None and current is not holder:
            if current.background:
                current.cancel()  # superseded warm-up: it stops at its next chunk and hands over
            elif not current.cancelled:
                # A real request is reading this prompt: a warm-up has nothing to do; a second real request
                # for the key (two editors on one slot) starts apart rather than wait for the first to finish.
                return not holder.background
            remaining = deadline - time.monotonic()
            if remaining <= 0 or holder.cancelled:
                return not holder.cancelled
            self._returned.wait(remaining)
        return True

    def release(self, key: str, holder: Holder) -> None:
        """`holder` is done with `key` without putting a cache back (it failed): others stop waiting for it."""
        with self._lock:
            self._let_go(key, holder)

    def _let_go(self, key: str, holder: Holder | None) -> None:
        """(Lock held.) `key` is no longer out with `holder`: wake whoever waits for it."""
        if holder is not None and self._held.get(key) is holder:
            del self._held[key]
            self._returned.notify_all()

    def checkin(self, key: str, ids: list[int], cache: Any, holder: Holder | None = None) -> None:
        """Keep `cache` (holding `ids`) for `key`, dropping the least recently used entries beyond the budget."""
        with one_thread():  # also called from request threads
            crop_cache(cache, len(ids))
            compact(cache)
        entry = _Entry(list(ids), cache, cache_bytes(cache))
        with self._lock:
            self._let_go(key, holder)
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
