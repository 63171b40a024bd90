"""Fit the text around the cursor into a token budget.

Text is dropped in whole lines, farthest from the cursor first: the start of
the prefix, the end of the suffix, then context files. Cutting between lines
never splits a token.

Cuts are cache-stable: a cut may only fall before an *anchor* line, one whose
content hashes to 0 mod 8 (`ANCHOR_LEVELS`), and the earliest anchor that fits
is chosen. While the user types (or moves the cursor a few lines) the tail
from that anchor still fits, so the prompt's start stays the same and the
prompt cache keeps it; the cut moves only when it must, by one anchor (about
8 lines). Anchors depend on the line's text alone, not on where the text
handed to us starts, so a coarser cut made earlier (`precut_prefix`) does not
move them. When the anchors are too sparse to use most of the budget, denser
ones (mod 4, mod 2) and finally every line are allowed.

When the language is known, cuts fall between top-level constructs first
(whole functions and classes nearest the cursor are kept, and the imports
stay at the top of the prefix), and between lines only when the construct
around the cursor alone would leave most of the budget unused.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, replace
from typing import Callable, Sequence
from zlib import crc32

from fim.errors import FimError
from fim.outline import outline
from fim.prompt import ContextFile, FimInput
from fim.window import head_start

#: Counts the tokens of a string (without special tokens added around it).
TokenCounter = Callable[[str], int]

#: A context file shorter than this many tokens after cutting is not worth showing.
MIN_CONTEXT_TOKENS = 32

#: Cutting at top-level constructs must keep at least this share of the budget; else lines.
MIN_SYNTAX_SHARE = 0.5

#: The imports are kept at the top of a cut prefix if they need at most this share of its budget.
MAX_IMPORTS_SHARE = 0.25
#: Anchor densities tried in turn: a line start is a cut point at level n when the line's stripped text
#: is not blank and its CRC-32 is 0 mod n. Level 1 is every line start.
ANCHOR_LEVELS = (8, 4, 2, 1)

#: An anchored cut must keep at least this share of the budget, else the next, denser level is tried.
MIN_ANCHORED_SHARE = 0.75

#: Most of the budget the current file's path line may take; a longer path keeps only its last components.
MAX_PATH_SHARE = 0.125
#: Most of the budget other files may hold back from the current file's prefix and suffix (they get it only
#: when they need it; without a reserve a long file left them nothing, so repository context never showed).
CONTEXT_SHARE = 0.5


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


def _anchor_level(line: str) -> int:
    """The largest of `ANCHOR_LEVELS` that `line` is an anchor at (1 for a blank line: any line)."""
    line = line.strip()
    digest = crc32(line.encode("utf-8", "surrogatepass")) if line else 1
    return next(n for n in ANCHOR_LEVELS if digest % n == 0)


def anchor_levels(text: str, starts: Sequence[int]) -> list[int]:
    """`_anchor_level` of the line of `text` beginning at each of `starts`."""
    out = []
    for at in starts:
        end = text.find("\n", at)
        out.append(_anchor_level(text[at : end if end != -1 else len(text)]))
    return out


def _earliest_fitting(text: str, budget: int, count: TokenCounter, points: Sequence[int]) -> int | None:
    """Index of the first of `points` (increasing) whose tail of `text` fits `budget`, None when none does."""
    lo, hi = 0, len(points)
    while lo < hi:  # token counts shrink as the start moves right
        mid = (lo + hi) // 2
        if count(text[points[mid] :]) <= budget:
            hi = mid
        else:
            lo = mid + 1
    return lo if lo < len(points) else None


def _latest_fitting(text: str, budget: int, count: TokenCounter, points: Sequence[int]) -> int | None:
    """Index of the last of `points` (increasing) whose head of `text` fits `budget`, None when none does."""
    lo, hi = 0, len(points)
    while lo < hi:  # token counts grow as the end moves right
        mid = (lo + hi) // 2
        if count(text[: points[mid]]) <= budget:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1 if lo > 0 else None


def _anchored(text: str, budget: int, count: TokenCounter, tail: bool) -> str | None:
    """The longest tail (or head) of `text` cut before an anchor line within `budget`, at the sparsest
    anchor level that keeps `MIN_ANCHORED_SHARE` of it; None when only every-line cuts would."""
    starts = line_starts(text)
    levels = anchor_levels(text, starts)
    for level in ANCHOR_LEVELS[:-1]:
        points = [at for at, n in zip(starts, levels) if n % level == 0 and 0 < at < len(text)]
        if tail:
            i = _earliest_fitting(text, budget, count, points)
            kept = text[points[i] :] if i is not None else ""
        else:
            i = _latest_fitting(text, budget, count, points)
            kept = text[: points[i]] if i is not None else ""
        if kept and count(kept) >= budget * MIN_ANCHORED_SHARE:
            return kept
    return None


def keep_tail(text: str, budget: int, count: TokenCounter, cuts: Sequence[int] | None = None) -> str:
    """The longest tail of `text` that starts at a cut point and fits `budget` tokens.

    `cuts` are the allowed start offsets in increasing order; by default the
    starts of anchor lines (see the module docstring), else of any line. When
    even the last piece is too long it is cut at a space, never inside a word.
    """
    if budget <= 0 or not text:
        return ""
    if count(text) <= budget:
        return text
    if cuts is None:
        kept = _anchored(text, budget, count, tail=True)
        if kept is not None:
            return kept
    points = list(cuts) if cuts is not None else line_starts(text)
    i = _earliest_fitting(text, budget, count, points)
    if i is not None and points[i] < len(text):
        return text[points[i] :]
    return _keep_tail_words(text[points[-1] :] if points else text, budget, count)


def keep_head(text: str, budget: int, count: TokenCounter, cuts: Sequence[int] | None = None) -> str:
    """The longest head of `text` that ends at a cut point (anchor lines first, as `keep_tail`) and fits
    `budget` tokens."""
    if budget <= 0 or not text:
        return ""
    if count(text) <= budget:
        return text
    if cuts is None:
        kept = _anchored(text, budget, count, tail=False)
        if kept is not None:
            return kept
    points = list(cuts) if cuts is not None else line_starts(text)[1:]
    i = _latest_fitting(text, budget, count, points)
    if i is not None:
        return text[: points[i]]
    first_line_end = points[0] if points else len(text)
    return _keep_head_words(text[:first_line_end], budget, count)


def precut_prefix(prefix: str, max_chars: int) -> str:
    """A cheap character-level cut of `prefix` before token counting: the tail from the last anchor line
    (`ANCHOR_LEVELS[0]`) starting at or before `len(prefix) - max_chars`, so it keeps at least `max_chars`
    characters and, like the token-level cut, moves only in steps of an anchor while the user types. With
    no anchor within another `max_chars` characters, the last line start before the limit."""
    if len(prefix) <= max_chars:
        return prefix
    limit = len(prefix) - max_chars
    at = prefix.rfind("\n", 0, limit) + 1
    first = at
    while at > 0 and at >= limit - max_chars:
        end = prefix.find("\n", at)
        if _anchor_level(prefix[at : end if end != -1 else len(prefix)]) % ANCHOR_LEVELS[0] == 0:
            return prefix[at:]
        at = prefix.rfind("\n", 0, at - 1) + 1
    if at == 0 and limit <= max_chars:
        return prefix  # the file start is an anchor, and it is near
    # A line start far before the limit, or none (a huge line, minified code): a plain character cut keeps
    # the text bounded, so a megabyte line never reaches the tokenizer whole.
    return prefix[first:] if len(prefix) - first <= 2 * max_chars else prefix[-max_chars:]


def precut_suffix(suffix: str, max_chars: int) -> str:
    """`precut_prefix` for the suffix: the head up to the first anchor line starting at or after `max_chars`
    (within another `max_chars` characters, else the first line start after it)."""
    if len(suffix) <= max_chars:
        return suffix
    at = suffix.find("\n", max_chars - 1) + 1
    first = at
    while 0 < at < len(suffix) and at <= 2 * max_chars:
        end = suffix.find("\n", at)
        if _anchor_level(suffix[at : end if end != -1 else len(suffix)]) % ANCHOR_LEVELS[0] == 0:
            return suffix[:at]
        at = end + 1 if end != -1 else 0
    return suffix[:first] if 0 < first <= 2 * max_chars else suffix[:max_chars]


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


def _fitting_cut(text: str, budget: int, count: TokenCounter, points: Sequence[int], tail: bool) -> str | None:
    """The longest tail (or head) of `text` at one of `points` within `budget`, if it uses enough of it."""
    if not points:
        return None
    candidates = list(points)
    if tail:
        fits = [p for p in candidates if count(text[p:]) <= budget] if len(candidates) < 8 else None
        if fits is None:
            lo, hi = 0, len(candidates)
            while lo < hi:
                mid = (lo + hi) // 2
                if count(text[candidates[mid] :]) <= budget:
                    hi = mid
                else:
                    lo = mid + 1
            fits = candidates[lo:]
        kept = text[fits[0] :] if fits else ""
    else:
        lo, hi = 0, len(candidates)
        while lo < hi:
            mid = (lo + hi) // 2
            if count(text[: candidates[mid]]) <= budget:
                lo = mid + 1
            else:
                hi = mid
        kept = text[: candidates[lo - 1]] if lo > 0 else ""
    return kept if kept.strip() and count(kept) >= budget * MIN_SYNTAX_SHARE else None


def keep_tail_syntax(text: str, budget: int, count: TokenCounter, language: str | None) -> str:
    """`keep_tail` that cuts between top-level constructs and keeps the imports, when it can.

    Only the text before the construct the cursor is in is parsed: the code being typed is often broken,
    and tree-sitter's recovery from it can hide the imports or merge constructs on one keystroke and not
    the next, which would move the cut (and lose the prompt cache) on every keystroke.
    """
    current = head_start(text)
    shape = outline(text[:current], language) if language else None
    if shape is None:
        return keep_tail(text, budget, count)
    imports = ""
    room = budget
    starts = list(shape.starts) + ([current] if current else [])
    if shape.imports is not None:
        block = text[shape.imports[0] : shape.imports[1]]
        need = count(block)
        if 0 < need <= budget * MAX_IMPORTS_SHARE:
            imports, room = block, budget - need
            starts = [s for s in starts if s >= shape.imports[1]]
    tail = _fitting_cut(text, room, count, starts, tail=True)
    if tail is None:
        tail = keep_tail(text, room, count)
    if imports and len(tail) > len(text) - shape.imports[1]:
        return keep_tail(text, budget, count)  # the tail reaches into the imports: nothing to add
    if imports and not imports.endswith("\n"):
        imports += "\n"
    return imports + tail


def keep_head_syntax(text: str, budget: int, count: TokenCounter, language: str | None) -> str:
    """`keep_head` that ends after a top-level construct when it can."""
    shape = outline(text, language) if language else None
    if shape is not None:
        head = _fitting_cut(text, budget, count, shape.ends, tail=False)
        if head is not None:
            return head
    return keep_head(text, budget, count)


def fit_path(path: str | None, budget: int, count: TokenCounter) -> str | None:
    """The current file's path as the model sees it: whole, or its last components within `MAX_PATH_SHARE`
    of the budget (None when not even the file name fits). The path is input too: a client's 4,000-character
    path must not take the prompt past the budget."""
    if not path:
        return path
    room = int(budget * MAX_PATH_SHARE) - 2  # the path line's sentinel and newline
    if count(path) <= room:
        return path
    tail = keep_tail(path, room, count, [i + 1 for i, ch in enumerate(path) if ch in "/\\"])
    return tail or None


def fit(
    fim: FimInput,
    budget: int,
    count: TokenCounter,
    *,
    prefix_share: float = 0.75,
    prefix_cuts: Sequence[int] | None = None,
    suffix_cuts: Sequence[int] | None = None,
    language: str | None = None,
    context_share: float = CONTEXT_SHARE,
) -> Fitted:
    """Shrink `fim` to at most `budget` tokens of text.

    The prefix gets `prefix_share` of the budget and the suffix the rest, but
    a side that needs less gives its unused share to the other. Context files
    get what the current file leaves, most relevant (last) first, and up to
    `context_share` of the budget is held back for them from the start. With a
    `language` (and no explicit cuts) the cuts follow the syntax, see the
    module docstring.
    """
    if budget <= 0:
        raise FimError(f"the context budget must be a positive number of tokens, not {budget}")
    if not 0.0 < prefix_share <= 1.0:
        raise FimError(f"the prefix share of the budget must be in (0, 1], not {prefix_share}")
    if not 0.0 <= context_share < 1.0:
        raise FimError(f"the other files' share of the budget must be in [0, 1), not {context_share}")
    path = fit_path(fim.path, budget, count)
    budget -= count(path) + 2 if path else 0
    reserve = 0
    if fim.context and context_share:
        need = sum(count(c.content) + count(c.path) + 2 for c in fim.context)
        reserve = min(need, int(budget * context_share))
    own = budget - reserve
    prefix_tokens, suffix_tokens = count(fim.prefix), count(fim.suffix)
    prefix_cap = int(own * prefix_share)
    suffix_cap = own - prefix_cap
    if prefix_tokens < prefix_cap:
        suffix_cap = own - prefix_tokens
    if suffix_tokens < suffix_cap:
        prefix_cap = own - suffix_tokens
    if prefix_tokens <= prefix_cap:
        prefix = fim.prefix
    elif language and prefix_cuts is None:
        prefix = keep_tail_syntax(fim.prefix, prefix_cap, count, language)
    else:
        prefix = keep_tail(fim.prefix, prefix_cap, count, prefix_cuts)
    if suffix_tokens <= suffix_cap:
        suffix = fim.suffix
    elif language and suffix_cuts is None:
        suffix = keep_head_syntax(fim.suffix, suffix_cap, count, language)
    else:
        suffix = keep_head(fim.suffix, suffix_cap, count, suffix_cuts)
    truncated = prefix != fim.prefix or suffix != fim.suffix or path != fim.path

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
    return Fitted(replace(fim, prefix=prefix, suffix=suffix, path=path, context=tuple(reversed(kept))), truncated)
