"""A ring of chunks the user recently viewed or edited, as llama.vim keeps for `input_extra`.

llama.vim (`llama.vim`'s `s:pick_chunk`): chunks of up to 64 lines, at most 16 kept, oldest out first, and a new
chunk evicts every kept chunk more than 0.9 similar to it (similarity: 2 x lines in common / lines in both), so
scrolling over the same code does not fill the ring with copies.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

#: llama.vim's defaults (`ring_n_chunks`, `ring_chunk_size`).
RING_CHUNKS, CHUNK_LINES = 16, 64
#: A new chunk evicts kept chunks more similar than this.
EVICT_SIMILARITY = 0.9


@dataclass(frozen=True)
class Chunk:
    path: str
    #: First line's index in its file.
    line: int
    text: str


def similarity(a: str, b: str) -> float:
    """2 x lines in common / (lines of a + lines of b), llama.vim's `s:chunk_sim`."""
    lines_a, lines_b = a.split("\n"), b.split("\n")
    common = sum((Counter(lines_a) & Counter(lines_b)).values())
    return 2.0 * common / (len(lines_a) + len(lines_b))


class ChunkRing:
    """The most recent chunks, oldest first; safe to use from several threads."""

    def __init__(self, size: int = RING_CHUNKS, chunk_lines: int = CHUNK_LINES) -> None:
        if size < 1 or chunk_lines < 1:
            raise ValueError(f"a chunk ring needs a positive size and chunk length, not {size} and {chunk_lines}")
        self.size, self.chunk_lines = size, chunk_lines
        self._chunks: list[Chunk] = []
        self._lock = threading.Lock()

    def add(self, path: str, text: str, line: int) -> None:
        """Remember the `chunk_lines` lines of `text` centred on `line` (the user looked at or edited it)."""
        lines = text.split("\n")
        first = max(0, min(line - self.chunk_lines // 2, len(lines) - self.chunk_lines))
        body = "\n".join(lines[first : first + self.chunk_lines])
        if not body.strip():
            return
        chunk = Chunk(path, first, body)
        with self._lock:
            kept = [c for c in self._chunks if similarity(c.text, body) <= EVICT_SIMILARITY]
            kept.append(chunk)
            self._chunks = kept[-self.size :]

    def chunks(self, exclude_path: str | None = None, around: tuple[int, int] | None = None) -> list[Chunk]:
        """Kept chunks, oldest first; without those of `exclude_path` that overlap lines `around` (the window
        the prompt already shows)."""
        with self._lock:
            chunks = list(self._chunks)
        if exclude_path is None:
            return chunks
        out = []
        for c in chunks:
            end = c.line + c.text.count("\n")
            if c.path == exclude_path and (around is None or (c.line <= around[1] and end >= around[0])):
                continue
            out.append(c)
        return out
