"""What the user is completing at the cursor.

The answer decides where a completion may end:

- `inline`: code follows the cursor on its line (`foo(|)`): fill in the
  line, never past its end, without retyping what follows the cursor;
- `line`: the cursor ends a line of code (`x = |`): finish that statement,
  with its block when the line opens one;
- `statement`: the cursor is on an empty line in a block that already has
  code: statements at the cursor's level (compound ones with their bodies),
  until the code below the cursor is reached;
- `block`: the cursor is in a block with no statement yet (after `def f():`
  and its docstring, inside `{ }`): the whole body, to the dedent;
- `comment`, `string`: the cursor is inside one: the rest of its line.

The tree decides when the language has a grammar and the code around the
cursor parses; otherwise (unknown language, broken code right at the
cursor) indentation and the last character of the previous line decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fim import syntax
from fim.window import Window

Kind = Literal["inline", "line", "statement", "block", "comment", "string"]

#: Last characters of a line that open an indented body or bracketed list (indentation fallback).
OPENERS = ":{(["

#: Columns a tab advances to (Python's rule); only compared within one file.
TAB_SIZE = 8

#: Most lines a statement at the cursor is looked for over (a header written over several lines).
STATEMENT_LINES = 20

_QUOTES = "'\"`"


def indent_of(line: str) -> int:
    """Indentation width of `line` in columns."""
    body = line.lstrip(" \t")
    return len(line[: len(line) - len(body)].expandtabs(TAB_SIZE))


def is_blank(line: str) -> bool:
    return not line.strip()


def bracket_depth(text: str, opening: str = "([{", closing: str = ")]}") -> int:
    """Open brackets left at the end of `text` (quotes roughly skipped; negative when over-closed)."""
    depth = 0
    quote = ""
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
            elif ch == "\n" and quote != "`":
                quote = ""
        elif ch in _QUOTES:
            quote = ch
        elif ch in opening:
            depth += 1
        elif ch in closing:
            depth -= 1
    return depth


def statement_indent(prefix: str) -> int:
    """Indentation of the line where the statement ending at the cursor begins.

    A header written over several lines (`def f(a,` / `      b):`) opens its
    block at its first line's indentation, not at the continuation line's.
    """
    code = prefix.rstrip()
    code = code[:-1] if code.endswith("{") else code  # the block's own opener
    start = code.rfind("\n") + 1
    for _ in range(STATEMENT_LINES):
        if start == 0 or bracket_depth(code[start:]) >= 0:
            break
        start = code.rfind("\n", 0, start - 1) + 1
    return indent_of(code[start:])


@dataclass(frozen=True)
class Unit:
    kind: Kind
    #: Only blanks precede the cursor on its line: the completion writes whole lines.
    whole_line: bool
    #: Text after the cursor on its line, without the line break.
    rest_of_line: str
    #: Indentation of the line that opened the block being filled (`block`, and `line` when it opens one).
    opener_indent: int | None = None
    #: Indentation of the line where the statement at the cursor begins (the first line of a
    #: header written over several lines); the cursor line's for whole-line units.
    statement_indent: int = 0
    #: The first non-blank line below the cursor's line, and its indentation (None at end of file).
    next_line: str | None = None
    next_indent: int | None = None
    #: Nothing but blanks follows the cursor on its line, so a cut inside a line of the
    #: completion (after the `}` of `} else {`) leaves the code below on its own line.
    tail_on_own_line: bool = True
    #: The code was broken right at the cursor before the completion: the tree cannot judge
    #: whether a completion is finished, and indentation decides.
    broken_at_cursor: bool = False
    #: The window parsed around the cursor; None without a grammar.
    window: Window | None = None

    @property
    def language(self) -> str | None:
        return self.window.language if self.window is not None else None


def _previous_line(prefix: str) -> str | None:
    """The last non-blank line before the cursor's line."""
    end = prefix.rfind("\n")
    while end > 0:
        start = prefix.rfind("\n", 0, end) + 1
        line = prefix[start:end].rstrip("\r")
        if not is_blank(line):
            return line
        end = start - 1
    return None


def _next_line(below: str) -> str | None:
    """The first non-blank line of `below`."""
    for line in below.split("\n"):
        if not is_blank(line):
            return line.rstrip("\r")
    return None


