"""Cut an ordered stream of files into training windows, apply FIM per window, tokenize.

Context-level FIM (Bavarian et al.): the stream is first cut into windows
of `seq_len` tokens, and FIM is applied to each file piece *inside* its
window, so a FIM example never loses its suffix or middle to the window
edge. A file that does not fit is cut at a line start and continues in the
next window under its path line again, which is what a prompt whose prefix
was cut to the token budget looks like at inference. Every window starts
with the tokens the tokenizer puts before any text (bos for Gemma), as the
server's prompts do.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from training.documents import Piece, Renderer
from training.errors import TrainingError
from training.walk import SourceFile

#: Tokens kept free per piece for FIM sentinels, the end token and re-tokenization at the cuts.
RESERVE_TOKENS = 8
#: A window with less room than this left is closed rather than given a sliver of the next file.
MIN_PIECE_TOKENS = 32
#: Files tokenized per batch (bounds the memory held for token offsets).
BATCH_FILES = 64
MIN_SEQ_LEN = 128


@dataclass
class PackStats:
    windows: int = 0
    tokens: int = 0
    #: Tokens cut off windows that came out longer than `seq_len` after FIM.
    truncated_tokens: int = 0
    pieces: int = 0
    #: Content tokens per language (`text` for files without a grammar).
    tokens_by_language: Counter = field(default_factory=Counter)
    #: Content tokens per file (`repo/path`), for the manifest.
    tokens_by_file: Counter = field(default_factory=Counter)


class Packer:
    """Turns ordered repositories into token windows of at most `seq_len` ids."""

    def __init__(self, tokenizer: Any, renderer: Renderer, seq_len: int, seed: int) -> None:
        if seq_len < MIN_SEQ_LEN:
            raise TrainingError(f"--seq-len must be at least {MIN_SEQ_LEN}, not {seq_len}")
        self.backend = tokenizer.backend_tokenizer
        self.renderer = renderer
        self.seq_len = seq_len
        self.seed = seed
        self.prefix_ids: list[int] = list(tokenizer.encode("", add_special_tokens=True))
        self.budget = seq_len - len(self.prefix_ids)
        self.stats = PackStats()

    def encode(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=False)]

    def pack(
        self, split: str, repos: Iterable[tuple[str, list[SourceFile]]], on_file: Callable[[], None] = lambda: None
    ) -> Iterator[np.ndarray]:
        """Token windows (int32 arrays) for the files of `repos`, in order; deterministic for the seed."""
        batch: list[list[Piece | str]] = []
        for window in self._windows(repos, on_file):
            batch.append(window)
            if len(batch) == 32:
                yield from self._encode_windows(split, batch)
                batch = []
        if batch:
            yield from self._encode_windows(split, batch)

    def _encode_windows(self, split: str, windows: list[list[Piece | str]]) -> Iterator[np.ndarray]:
        texts = []
        for window in windows:
            rng = random.Random(f"{self.seed}/{split}/{self.stats.windows}")
            self.stats.windows += 1
            texts.append("".join(p if isinstance(p, str) else self.renderer.render(p, rng) for p in window))
        for ids in self.encode(texts):
            ids = self.prefix_ids + ids
            if len(ids) > self.seq_len:
                self.stats.truncated_tokens += len(ids) - self.seq_len
                ids = ids[: self.seq_len]
            self.stats.tokens += len(ids)
            yield np.asarray(ids, dtype=np.int32)

    def _tokenized(self, repos: Iterable[tuple[str, list[SourceFile]]]) -> Iterator[tuple[Any, ...]]:
        """("header", text, tokens) and ("file", SourceFile, token start offsets, overhead tokens) items."""
        for repo, files in repos:
            header = self.renderer.header(repo)
            if header:
                yield ("header", header, len(self.encode([header])[0]))
            for start in range(0, len(files), BATCH_FILES):
                chunk = files[start : start + BATCH_FILES]
                encoded = self.backend.encode_batch([f.text for f in chunk], add_special_tokens=False)
                overheads = self.encode([self.renderer.overhead(f.path) for f in chunk])
                for f, enc, over in zip(chunk, encoded, overheads):
                    starts = [s for s, _ in enc.offsets]
                    yield ("file", f, starts, len(over))

    def _windows(self, repos, on_file) -> Iterator[list[Piece | str]]:
        window: list[Piece | str] = []
        used = 0
        for item in self._tokenized(repos):
            if item[0] == "header":
                _, text, n = item
                if window and used + n > self.budget - MIN_PIECE_TOKENS:
                    yield window
                    window, used = [], 0
                window.append(text)
                used += n
                continue
            _, f, starts, overhead = item
            text = f.text
            lines = _line_starts(text)
            pos_char = pos_tok = 0
            while pos_char < len(text):
                room = self.budget - used - overhead - RESERVE_TOKENS
                if room < MIN_PIECE_TOKENS and window:
                    yield window
                    window, used = [], 0
                    continue
                room = max(room, MIN_PIECE_TOKENS)
                if len(starts) - pos_tok <= room:
                    cut_char, cut_tok = len(text), len(starts)
                else:
                    limit = starts[pos_tok + room]
                    line = lines[bisect_right(lines, limit) - 1]
                    cut_char = line if line > pos_char else limit
                    cut_tok = bisect_left(starts, cut_char)
                window.append(Piece(f.path, text[pos_char:cut_char], f.language))
                self.stats.pieces += 1
                self.stats.tokens_by_language[f.language or "text"] += cut_tok - pos_tok
                self.stats.tokens_by_file[f"{f.repo}/{f.path}"] += cut_tok - pos_tok
                used += cut_tok - pos_tok + overhead + RESERVE_TOKENS
                pos_char, pos_tok = cut_char, cut_tok
                if pos_char < len(text):
                    yield window
                    window, used = [], 0
            on_file()
        if window:
            yield window


def _line_starts(text: str) -> list[int]:
    starts = [0]
    at = text.find("\n")
    while at != -1:
        if at + 1 < len(text):
            starts.append(at + 1)
        at = text.find("\n", at + 1)
    return starts
