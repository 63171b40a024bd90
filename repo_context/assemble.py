"""Choose the other-file snippets for one completion, within a token budget, in a stable order.

Sources, least relevant first in the prompt (the model weighs text near the cursor most):

- `bm25`: windows of workspace code lexically closest to the lines above the cursor (the fallback);
- `ring`: chunks the user recently viewed or edited (`repo_context.ring`);
- `outlines`: the imported files' imports and top-level signatures;
- `defs`: the definitions of the names used near the cursor, nearest name last.

The budget goes to the most relevant first: every definition's signature, then bodies in place of
signatures, then outlines, ring chunks and BM25 windows while they fit. Within a source, snippets
are ordered by path and position, not by score, so the prompt's start changes only when the chosen set
changes (a keystroke that keeps the same names near the cursor keeps the prompt cache).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from fim.outline import outline
from fim.prompt import ContextFile
from repo_context.lexical import query_text
from repo_context.ring import ChunkRing
from repo_context.tags import ELLIPSIS, Definition, names_near
from repo_context.workspace import Snapshot

#: Every source, in prompt order (least relevant first).
SOURCES = ("bm25", "ring", "outlines", "defs")
#: What `full` context uses when a caller does not choose.
DEFAULT_SOURCES = ("bm25", "ring", "outlines", "defs")
#: A name defined in more places than this counts only where the current file imports it from.
MAX_DEFINITIONS_PER_NAME = 2
#: BM25 windows offered at most.
MAX_WINDOWS = 4
#: A file the index does not hold yet has its imports read from this many first characters.
IMPORT_HEAD_CHARS = 64 * 1024
#: A snippet whose lines are this much in more relevant snippets of its file is not shown again.
REPEATED_SHARE = 0.8
#: Tokens a snippet costs beyond its text (its path line and separator).
SNIPPET_OVERHEAD = 2

TokenCounter = Callable[[str], int]


@dataclass
class _Piece:
    source: str
    path: str
    #: Position in its file (orders pieces of one file).
    at: int
    text: str
    #: A longer version the budget may swap in (a definition's body).
    full: str | None = None


def check_sources(names: Iterable[str]) -> tuple[str, ...]:
    """`names` validated and put in prompt order; a ValueError names an unknown source."""
    chosen = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in chosen if n not in SOURCES]
    if unknown:
        raise ValueError(f"unknown context source {', '.join(unknown)}; choose from {', '.join(SOURCES)}")
    return tuple(s for s in SOURCES if s in chosen)


def gather(
    snapshot: Snapshot,
    path: str,
    prefix: str,
    suffix: str,
    budget: int,
    count: TokenCounter,
    *,
    language: str | None = None,
    ring: ChunkRing | None = None,
    sources: Iterable[str] = DEFAULT_SOURCES,
    display: Callable[[str], str] = lambda p: p,
) -> tuple[ContextFile, ...]:
    """Snippets for completing `path` at the cursor between `prefix` and `suffix`, least relevant first,
    at most `budget` tokens as `count` counts them."""
    chosen = check_sources(sources)
    entry = snapshot.files.get(path)
    language = language or (entry.language if entry else None)
    # The index's imports of this file (at most one pass old); parsing the whole text per request costs
    # ~100 ms on a 3,000-line file. A file the index does not have yet is read from its head.
    imported = snapshot.imported(path, None if entry else (prefix + suffix)[:IMPORT_HEAD_CHARS], language)
    by_source: dict[str, list[_Piece]] = {s: [] for s in SOURCES}
    if "defs" in chosen:
        by_source["defs"] = _definitions(snapshot, path, names_near(prefix, suffix), imported)
    if "outlines" in chosen:
        by_source["outlines"] = [p for p in (_outline(snapshot, f) for f in imported) if p is not None]
    if "ring" in chosen and ring is not None:
        around = (prefix.count("\n") - 32, prefix.count("\n") + 32)
        by_source["ring"] = [_Piece("ring", c.path, c.line, c.text) for c in ring.chunks(path, around)]
    if "bm25" in chosen and snapshot.lexical is not None:
        hits = snapshot.lexical.search(query_text(prefix), MAX_WINDOWS, exclude_path=path)
        by_source["bm25"] = [_Piece("bm25", w.path, w.line, w.text) for _, w in hits]
    kept = _spend(by_source, budget, count)
    out = []
    for source in SOURCES:
        pieces = sorted((p for p in kept if p.source == source), key=lambda p: (p.path, p.at))
        for file, group in _by_path(pieces):
            out.append(ContextFile(display(file), "\n\n".join(p.text for p in group)))
    return tuple(out)


def _definitions(snapshot: Snapshot, path: str, names: list[str], imported: list[str]) -> list[_Piece]:
    """Definitions of `names` (nearest first) outside `path`; an ambiguous name only from imported files."""
    pieces: list[_Piece] = []
    seen: set[tuple[str, int]] = set()
    imported_set = set(imported)
    for name in names:
        found = [d for d in snapshot.by_name.get(name, ()) if d.path != path]
        if len(found) > MAX_DEFINITIONS_PER_NAME:
            found = [d for d in found if d.path in imported_set][:MAX_DEFINITIONS_PER_NAME]
        for d in found:
            if (d.path, d.start) not in seen and not _inside_kept(d, pieces):
                seen.add((d.path, d.start))
                pieces.append(_Piece("defs", d.path, d.start, _dedent(d.signature), _dedent(d.body)))
    return pieces


def _inside_kept(d: Definition, pieces: list[_Piece]) -> bool:
    return False if d.kind != "method" else any(p.path == d.path and p.at < d.start and p.full and
                                                d.body in p.full for p in pieces)  # fmt: skip


def _outline(snapshot: Snapshot, file: str) -> _Piece | None:
    entry = snapshot.files.get(file)
    if entry is None:
        return None
    shape = outline(entry.text, entry.language)
    head = entry.text[shape.imports[0] : shape.imports[1]].rstrip() if shape and shape.imports else ""
    tops = [_dedent(d.signature) for d in entry.definitions if d.kind != "method"]
    text = "\n\n".join(t for t in [head, *tops] if t)
    return _Piece("outlines", file, -1, text) if text else None


def _spend(by_source: dict[str, list[_Piece]], budget: int, count: TokenCounter) -> list[_Piece]:
    """The pieces that fit `budget`: most relevant source first, signatures before any body."""
    left = budget
    kept: list[_Piece] = []
    for source in reversed(SOURCES):
        for piece in by_source[source]:
            need = count(piece.text) + SNIPPET_OVERHEAD
            if need <= left and not _repeats(piece, kept):
                kept.append(piece)
                left -= need
        if source == "defs":  # bodies where signatures were, most relevant first, while they fit
            for piece in kept:
                if piece.full and piece.full != piece.text:
                    extra = count(piece.full) - count(piece.text)
                    if extra <= left:
                        piece.text, left = piece.full, left - extra
    return kept


def _lines(text: str) -> set[str]:
    return {line.strip().removesuffix(ELLIPSIS).strip() for line in text.split("\n") if line.strip()}


def _repeats(piece: _Piece, kept: list[_Piece]) -> bool:
    """True when most of `piece`'s lines are already in a more relevant kept piece of the same file."""
    mine = _lines(piece.text)
    shown: set[str] = set()
    for other in kept:
        if other.path == piece.path:
            shown |= _lines(other.text)
    return bool(mine) and len(mine & shown) >= REPEATED_SHARE * len(mine)


def _by_path(pieces: list[_Piece]) -> list[tuple[str, list[_Piece]]]:
    groups: dict[str, list[_Piece]] = {}
    for piece in pieces:
        groups.setdefault(piece.path, []).append(piece)
    return list(groups.items())


def _dedent(text: str) -> str:
    """A method's text without its class's indentation (the first line's indentation is what to remove)."""
    lines = text.split("\n")
    first = lines[0]
    indent = first[: len(first) - len(first.lstrip())]
    if not indent:
        return text
    return "\n".join(line[len(indent) :] if line.startswith(indent) else line.lstrip() for line in lines)
