"""The one place that talks to tree-sitter.

Everything else in the project asks this module for a language name, a
tree, or a query's captures, and works with character offsets into Python
strings. Three things are contained here so that nobody else has to know
them:

- which grammar serves a file (by extension) or an LSP `languageId`;
- the tree-sitter API (pinned `>=0.25`: `Parser(language)`, `Query(...)`
  compiled once per language, run with a `QueryCursor`);
- tree-sitter counts UTF-8 bytes while the rest of the code counts
  characters (`Source` converts, cheaply for ASCII text).

Unknown languages give None everywhere and callers fall back to line and
indentation rules: a missing grammar must never break a completion.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from functools import lru_cache
from importlib import resources
from typing import Any

#: Grammars we ship queries for, by the name tree-sitter-language-pack uses.
LANGUAGES: tuple[str, ...] = ("python", "javascript", "typescript", "tsx", "go", "rust", "java", "c", "cpp")

#: LSP `languageId` values (and common aliases) to grammar names.
LANGUAGE_IDS: dict[str, str] = {
    "python": "python",
    "py": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "js": "javascript",
    "jsx": "javascript",
    "typescript": "typescript",
    "ts": "typescript",
    "typescriptreact": "tsx",
    "tsx": "tsx",
    "go": "go",
    "golang": "go",
    "rust": "rust",
    "rs": "rust",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
    "c++": "cpp",
    "cuda-cpp": "cpp",
}

#: File extensions (lower case, with the dot) to grammar names.
EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".pyw": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hh": "cpp",
    ".hpp": "cpp",
    ".hxx": "cpp",
    ".cu": "cpp",
}


def language_for(path_or_language_id: str | None) -> str | None:
    """The grammar name for a path (`src/a.tsx`), a URI, or an LSP languageId (`typescriptreact`).

    Returns None for anything we have no grammar for; that is not an error.
    """
    if not path_or_language_id:
        return None
    key = path_or_language_id.strip().lower()
    if key in LANGUAGE_IDS:
        return LANGUAGE_IDS[key]
    name = key.replace("\\", "/").rsplit("/", 1)[-1]
    dot = name.rfind(".")
    if dot <= 0 and not name.startswith("."):
        return None
    return EXTENSIONS.get(name[dot:] if dot > 0 else name)


@lru_cache(maxsize=None)
def grammar(language: str) -> Any | None:
    """The tree-sitter `Language` object, or None when the grammar is not installed."""
    if language not in LANGUAGES:
        return None
    try:
        from tree_sitter_language_pack import get_language
    except ImportError:
        return None
    try:
        return get_language(language)  # type: ignore[arg-type]
    except (LookupError, ValueError, OSError):
        return None


_local = threading.local()


def _parser(language: str) -> Any | None:
    """A parser for `language`, one per thread (tree-sitter parsers are not thread-safe)."""
    parsers: dict[str, Any] = getattr(_local, "parsers", None) or {}
    _local.parsers = parsers
    if language not in parsers:
        lang = grammar(language)
        if lang is None:
            return None
        from tree_sitter import Parser

        parsers[language] = Parser(lang)
    return parsers[language]


def parse(text: str, language: str | None) -> Any | None:
    """Parse `text` as `language`; None when the language is unknown or has no grammar."""
    if not language:
        return None
    parser = _parser(language)
    if parser is None:
        return None
    return parser.parse(text.encode("utf-8"))


def parse_bytes(data: bytes, language: str | None) -> Any | None:
    """Parse already-encoded UTF-8 text (callers that parse many windows keep the bytes)."""
    parser = _parser(language) if language else None
    return None if parser is None else parser.parse(data)


def query_source(language: str) -> str:
    """The text of `fim/queries/<language>.scm`, with `; inherits: a, b` files prepended."""
    text = resources.files("fim.queries").joinpath(f"{language}.scm").read_text(encoding="utf-8")
    parents: list[str] = []
    for line in text.splitlines():
        if line.startswith("; inherits:"):
            parents += [p.strip() for p in line.split(":", 1)[1].split(",") if p.strip()]
    return "".join(query_source(p) + "\n" for p in parents) + text


@lru_cache(maxsize=None)
def query(language: str | None) -> Any | None:
    """The compiled query of `language`'s `.scm` file, or None for an unknown language."""
    if not language:
        return None
    lang = grammar(language)
    if lang is None:
        return None
    from tree_sitter import Query

    return Query(lang, query_source(language))


def captures(
    language: str | None, node: Any, start_byte: int | None = None, end_byte: int | None = None
) -> dict[str, list[Any]]:
    """Nodes captured by `language`'s query under `node`, by capture name.

    With a byte range only matches intersecting it are returned, which keeps
    per-keystroke work proportional to the window, not the file.
    """
    q = query(language)
    if q is None or node is None:
        return {}
    from tree_sitter import QueryCursor

    cursor = QueryCursor(q)
    if start_byte is not None:
        cursor.set_byte_range(start_byte, end_byte if end_byte is not None else node.end_byte)
    return cursor.captures(node)


def has_error(node: Any) -> bool:
    """True when the subtree holds ERROR or MISSING nodes."""
    return bool(node is not None and (node.has_error or node.is_missing))


def error_nodes(node: Any, limit: int = 64) -> list[Any]:
    """The outermost ERROR and MISSING nodes under `node` (at most `limit`), in document order."""
    found: list[Any] = []
    stack = [node]
    while stack and len(found) < limit:
        current = stack.pop()
        if current.is_error or current.is_missing:
            found.append(current)
        elif current.has_error:
            stack.extend(reversed(current.children))
    return found


class Source:
    """A string and its UTF-8 bytes, converting offsets between the two.

    tree-sitter reports byte offsets; users of this package slice `str`s.
    ASCII text (most code) converts for free.
    """

    __slots__ = ("text", "data", "_bytes_at")

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode("utf-8")
        self._bytes_at: list[int] | None = None

    @property
    def ascii(self) -> bool:
        return len(self.data) == len(self.text)

    def _table(self) -> list[int]:
        if self._bytes_at is None:
            table = [0] * (len(self.text) + 1)
            at = 0
            for i, ch in enumerate(self.text):
                table[i] = at
                code = ord(ch)
                at += 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
            table[len(self.text)] = at
            self._bytes_at = table
        return self._bytes_at

    def byte(self, char_offset: int) -> int:
        """Byte offset of character offset `char_offset`."""
        return char_offset if self.ascii else self._table()[char_offset]

    def char(self, byte_offset: int) -> int:
        """Character offset of byte offset `byte_offset` (rounded down inside a character)."""
        if self.ascii:
            return byte_offset
        return bisect_right(self._table(), byte_offset) - 1

    def span(self, node: Any) -> tuple[int, int]:
        """Character range `(start, end)` of a node parsed from this source."""
        return self.char(node.start_byte), self.char(node.end_byte)

    def parse(self, language: str | None) -> Any | None:
        return parse_bytes(self.data, language)