def unit_at(prefix: str, suffix: str, language: str | None = None) -> Unit:
    """The unit a completion inserted between `prefix` and `suffix` should be."""
    before = prefix[prefix.rfind("\n") + 1 :]
    cut = suffix.find("\n")
    if before:
        rest = (suffix if cut == -1 else suffix[:cut]).rstrip("\r")
        below = "" if cut == -1 else suffix[cut + 1 :]
    else:
        # At column 0 the completion is whole lines inserted above the cursor's line.
        rest, below = "", suffix
    whole_line = is_blank(before)
    next_line = _next_line(below)
    window = Window.around(prefix, suffix, language)
    base = dict(
        whole_line=whole_line,
        rest_of_line=rest,
        next_line=next_line,
        next_indent=None if next_line is None else indent_of(next_line),
        tail_on_own_line=is_blank(suffix if cut == -1 else suffix[:cut]),
        statement_indent=indent_of(before) if whole_line else statement_indent(prefix),
        broken_at_cursor=window is not None and _errors_at_cursor(window),
    )
    if window is not None:
        literal = _literal_at(window)
        if literal is not None:
            return Unit(literal, window=window, **base)
    if not is_blank(rest):
        return Unit("inline", window=window, **base)
    if not whole_line:
        opens = before.rstrip()[-1:] in tuple(OPENERS)
        return Unit("line", opener_indent=base["statement_indent"] if opens else None, window=window, **base)
    opener = _empty_block_opener(window, prefix)
    if opener is None:
        return Unit("statement", window=window, **base)
    if opener < 0:  # the tree cannot tell: the previous line and the next one decide
        previous = _previous_line(prefix)
        if previous is None or previous.rstrip()[-1:] not in tuple(OPENERS):
            return Unit("statement", window=window, **base)
        opener = indent_of(previous)
        if next_line is not None and indent_of(next_line) > opener:
            return Unit("statement", window=window, **base)
    return Unit("block", opener_indent=opener, window=window, **base)


def _literal_at(window: Window) -> Kind | None:
    """`comment` or `string` when the cursor is inside one."""
    cursor = window.cursor
    root = window.baseline.root_node
    found = syntax.captures(window.language, root, max(cursor - 1, 0), cursor + 1)
    for node in found.get("inside.comment", []):
        if node.start_byte < cursor <= node.end_byte:
            data = window.head_bytes[node.start_byte :] + window.tail_bytes
            text = data[: node.end_byte - node.start_byte]
            # A block comment ends with its closing mark; the cursor after it is outside.
            if cursor < node.end_byte or not text.rstrip().endswith(b"*/"):
                return "comment"
    for node in found.get("inside.string", []):
        unterminated = node.child_count > 0 and node.children[-1].is_missing
        if node.start_byte < cursor < node.end_byte or (cursor == node.end_byte and unterminated):
            return "string"
    return None


def _cursor_lines(window: Window) -> tuple[int, int]:
    """Byte range of the window from the line before the cursor's to the end of the cursor's line."""
    line_start = window.head.rfind("\n") + 1
    prev_start = window.head.rfind("\n", 0, max(line_start - 1, 0)) + 1
    lo = len(window.head[:prev_start].encode("utf-8"))
    return lo, window.cursor + len(window.tail.split("\n", 2)[0].encode("utf-8")) + 1


def _errors_at_cursor(window: Window) -> bool:
    """The code without a completion has a syntax error on the cursor's line or the one before."""
    lo, hi = _cursor_lines(window)
    return any(
        error.start_byte <= hi and error.end_byte >= lo for error in syntax.error_nodes(window.baseline.root_node)
    )


def _empty_block_opener(window: Window | None, prefix: str) -> int | None:
    """Indentation of the statement owning an empty block at the cursor.

    None when the cursor is in a block that has code, -1 when the tree
    cannot tell (no grammar, or errors right at the cursor).
    """
    if window is None or _errors_at_cursor(window):
        return -1
    cursor = window.cursor
    root = window.baseline.root_node
    lo, hi = _cursor_lines(window)
    found = syntax.captures(window.language, root, max(lo - 1, 0), hi)
    docs = {(n.start_byte, n.end_byte) for n in found.get("doc", [])}
    # The innermost block that holds the cursor, or ends just before it (only blanks between).
    best = None
    for block in found.get("unit.block", []):
        if block.start_byte > cursor:
            continue
        if block.end_byte < cursor and window.head_bytes[block.end_byte : cursor].strip():
            continue
        if best is None or block.start_byte >= best.start_byte:
            best = block
    if best is None:
        return -1
    for child in best.named_children:
        if child.is_missing or "comment" in child.type or (child.start_byte, child.end_byte) in docs:
            continue
        return None
    owner = best.parent if best.parent is not None else best
    owner_line = window.head_bytes.rfind(b"\n", 0, owner.start_byte) + 1
    line_end = window.head_bytes.find(b"\n", owner_line)
    line = window.head_bytes[owner_line : line_end if line_end != -1 else None].decode("utf-8", "replace")
    return indent_of(line)
