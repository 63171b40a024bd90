"""Remove exact and near-duplicate files before training.

Copies of a file (vendored twice, a `v1/` and `v2/` of one module, a test
fixture duplicated per test directory) weigh the copy more than the code
around it, and a copy split across train and validation makes the
validation loss lie. Exact copies are found by hash; near copies by
MinHash over word 5-grams with banded locality-sensitive hashing (the
scheme The Stack and most code corpora use), confirmed by the estimated
Jaccard similarity. Of each group the first file in (repo, path) order
is kept, so the result does not depend on how the walk was scheduled.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import xxhash

WORD = re.compile(r"\w+")

#: A Mersenne prime above every 32-bit shingle hash, so `(a*h + b) % P` stays in uint64.
_P = np.uint64((1 << 61) - 1)


@dataclass(frozen=True)
class DedupeConfig:
    """How alike two files must be to count as copies."""

    #: Estimated Jaccard similarity of word 5-gram sets at or above which files are near-duplicates.
    threshold: float = 0.85
    #: Words per shingle.
    shingle: int = 5
    #: LSH bands x rows = MinHash permutations; 16 x 8 finds pairs at 0.85 with probability > 0.99.
    bands: int = 16
    rows: int = 8
    #: Files with fewer shingles than this are only deduplicated exactly (tiny files collide too easily).
    min_shingles: int = 20
    seed: int = 0


def exact_key(text: str) -> bytes:
    """Identity of a file's content, ignoring trailing whitespace on lines and at the end."""
    normal = "\n".join(line.rstrip() for line in text.rstrip().split("\n"))
    return hashlib.blake2b(normal.encode("utf-8"), digest_size=16).digest()


def shingles(text: str, size: int) -> np.ndarray:
    """32-bit hashes of the distinct word `size`-grams of `text`."""
    words = WORD.findall(text)
    if len(words) < size:
        return np.zeros(0, dtype=np.uint64)
    joined = [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]
    hashes = (xxhash.xxh32_intdigest(s.encode()) for s in joined)
    return np.unique(np.fromiter(hashes, dtype=np.uint64, count=len(joined)))


def signature(hashes: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """MinHash signature: for each permutation `(a*h + b) % P`, the minimum over the shingles."""
    out = np.full(len(a), _P, dtype=np.uint64)
    for start in range(0, len(hashes), 4096):  # bounded memory for big files
        chunk = hashes[start : start + 4096]
        np.minimum(out, ((np.outer(chunk, a) + b) % _P).min(axis=0), out=out)
    return out


def duplicates(texts: Sequence[str], config: DedupeConfig = DedupeConfig()) -> dict[int, tuple[str, int]]:
    """Which of `texts` to drop: index -> ("duplicate" | "near_duplicate", index of the copy kept).

    `texts` must be in the order of preference: the first of each group is kept.
    """
    dropped: dict[int, tuple[str, int]] = {}
    first_seen: dict[bytes, int] = {}
    for i, text in enumerate(texts):
        key = exact_key(text)
        if key in first_seen:
            dropped[i] = ("duplicate", first_seen[key])
        else:
            first_seen[key] = i
    perms = config.bands * config.rows
    rng = np.random.default_rng(config.seed)
    a = rng.integers(1, (1 << 32) - 1, size=perms, dtype=np.uint64)
    b = rng.integers(0, (1 << 32) - 1, size=perms, dtype=np.uint64)
    sigs: dict[int, np.ndarray] = {}
    buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        if i in dropped:
            continue
        hashes = shingles(text, config.shingle)
        if len(hashes) < config.min_shingles:
            continue
        sig = signature(hashes, a, b)
        sigs[i] = sig
        for band in range(config.bands):
            buckets[(band, sig[band * config.rows : (band + 1) * config.rows].tobytes())].append(i)
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        while parent.get(i, i) != i:
            i = parent[i]
        return i

    for members in buckets.values():
        for other in members[1:]:
            first = members[0]
            if root(other) == root(first):
                continue
            if float(np.mean(sigs[first] == sigs[other])) >= config.threshold:
                low, high = sorted((root(first), root(other)))
                parent[high] = low
    for i in sorted(sigs):
        keep = root(i)
        if keep != i:
            dropped[i] = ("near_duplicate", keep)
    return dropped
