"""The stretch of a file around the cursor that post-processing parses.

Re-parsing a 2,000-line file after every generated line costs more than the
whole post-processing budget (tree-sitter needs ~10 ms for that much
Python). A completion only changes the construct the cursor is in, so we
parse that construct: from the last top-level line (column 0) before the
cursor to the first one after it, capped at `MAX_LINES` lines each way.

Whether a completion "keeps the file parseable" is judged against the
window without it: errors the window already had (the user is mid-edit
elsewhere, or the hole itself breaks the code) do not count against the
completion; only errors it adds do (SAFIM's criterion, made robust to files
that never parsed).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from fim import syntax

#: Most lines kept on each side of the cursor.
MAX_LINES = 300

#: Characters that, first on a column-0 line, close a construct rather than start one.
CLOSERS = ")]}"


def python_error(source: str) -> SyntaxError | None:
    """Python's own syntax error in `source` (an `IndentationError` is one), or None when it parses.

    tree-sitter-python accepts a line indented deeper than its block (`     return` in a
    4-space body) without an error node; Python refuses the file ("unexpected indent").
    """
    try:
        ast.parse(source)
    except SyntaxError as exc:
        return exc
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, nesting too deep
        return SyntaxError(str(exc))
    return None


def _starts_construct(line: str) -> bool:
    """A column-0 line that begins a new top-level construct."""
    return bool(line) and not line[0].isspace() and line[0] not in CLOSERS


def head_start(prefix: str, max_lines: int = MAX_LINES) -> int:
    """Offset in `prefix` where the window begins (a line start)."""
    end = len(prefix)
    line_start = prefix.rfind("\n", 0, end) + 1
    for _ in range(max_lines):
        if line_start == 0:
            return 0
        if _starts_construct(prefix[line_start:end]):
            return line_start
        end = line_start - 1
        line_start = prefix.rfind("\n", 0, end) + 1
    return line_start


def tail_end(suffix: str, max_lines: int = MAX_LINES) -> int:
    """Offset in `suffix` where the window ends (after the construct the cursor is in)."""
    at = suffix.find("\n")
    if at == -1:
        return len(suffix)
    at += 1
    for _ in range(max_lines):
        nxt = suffix.find("\n", at)
        line = suffix[at : nxt if nxt != -1 else len(suffix)]
        if _starts_construct(line):
            return at
        if nxt == -1:
            return len(suffix)
        at = nxt + 1
    return at


@dataclass
class Window:
    """The parsed neighbourhood of the cursor, with and without candidate middles."""

    language: str
    head: str
    tail: str
    head_bytes: bytes = field(init=False)
    tail_bytes: bytes = field(init=False)
    baseline: Any = field(init=False)
    base_errors: frozenset[tuple[str, int]] = field(init=False)
    #: Python only: the window parses without the middle, so an indentation error with it is the middle's.
    base_parses: bool = field(init=False)
    _trees: dict[str, Any] = field(init=False, default_factory=dict)
    _indents: dict[str, int | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.head_bytes = self.head.encode("utf-8")
        self.tail_bytes = self.tail.encode("utf-8")
        self.baseline = syntax.parse_bytes(self.head_bytes + self.tail_bytes, self.language)
        self.base_errors = frozenset(self._signature(self.baseline, 0))
        self.base_parses = self.language == "python" and python_error(self.head + self.tail) is None

    @classmethod
    def around(cls, prefix: str, suffix: str, language: str | None) -> Window | None:
        """The window at the cursor, or None when `language` has no grammar."""
        if not language or syntax.grammar(language) is None:
            return None
        return cls(language, prefix[head_start(prefix) :], suffix[: tail_end(suffix)])

    @property
    def cursor(self) -> int:
        """Byte offset of the cursor in the window."""
        return len(self.head_bytes)

    def tree(self, middle: str) -> Any:
        """The window parsed with `middle` at the cursor (cached: the same line is asked about often)."""
        tree = self._trees.get(middle)
        if tree is None:
            if len(self._trees) > 64:
                self._trees.clear()
            tree = syntax.parse_bytes(self.head_bytes + middle.encode("utf-8") + self.tail_bytes, self.language)
            self._trees[middle] = tree
        return tree

    def _signature(self, tree: Any, middle_bytes: int) -> list[tuple[str, int]]:
        """Error positions relative to the side of the cursor they are on: 'p'refix, 'm'iddle or 's'uffix.

        A MISSING token right at the end of the middle belongs to the middle:
        it is the middle that is unfinished.
        """
        out = []
        mid_end = self.cursor + middle_bytes
        for node in syntax.error_nodes(tree.root_node):
            at = node.start_byte
            if at < self.cursor:
                out.append(("p", at))
            elif at > mid_end or (at == mid_end and not (middle_bytes and node.is_missing)):
                out.append(("s", at - mid_end))
            else:
                out.append(("m", at - self.cursor))
        return out

    def new_errors(self, middle: str) -> list[tuple[str, int]]:
        """Errors the window has with `middle` that it did not have without it."""
        tree = self.tree(middle)
        if syntax.has_error(tree.root_node):
            size = len(middle.encode("utf-8"))
            found = [e for e in self._signature(tree, size) if e not in self.base_errors or e[0] == "m"]
            if found:
                return found
        return self._indent_errors(middle)

    def _indent_errors(self, middle: str) -> list[tuple[str, int]]:
        """Python's indentation error on a line of `middle`, which tree-sitter does not see (cached per middle)."""
        if not self.base_parses or not middle.strip():
            return []
        if middle not in self._indents:
            if len(self._indents) > 64:
                self._indents.clear()
            error = python_error(self.head + middle + self.tail)
            self._indents[middle] = (error.lineno or 0) if isinstance(error, IndentationError) else None
        line = self._indents[middle]
        first = self.head.count("\n") + 1  # the cursor's line, 1-based
        if line is None or not first <= line <= first + middle.count("\n"):
            return []
        return [("m", 0)]

    def open_blocks(self, middle: str) -> list[Any]:
        """Blocks that start inside `middle` and have no statement yet (an opened body still to write)."""
        tree = self.tree(middle)
        start, end = self.cursor, self.cursor + len(middle.encode("utf-8"))
        # One byte past the end: the byte range is half-open, and a bodiless header (`else:`
        # at the end of the middle) has an empty block exactly there, with no error.
        found = syntax.captures(self.language, tree.root_node, start, end + 1)
        docs = {(n.start_byte, n.end_byte) for n in found.get("doc", [])}
        return [
            block
            for block in found.get("unit.block", [])
            if start <= block.start_byte <= end and not _has_statement(block, docs)
        ]

    def complete(self, middle: str) -> bool:
        """`middle` adds no syntax error and leaves no block it opened empty."""
        return not self.new_errors(middle) and not self.open_blocks(middle)


def _has_statement(block: Any, docs: set[tuple[int, int]]) -> bool:
    """True when `block` holds something besides comments, docstrings and punctuation."""
    for child in block.named_children:
        if child.is_missing or "comment" in child.type:
            continue
        if (child.start_byte, child.end_byte) in docs:
            continue
        return True
    return False
