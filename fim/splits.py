"""Where to cut a training document into prefix, middle and suffix.

Random character spans teach a model to fill arbitrary holes, but the holes
users make are syntax units: the rest of a statement, a function body, the
arguments of a call. Following AST-FIM and SAFIM, most middles here are
whole tree-sitter nodes or runs of sibling statements; a configurable share
stays random character spans so that random-span infilling does not
collapse.

The distribution (`sample_split`), for a document in a known language:

1. with probability `random_span_rate` (default 0.1): a random character
   span, both ends uniform over the document (Bavarian et al. 2022);
2. otherwise a node-aligned middle, its kind drawn with `KIND_WEIGHTS`
   among the kinds the document has (weights renormalised):
   a run of 1 + Geometric(0.5) sibling statements (at most
   `MAX_STATEMENT_RUN`), a block, a function body, an expression, or an
   argument list; the node is uniform among the nodes of that kind;
3. a middle whose node starts its line and ends it is, with probability
   `WHOLE_LINE_RATE`, widened to whole lines (leading indentation and the
   line break included), the shape of the holes an editor makes when the
   cursor sits on an empty line.

Unknown languages, and documents whose tree has no usable node, get a run
of whole lines (1 + Geometric(0.5) lines) instead of step 2.
Everything is drawn from the caller's `random.Random`, so a seed fixes the
split.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from fim import syntax

#: Relative weights of the node kinds of step 2 (capture `@unit.<kind>`).
KIND_WEIGHTS: dict[str, float] = {
    "statement": 0.40,
    "block": 0.10,
    "body": 0.10,
    "expression": 0.25,
    "arguments": 0.15,
}

#: Longest run of sibling statements one middle may cover.
MAX_STATEMENT_RUN = 6

#: Share of line-aligned node middles widened to whole lines.
WHOLE_LINE_RATE = 0.5

#: Nodes longer than this many characters are not used as middles: a
#: 5,000-character middle teaches little about completion.
MAX_MIDDLE_CHARS = 4000


@dataclass(frozen=True)
class Split:
    """Character offsets of the middle and how it was chosen."""

    start: int
    end: int
    #: `random`, `lines`, or the node kind (`statement`, `block`, ...).
    kind: str
    #: True when the middle was widened from its node(s) to whole lines.
    whole_lines: bool = False


def sample_middle(
    text: str, language: str | None, rng: random.Random, *, random_span_rate: float = 0.1
) -> tuple[int, int]:
    """Character offsets `(start, end)` of a FIM middle of `text`.

    `text[:start] + text[start:end] + text[end:] == text`; the middle is
    non-empty whenever `text` is.
    """
    split = sample_split(text, language, rng, random_span_rate=random_span_rate)
    return split.start, split.end


def sample_split(text: str, language: str | None, rng: random.Random, *, random_span_rate: float = 0.1) -> Split:
    """Like `sample_middle`, also saying which rule chose the middle (for tests and statistics)."""
    if not 0.0 <= random_span_rate <= 1.0:
        from fim.errors import FimError

        raise FimError(f"random_span_rate must be between 0 and 1, not {random_span_rate}")
    if not text:
        return Split(0, 0, "random")
    if rng.random() < random_span_rate:
        return _random_span(text, rng)
    split = _node_split(text, language, rng)
    return split if split is not None else _line_run(text, rng)


def _random_span(text: str, rng: random.Random) -> Split:
    a, b = rng.randint(0, len(text)), rng.randint(0, len(text))
    start, end = min(a, b), max(a, b)
    if start == end:
        start, end = (start, start + 1) if start < len(text) else (start - 1, start)
    return Split(start, end, "random")


def _line_run(text: str, rng: random.Random) -> Split:
    lines = text.splitlines(keepends=True)
    first = rng.randrange(len(lines))
    count = min(_geometric(rng, MAX_STATEMENT_RUN * 2), len(lines) - first)
    start = sum(len(line) for line in lines[:first])
    end = start + sum(len(line) for line in lines[first : first + count])
    return Split(start, end, "lines")


def _geometric(rng: random.Random, cap: int) -> int:
    """1 + Geometric(0.5), at most `cap`."""
    n = 1
    while n < cap and rng.random() < 0.5:
        n += 1
    return n


def _usable(node: Any) -> bool:
    return node.end_byte > node.start_byte and not node.has_error and not node.is_missing


def _max_bytes(source: syntax.Source) -> int:
    return MAX_MIDDLE_CHARS if source.ascii else 4 * MAX_MIDDLE_CHARS


def candidates(text: str, language: str | None) -> tuple[syntax.Source, dict[str, list[Any]]] | None:
    """The document's usable nodes by kind (`statement`, `block`, ...), or None without a tree."""
    source = syntax.Source(text)
    tree = source.parse(language)
    if tree is None:
        return None
    found = syntax.captures(language, tree.root_node)
    limit = _max_bytes(source)
    by_kind: dict[str, list[Any]] = {}
    for kind in KIND_WEIGHTS:
        nodes = [n for n in found.get(f"unit.{kind}", []) if _usable(n) and n.end_byte - n.start_byte <= limit]
        if nodes:
            # Queries may capture a node twice; keep document order for determinism.
            unique = {(n.start_byte, n.end_byte, n.type): n for n in nodes}
            by_kind[kind] = [unique[k] for k in sorted(unique)]
    return source, by_kind


def _node_split(text: str, language: str | None, rng: random.Random) -> Split | None:
    found = candidates(text, language)
    if found is None:
        return None
    source, by_kind = found
    kinds = [k for k in KIND_WEIGHTS if k in by_kind]
    if not kinds:
        return None
    kind = rng.choices(kinds, weights=[KIND_WEIGHTS[k] for k in kinds])[0]
    nodes = by_kind[kind]
    node = nodes[rng.randrange(len(nodes))]
    last = node
    if kind == "statement":
        for _ in range(_geometric(rng, MAX_STATEMENT_RUN) - 1):
            nxt = last.next_named_sibling
            if nxt is None or not _usable(nxt) or nxt.end_byte - node.start_byte > _max_bytes(source):
                break
            last = nxt
    start, end = source.char(node.start_byte), source.char(last.end_byte)
    whole = _whole_lines(text, start, end)
    if whole is not None and rng.random() < WHOLE_LINE_RATE:
        return Split(whole[0], whole[1], kind, whole_lines=True)
    return Split(start, end, kind)


def _whole_lines(text: str, start: int, end: int) -> tuple[int, int] | None:
    """`(start, end)` widened to whole lines, if only blanks precede `start` and a line break follows `end`."""
    line_start = text.rfind("\n", 0, start) + 1
    if text[line_start:start].strip(" \t"):
        return None
    rest = text[end : end + 2]
    if rest.startswith("\r\n"):
        return line_start, end + 2
    if rest.startswith("\n"):
        return line_start, end + 1
    return None
