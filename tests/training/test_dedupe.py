"""Exact and near-duplicate files are dropped, keeping the first copy."""

from __future__ import annotations

import random

from training.dedupe import duplicates


def module(seed: int, lines: int = 120) -> str:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "value", "count", "items", "result", "index", "total"]
    return "".join(f"def f{i}({rng.choice(words)}):\n    return {rng.choice(words)} + {rng.randint(0, 99)}\n"
                   for i in range(lines))  # fmt: skip


def test_exact_copies_ignoring_trailing_whitespace_are_duplicates():
    a = module(1)
    b = a.replace("\n", "   \n") + "\n\n"
    assert duplicates([a, module(2), b]) == {2: ("duplicate", 0)}


def test_a_copy_with_a_few_edits_is_a_near_duplicate_and_different_files_are_kept():
    a = module(3)
    lines = a.split("\n")
    lines[10] = "    return changed_here + 1"
    lines[50] = "def renamed(x):"
    edited = "\n".join(lines)
    unrelated = [module(s) for s in range(10, 15)]
    dropped = duplicates([a, *unrelated, edited])
    assert dropped == {6: ("near_duplicate", 0)}


def test_small_files_are_only_deduplicated_exactly():
    assert duplicates(["x = 1\n", "x = 2\n", "x = 1\n"]) == {2: ("duplicate", 0)}
