"""Open documents: their text, kept in step with incremental edits, and a syntax tree each.

Clients send edits as ranges in "characters" of the negotiated position
encoding: UTF-16 code units unless the client offered UTF-8 or UTF-32 and
the server picked it (pygls chooses the client's first supported one; Neovim
offers UTF-8 first, VS Code offers nothing and so gets UTF-16). Python
strings count code points, so every position is converted here, and nowhere
else: an emoji is one code point, two UTF-16 units and four UTF-8 bytes.

Text is kept well-formed: a JSON client may send half a UTF-16 surrogate
pair (`"\\ud800"`), which no file holds and which the tokenizer, tree-sitter
and every HTTP backend reject; it becomes U+FFFD, which takes the same one
unit in each encoding (three UTF-8 bytes, like a surrogate is counted), so
the client's positions stay right.

The tree-sitter tree is parsed lazily, once per document version that
somebody asks about, not on every keystroke: typing sends many edits and
only the completion request after them needs the tree.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Iterable, Iterator

from lsprotocol import types

from fim.syntax import Source, language_for
from lsp.errors import LspError

ENCODINGS = ("utf-8", "utf-16", "utf-32")
_EOL = re.compile(r"\r\n|\r|\n")
_SURROGATE = re.compile("[\ud800-\udfff]")
_clock = itertools.count(1)


def units(ch: str, encoding: str) -> int:
    """How many units of `encoding` the code point `ch` takes."""
    code = ord(ch)
    if encoding == "utf-16":
        return 2 if code > 0xFFFF else 1
    if encoding == "utf-8":
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return 1


def column_to_index(line: str, column: int, encoding: str) -> int:
    """Index into `line` of an LSP `character` column; past the end means the end.

    A column inside a character (half a surrogate pair, a byte inside a UTF-8
    sequence) rounds down to that character's start.
    """
    if column <= 0:
        return 0
    if encoding == "utf-32" or line.isascii():
        return min(column, len(line))
    seen = 0
    for i, ch in enumerate(line):
        seen += units(ch, encoding)
        if seen > column:
            return i
        if seen == column:
            return i + 1
    return len(line)


def index_to_column(line: str, index: int, encoding: str) -> int:
    """The LSP `character` column of index `index` into `line`."""
    head = line[:index]
    if encoding == "utf-32" or head.isascii():
        return len(head)
    return sum(units(ch, encoding) for ch in head)


def well_formed(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD (JSON decoding already joined the valid pairs)."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def uri_to_path(uri: str) -> str:
    """The file system path of a `file:` URI; other schemes keep their path part."""
    from pygls.uris import to_fs_path

    return to_fs_path(uri) or uri


@dataclass
class Document:
    uri: str
    text: str
    #: The client's `languageId` (`python`, `typescriptreact`, ...).
    language_id: str
    version: int = 0
    #: Grammar name from `fim.syntax`, or None when we have no grammar (then no tree either).
    language: str | None = None
    path: str = ""
    #: Larger for documents edited (or opened) more recently.
    touched: int = 0
    _starts: list[int] | None = field(default=None, repr=False)
    _source: Source | None = field(default=None, repr=False)
    _tree: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # lsprotocol types languageId as LanguageKind | str, and cattrs lets a number or boolean through it.
        for name in ("uri", "text", "language_id"):
            if not isinstance(getattr(self, name), str):
                raise LspError(
                    f"textDocument.{name.replace('_id', 'Id')} must be a string, not {getattr(self, name)!r}"
                )
        self.text = well_formed(self.text)
        self.path = well_formed(self.path or uri_to_path(self.uri))
        self.language_id = well_formed(self.language_id)
        if self.language is None:
            self.language = language_for(self.language_id) or language_for(self.path)
        self.touched = next(_clock)

    # --- lines and positions -------------------------------------------------

    @property
    def line_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0] + [m.end() for m in _EOL.finditer(self.text)]
        return self._starts

    def line(self, number: int) -> str:
        """Line `number` without its line ending ("" past the end)."""
        starts = self.line_starts
        if number >= len(starts):
            return ""
        end = starts[number + 1] if number + 1 < len(starts) else len(self.text)
        return self.text[starts[number] : end].rstrip("\r\n")

    def offset_at(self, position: types.Position, encoding: str) -> int:
        """Index into `text` of an LSP position; positions past the end clamp to it."""
        starts = self.line_starts
        if position.line >= len(starts):
            return len(self.text)
        return starts[position.line] + column_to_index(self.line(position.line), position.character, encoding)

    def position_at(self, offset: int, encoding: str) -> types.Position:
        """The LSP position of index `offset` into `text`."""
        from bisect import bisect_right

        offset = max(0, min(offset, len(self.text)))
        number = bisect_right(self.line_starts, offset) - 1
        start = self.line_starts[number]
        line = self.line(number)
        return types.Position(number, index_to_column(line, min(offset - start, len(line)), encoding))

    def split(self, position: types.Position, encoding: str) -> tuple[str, str]:
        """(prefix, suffix): the text before and after the cursor."""
        at = self.offset_at(position, encoding)
        return self.text[:at], self.text[at:]

    # --- edits -----------------------------------------------------------------

    def apply(self, change: Any, encoding: str) -> None:
        """Apply one `TextDocumentContentChangeEvent` (a ranged edit or the whole text)."""
        edit_range = getattr(change, "range", None)
        if edit_range is None:
            self.text = well_formed(change.text)
        else:
            start = self.offset_at(edit_range.start, encoding)
            end = max(start, self.offset_at(edit_range.end, encoding))
            self.text = self.text[:start] + well_formed(change.text) + self.text[end:]
        self._starts = self._source = self._tree = None
        self.touched = next(_clock)

    # --- syntax ------------------------------------------------------------------

    @property
    def source(self) -> Source:
        """The text with its UTF-8 bytes, for converting tree-sitter byte offsets."""
        if self._source is None:
            self._source = Source(self.text)
        return self._source

    @property
    def tree(self) -> Any | None:
        """The tree-sitter tree of the current text (None without a grammar), parsed on first use."""
        if self._tree is None and self.language:
            self._tree = self.source.parse(self.language)
        return self._tree


class DocumentStore:
    """The documents a client has open, by URI."""

    def __init__(self, encoding: str = "utf-16", root: str | None = None) -> None:
        if encoding not in ENCODINGS:
            raise LspError(f"position encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
        self.encoding = encoding
        #: Workspace root directory, for showing the model paths relative to the project.
        self.root = root
        self._docs: dict[str, Document] = {}

    def open(self, uri: str, text: str, language_id: str, version: int = 0) -> Document:
        doc = Document(uri=uri, text=text, language_id=language_id, version=version)
        self._docs[uri] = doc
        return doc

    def change(self, uri: str, version: int, changes: Iterable[Any]) -> Document:
        doc = self.get(uri)
        for change in changes:
            doc.apply(change, self.encoding)
        doc.version = version
        return doc

    def close(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def get(self, uri: str) -> Document:
        try:
            return self._docs[uri]
        except KeyError:
            raise LspError(f"{uri} is not open: the client must send textDocument/didOpen first") from None

    def __contains__(self, uri: str) -> bool:
        return uri in self._docs

    def __iter__(self) -> Iterator[Document]:
        return iter(list(self._docs.values()))

    def display_path(self, doc: Document) -> str:
        """The path the model sees: relative to the workspace root when inside it, else the file name."""
        path = PurePosixPath(doc.path.replace("\\", "/"))
        if self.root:
            root = PurePosixPath(self.root.replace("\\", "/"))
            if path.is_relative_to(root):
                return str(path.relative_to(root))
        return path.name or doc.uri
