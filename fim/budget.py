"""Fit the text around the cursor into a token budget.

Text is dropped in whole lines, farthest from the cursor first: the start of
the prefix, the end of the suffix, then context files. Cutting between lines
never splits a token, and a cut that stays on the same line while the user
types keeps the prompt's start stable, so a prompt cache can be reused.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from fim.errors import FimError
from fim.prompt import ContextFile, FimInput

#: Counts the tokens of a string (without special tokens added around it).
TokenCounter = Callable[[str], int]

#: A context file shorter than this many tokens after cutting is not worth showing.
MIN_CONTEXT_TOKENS = 32


@dataclass(frozen=True)
class Fitted:
    fim: FimInput
    #: True when anything was left out.
    truncated: bool


def line_starts(text: str) -> list[int]:
    """Offsets where a line begins (0 and every position after a newline)."""
    starts = [0]
    at = text.find("\n")
    while at != -1:
        starts.append(at + 1)
        at = text.find("\n", at + 1)
    return starts


def keep_tail(text: str, budget: int, count: TokenCounter, cuts: Sequence[int] | None = None) -> str:
    """The longest tail of `text` that starts at a cut point and fits `budget` tokens.

    `cuts` are the allowed start offsets in increasing order (line starts by
    default; syntax-aware callers pass top-level boundaries first). When even
    the last piece is too long it is cut at a space, never inside a word.
    """
    if budget <= 0 or not text:
        return ""
    if count(text) <= budget:
        return text
    points = list(cuts) if cuts is not None else line_starts(text)
    # Smallest cut whose tail fits; token counts shrink as the start moves right.
    lo, hi = 0, len(points)
    while lo < hi:
        mid = (lo + hi) // 2
        if count(text[points[mid] :]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    if lo < len(points) and points[lo] < len(text):
        return text[points[lo] :]
    return _keep_tail_words(text[points[-1] :] if points else text, budget, count)


def keep_head(text: str, budget: int, count: TokenCounter, cuts: Sequence[int] | None = None) -> str:
    """The longest head of `text` that ends at a cut point and fits `budget` tokens."""
    if budget <= 0 or not text:
        return ""
    if count(text) <= budget:
        return text
    points = list(cuts) if cuts is not None else line_starts(text)[1:]
    lo, hi = 0, len(points)
    while lo < hi:  # largest end that fits
        mid = (lo + hi) // 2
        if count(text[: points[mid]]) <= budget:
            lo = mid + 1
        else:
            hi = mid
    if lo > 0:
        return text[: points[lo - 1]]
    first_line_end = points[0] if points else len(text)
    return _keep_head_words(text[:first_line_end], budget, count)


def _space_cuts(text: str) -> list[int]:
    return [i for i, ch in enumerate(text) if ch in " \t"]


def _keep_tail_words(text: str, budget: int, count: TokenCounter) -> str:
    spaces = _space_cuts(text)
    # Start just after a space; fewer tokens the further right.
    starts = [i + 1 for i in spaces]
    i = bisect_left([-count(text[s:]) for s in starts], -budget) if starts else 0
    return text[starts[i] :] if i < len(starts) else ""


def _keep_head_words(text: str, budget: int, count: TokenCounter) -> str:
    ends = _space_cuts(text)
    best = ""
    for end in ends:
        if count(text[:end]) > budget:
            break
        best = text[:end]
    return best


def fit(
    fim: FimInput,
    budget: int,
    count: TokenCounter,
    *,
    prefix_share: float = 0.75,
    prefix_cuts: Sequence[int] | None = None,
    suffix_cuts: Sequence[int] | None = None,
) -> Fitted:
    """Shrink `fim` to at most `budget` tokens of text.

    The prefix gets `prefix_share` of the budget and the suffix the rest, but
    a side that needs less gives its unused share to the other. Context files
    get what the current file leaves, most relevant (last) first.
    """
    if budget <= 0:
        raise FimError(f"the context budget must be a positive number of tokens, not {budget}")
    if not 0.0 < prefix_share <= 1.0:
        raise FimError(f"the prefix share of the budget must be in (0, 1], not {prefix_share}")
    prefix_tokens, suffix_tokens = count(fim.prefix), count(fim.suffix)
    prefix_cap = int(budget * prefix_share)
    suffix_cap = budget - prefix_cap
    if prefix_tokens < prefix_cap:
        suffix_cap = budget - prefix_tokens
    if suffix_tokens < suffix_cap:
        prefix_cap = budget - suffix_tokens
    prefix = fim.prefix if prefix_tokens <= prefix_cap else keep_tail(fim.prefix, prefix_cap, count, prefix_cuts)
    suffix = fim.suffix if suffix_tokens <= suffix_cap else keep_head(fim.suffix, suffix_cap, count, suffix_cuts)
    truncated = prefix != fim.prefix or suffix != fim.suffix

    left = budget - count(prefix) - count(suffix)
    kept: list[ContextFile] = []
    for ctx in reversed(fim.context):
        need = count(ctx.content) + count(ctx.path) + 2
        if need <= left:
            kept.append(ctx)
            left -= need
            continue
        truncated = True
        room = left - count(ctx.path) - 2
        if room >= MIN_CONTEXT_TOKENS:
            head = keep_head(ctx.content, room, count)
            if head:
                kept.append(ContextFile(ctx.path, head))
                left -= count(head) + count(ctx.path) + 2
    return Fitted(replace(fim, prefix=prefix, suffix=suffix, context=tuple(reversed(kept))), truncated)
