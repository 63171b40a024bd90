"""Numbers reported by the harness: pass@k, exact match and edit similarity, latency percentiles."""

from __future__ import annotations

import math
from typing import Iterable, Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021) from `n` samples of which `c` passed.

    1 - C(n-c, k) / C(n, k), computed as a product so large n does not overflow.
    """
    if not 0 <= c <= n or k <= 0:
        raise ValueError(f"need 0 <= c <= n and k > 0, got n={n} c={c} k={k}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per task, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """Mean pass@k over tasks, each given as (samples, passed)."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    return sum(values) / len(values) if values else float("nan")


def ks_for(samples: int) -> list[int]:
    """The pass@k worth reporting for `samples` per task: 1, 10, 100 up to `samples`."""
    return [k for k in (1, 10, 100) if k <= samples] or [1]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    at = (len(ordered) - 1) * q / 100
    low, high = math.floor(at), math.ceil(at)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def rate(numerator: float, milliseconds: float) -> float:
    """Per-second rate, or nan when nothing was timed."""
    return numerator / (milliseconds / 1000) if milliseconds > 0 else float("nan")


def levenshtein(a: str, b: str) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(prediction: str, target: str) -> float:
    """1 - Levenshtein distance / length of the longer string (1.0 for two empty strings)."""
    longest = max(len(prediction), len(target))
    return 1.0 if longest == 0 else 1.0 - levenshtein(prediction, target) / longest
