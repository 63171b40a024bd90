"""Lexical retrieval over the workspace's code with BM25 (bm25s), the fallback when no definition matches.

Files are cut into windows of `WINDOW_LINES` lines every `STRIDE_LINES` (CrossCodeEval's retrieval unit);
the query is the code just above the cursor. Words are identifiers split at `_` and case changes, so
`parse_header` and `parseHeader` meet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

#: Lines per retrieved window and the step between windows.
WINDOW_LINES, STRIDE_LINES = 20, 10
#: Lines above the cursor that form the query.
QUERY_LINES = 10

_WORD = re.compile(r"[A-Za-z][a-z0-9]*|[A-Z]+(?![a-z])|\d+")
_IDENT = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class Window:
    path: str
    #: First line's index in its file.
    line: int
    text: str


def words(text: str) -> list[str]:
    """Lower-case word pieces of the identifiers in `text`."""
    out: list[str] = []
    for ident in _IDENT.findall(text):
        out.append(ident.lower())
        pieces = [p.lower() for p in _WORD.findall(ident)]
        if len(pieces) > 1:
            out.extend(pieces)
    return out


def windows(path: str, text: str) -> list[Window]:
    """`text` as overlapping windows (a short file is one window)."""
    lines = text.split("\n")
    out = []
    for first in range(0, max(1, len(lines) - WINDOW_LINES + STRIDE_LINES), STRIDE_LINES):
        body = "\n".join(lines[first : first + WINDOW_LINES])
        if body.strip():
            out.append(Window(path, first, body))
    return out


class LexicalIndex:
    """A BM25 index over windows of many files; built once, read by any number of threads."""

    def __init__(self, items: Iterable[Window]) -> None:
        import bm25s

        self.windows: list[Window] = [w for w in items if words(w.text)]
        self._bm25 = None
        if self.windows:
            self._bm25 = bm25s.BM25()
            self._bm25.index([words(w.text) for w in self.windows], show_progress=False)

    def search(self, query: str, k: int, exclude_path: str | None = None) -> list[tuple[float, Window]]:
        """The `k` best windows for `query` (best first) with their scores, none from `exclude_path`."""
        terms = words(query)
        if self._bm25 is None or not terms or k <= 0:
            return []
        vocab = self._bm25.vocab_dict
        terms = [t for t in terms if t in vocab]
        if not terms:
            return []
        want = min(len(self.windows), k + 8)
        ids, scores = self._bm25.retrieve([terms], k=want, show_progress=False)
        out = []
        for index, score in zip(ids[0], scores[0]):
            window = self.windows[int(index)]
            if score > 0 and window.path != exclude_path:
                out.append((float(score), window))
        return out[:k]


def query_text(prefix: str, lines: int = QUERY_LINES) -> str:
    """The query for a cursor: the last `lines` lines of the prefix."""
    return "\n".join(prefix.split("\n")[-lines:])
