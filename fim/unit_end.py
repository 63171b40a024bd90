"""The post-processing rule that ends a completion where its syntax unit ends.

Models without a strong FIM training (the bundled one never emits its end
token) write past the hole into code that already exists. `UnitEnd` knows
from `fim.units` what the user is completing and cuts the output at the
shortest point where that unit is complete:

- a line's rest or an expression: at the line break, without retyping the
  text that follows the cursor;
- the end of a line of code: that statement, at the first line end where
  the window around the cursor parses with no new error and no block left
  empty (SAFIM's criterion); a line that opens a block takes its body;
- statements on an empty line of a block that has code: the statements the
  model writes at that level, until it leaves the level (dedent), runs into
  the code below the cursor, or writes a header whose body is already below
  the cursor (the hole was that header);
- a block: to the first line indented less than the block's first line
  (a closing `}` at the opener's indentation belongs to it when the suffix
  does not close the block itself).

Without a grammar, or while the tree disagrees for too long, brackets and
indentation decide. As a `Rule`, it answers after every token, so the
engine stops generating as soon as the unit is complete. As a `Guard`, it
moves every cut (its own or another rule's, such as an echo of the suffix
right after `else:`) back to the longest one whose code is complete, so a
completion never ends on a block header whose body is missing, and it holds
back streamed text past that point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fim.units import OPENERS, Unit, bracket_depth, indent_of, is_blank
from fim.window import CLOSERS

#: Extra lines a statement may run past the point where brackets and
#: indentation say it ended, waiting for the tree to agree.
SLACK_LINES = 2

_WORD_END = re.compile(r"\w+\Z")


def _code_end(line: str) -> str:
    """The last character of a line's code, roughly ignoring a trailing comment."""
    stripped = line.rstrip()
    for mark in (" #", " //"):
        at = stripped.find(mark)
        if at != -1:
            stripped = stripped[:at].rstrip()
    return stripped[-1:]


def _closing_line(line: str) -> bool:
    """A line of closing brackets only (`}`, `});`, `]`), possibly followed by more of its statement."""
    stripped = line.strip()
    return bool(stripped) and stripped[0] in CLOSERS


@dataclass
class UnitEnd:
    """Cut the completion at the end of `unit`; see the module docstring."""

    unit: Unit
    #: Text before the cursor on its line.
    before: str = ""
    #: Whether a candidate completion is complete code, by its text (the same cuts are asked about after every token).
    _checked: dict[str, bool] = field(default_factory=dict, init=False, repr=False)
    #: Cuts `pending` let the client see; a later cut never ends before them.
    _shown: set[int] = field(default_factory=set, init=False, repr=False)

    # --- Rule interface ---------------------------------------------------

    def cut(self, text: str, final: bool = False) -> int | None:
        kind = self.unit.kind
        if kind == "inline" or (kind in ("comment", "string") and not is_blank(self.unit.rest_of_line)):
            return self._inline(text, final)
        if kind in ("comment", "string"):
            at = text.find("\n")
            return _before_break(text, at) if at != -1 else None
        return self._lines_unit(text, final)

    def pending(self, text: str) -> int:
        if self.unit.kind in ("inline", "comment", "string") and not is_blank(self.unit.rest_of_line):
            # Hold back from where the model may start retyping the rest of the line.
            rest = self.unit.rest_of_line.strip()
            at = text.find(rest[:1])
            safe = len(text.rstrip()) if at == -1 else len(text[:at].rstrip())
            return len(text) - safe
        if self.unit.kind in ("comment", "string"):
            return 0
        last = text.rfind("\n")
        done = text[: last + 1].rstrip(" \t\r\n")
        if not done and self.unit.whole_line:
            safe = 0  # whole lines show a line at a time, like the lines after them
        elif not done:
            # The rest of the cursor's line shows once it is complete code, but not a trailing
            # word still being written (`eli` is a name, `elif` a header).
            safe = len(text.rstrip()) if text[-1:].isspace() else len(_WORD_END.sub("", text))
            if bracket_depth(self.before + text[:safe]) > bracket_depth(self.before):
                safe = 0  # inside brackets: wait for them to close rather than parse after every token
        else:
            # The last, unfinished line may be a dedent that ends the unit, and
            # blank lines before it may be dropped with it.
            safe = text.find("\n", len(done)) + 1 if self.unit.whole_line else len(done)
        # So may a header whose body is not written yet, and anything unfinished since the last complete code.
        safe = self.safe_end(text, safe)
        self._shown.add(safe)  # shown text is never taken back: the final cut may end here
        return len(text) - safe

    # --- Guard interface: every cut, whichever rule made it, ends at complete code ---

    def safe_end(self, text: str, end: int) -> int:
        """The longest cut at or before `end` that adds no syntax error and leaves no block header without its body.

        Other rules cut too (an echo of the suffix right after `else:` leaves
        the header bodiless), so the filter passes every cut through here.
        Cuts are line ends and the end of the closing brackets that begin a
        line (the `}` of `} else {`). With no complete cut the answer is
        nothing, unless the code was already broken at the cursor: the tree
        cannot judge then, and brackets and indentation do.
        """
        if self.unit.kind in ("inline", "comment", "string") or self._complete(text[:end]):
            return end
        cuts = self._cuts(text, end)
        for cut in cuts:
            if self._complete(text[:cut]):
                return cut
        if self.unit.broken_at_cursor:
            return next((cut for cut in (end, *cuts) if self._complete_by_text(text[:cut])), 0)
        return 0

    def _cuts(self, text: str, end: int) -> list[int]:
        """Where a completion of whole statements may end before `end`, longest first."""
        cuts: list[int] = list(self._shown)
        start = 0
        while start < end:
            nl = text.find("\n", start, end)
            stop = end if nl == -1 else nl
            line = text[start:stop]
            if not is_blank(line):
                if self._mid_line and _closing_line(line):
                    cuts.append(_closers_end(text, start, line))
                if nl != -1:
                    cuts.append(nl + 1 if self.unit.whole_line else _before_break(text, nl))
            start = stop + 1
        return sorted((cut for cut in set(cuts) if 0 < cut < end), reverse=True)

    def _complete(self, middle: str) -> bool:
        """`middle` is finished code at the cursor: by the tree when there is one, else by brackets and indentation."""
        if not middle.strip():
            return True
        known = self._checked.get(middle)
        if known is None:
            window = self.unit.window
            # The text must agree with the tree. Where the tree is trusted only braces count: a
            # window that starts inside a namespace has the namespace's `}` to swallow a `{` the
            # middle leaves open, while a `(` may well be closed by the suffix (`f(a,` / `  b)`).
            trusted = window is not None and not self.unit.broken_at_cursor
            known = self._complete_by_text(middle, ("{", "}") if trusted else ("([{", ")]}"))
            known = known and (window is None or window.complete(middle))
            self._checked[middle] = known
        return known

    def _complete_by_text(self, middle: str, brackets: tuple[str, str] = ("([{", ")]}")) -> bool:
        """`brackets` closed and no header left bodiless, unless its body is the code below the cursor."""
        last = (self.before + middle).rstrip().rsplit("\n", 1)[-1]
        nxt = self.unit.next_indent
        body_below = nxt is not None and nxt > indent_of(last) and _code_end(last) in (":", "{")
        depth = bracket_depth(self.before + middle, *brackets) - bracket_depth(self.before, *brackets)
        return body_below or (depth <= 0 and _code_end(last) != ":")

    # --- inline: code follows the cursor on its line -------------------------

    def _inline(self, text: str, final: bool) -> int | None:
        at = text.find("\n")
        if at == -1 and not final:
            return None
        line = (text if at == -1 else text[:at]).rstrip("\r")
        rest = self.unit.rest_of_line.strip()
        window = self.unit.window
        # The model often retypes what follows the cursor: keep the shortest
        # head that the rest of the line completes.
        starts = [i for i in range(len(line) + 1) if line.startswith(rest[:1], i)] if rest else []
        for i in starts:
            head = line[:i]
            if not head.strip():
                continue
            if window is not None and not window.new_errors(head):
                return len(head.rstrip()) if line[i:].strip() else len(head)
            if (
                window is None
                and line[i:].strip() == rest
                and bracket_depth(self.before + head) == bracket_depth(self.before)
            ):
                return len(head.rstrip())
        if line.rstrip().endswith(rest) and line.strip() != rest:
            return len(line.rstrip()) - len(rest)
        return len(line)

    # --- whole lines: line, statement, block ---------------------------------

    def _lines_unit(self, text: str, final: bool) -> int | None:
        unit = self.unit
        lines = text.split("\n")
        complete = len(lines) - 1 + (1 if final else 0)
        ends: list[int] = []
        at = 0
        for line in lines:
            at += len(line) + 1
            ends.append(min(at, len(text)))
        if unit.kind == "block":
            return self._block(lines, ends, complete, unit.opener_indent or 0, final)
        if unit.kind == "statement":
            # Statements at the level of the first one, until the model leaves that level.
            return self._block(lines, ends, complete, -1, final)
        if unit.kind == "line" and _code_end(self.before + lines[0]) in (":", "{") and complete > 0:
            # The cursor's line opens a block: its body follows, to the dedent.
            return self._block(lines, ends, complete, unit.statement_indent, final, start=1)
        return self._statement(text, lines, ends, complete, final)

    def _finish(self, text: str, end: int) -> int:
        """Offset of the cut at line end `end`: blank lines dropped, the break kept only for whole lines."""
        body = text[:end]
        trimmed = body.rstrip(" \t\r\n")
        if not trimmed:
            return 0
        if self.unit.whole_line:
            nl = body.find("\n", len(trimmed))
            return nl + 1 if nl != -1 else len(trimmed)
        return len(trimmed)

    def _statement(self, text: str, lines: list[str], ends: list[int], complete: int, final: bool) -> int | None:
        window = self.unit.window
        first = next((k for k in range(complete) if not is_blank(lines[k])), None)
        if first is None:
            return None
        base = indent_of(self.before + lines[first]) if first == 0 else indent_of(lines[first])
        text_end: int | None = None  # where brackets and indentation say the statement ended
        for k in range(first, complete):
            middle = text[: ends[k]] if self.unit.whole_line else _before_break_text(text[: ends[k]])
            if window is not None and not is_blank(lines[k]) and window.complete(middle):
                return self._finish(text, ends[k])
            if text_end is None:
                text_end = self._text_end(lines, ends, first, k, base, complete)
            if text_end is not None and (window is None or k - text_end >= SLACK_LINES):
                return self._finish(text, ends[text_end])
        if final:
            if text_end is not None:
                return self._finish(text, ends[text_end])
            return self._finish(text, len(text))
        return None

    def _text_end(self, lines: list[str], ends: list[int], first: int, k: int, base: int, complete: int) -> int | None:
        """Index of the line that ends the statement by brackets and indentation, once known."""
        head = self.before + "\n".join(lines[first : k + 1])
        if bracket_depth(head) > bracket_depth(self.before):
            return None
        opens = _code_end(lines[first] if first else self.before + lines[0]) in tuple(OPENERS)
        if k == first and not opens:
            return k
        if k == first:
            nxt = self.unit.next_indent
            # The body is already below the cursor: the statement is its first line.
            if nxt is not None and nxt > base and self.unit.next_line is not None:
                return k
            return None
        line = lines[k]
        if is_blank(line) or indent_of(line) > base:
            return None
        if _closing_line(line) and indent_of(line) == base:
            return k
        return k - 1

    def _block(
        self, lines: list[str], ends: list[int], complete: int, opener: int, final: bool, start: int = 0
    ) -> int | None:
        """End of a run of lines indented deeper than `opener`, written from line `start` on.

        It ends before the first line indented less than its first line (a
        line of closing brackets at `opener`'s indentation is kept when the
        suffix does not close the block itself), and right after a line that
        opens a block whose body is already below the cursor.
        """
        text = "\n".join(lines)
        body_indent: int | None = None
        last = None  # last line of the run so far
        # An unfinished last line counts once its indentation is known (a non-blank character).
        upto = complete + (1 if complete < len(lines) and lines[complete].strip() else 0)
        for k in range(start, upto):
            line = lines[k]
            if is_blank(line):
                continue
            width = indent_of(self.before + line) if k == 0 else indent_of(line)
            if body_indent is None:
                if k >= complete:
                    break
                body_indent = max(width, opener + 1)
            if width < body_indent:
                if _closing_line(line) and width == opener and not self._suffix_closes(line, opener):
                    if k >= complete:
                        return None  # `}` may still grow into `} else {`: wait for the whole line
                    if _only_closers(line):
                        return self._finish(text, ends[k])
                    if self._mid_line and not self._suffix_closes_block(opener):
                        return _closers_end(text, ends[k - 1] if k else 0, line)  # `} else {`: its `}` ends the block
                if last is None:  # nothing indented yet: the unit is the cursor's line alone
                    return 0 if start == 0 else self._finish(text, ends[0])
                return self._finish(text, ends[last])
            if k >= complete:
                break
            last = k
            if self._body_below(text, lines, ends, k, width):
                return self._finish(text, ends[k])
        if final and last is not None:
            return self._finish(text, self._last_complete(text, lines, ends, start, upto))
        return None

    def _body_below(self, text: str, lines: list[str], ends: list[int], k: int, width: int) -> bool:
        """Line `k` opens a block whose body is the code below the cursor (the hole was its header)."""
        line = self.before + lines[k] if k == 0 else lines[k]
        nxt = self.unit.next_indent
        if _code_end(line) not in (":", "{") or nxt is None or nxt <= width:
            return False
        if bracket_depth(self.before + text[: ends[k]]) > bracket_depth(self.before):
            return False
        window = self.unit.window
        return window is None or window.complete(text[: ends[k]] if self.unit.whole_line else text[: ends[k] - 1])

    def _last_complete(self, text: str, lines: list[str], ends: list[int], start: int, upto: int) -> int:
        """The longest cut, at a line end, whose code is complete (for output that hit the token limit)."""
        window = self.unit.window
        for k in range(min(upto, len(lines)) - 1, start - 1, -1):
            if is_blank(lines[k]):
                continue
            middle = text[: ends[k]]
            if bracket_depth(self.before + middle) > bracket_depth(self.before):
                continue
            if window is None or window.complete(middle if self.unit.whole_line else middle.rstrip("\n")):
                return ends[k]
        return ends[min(upto, len(lines)) - 1]

    @property
    def _mid_line(self) -> bool:
        """A cut inside a line of the completion leaves the code after the cursor on a line of its own."""
        return not self.unit.whole_line or self.unit.tail_on_own_line

    def _suffix_closes_block(self, opener: int) -> bool:
        """The line below the cursor closes the block opened at `opener`'s indentation."""
        nxt = self.unit.next_line
        return nxt is not None and self.unit.next_indent == opener and _closing_line(nxt)

    def _suffix_closes(self, line: str, opener: int) -> bool:
        """The line below the cursor already is this closing line."""
        nxt = self.unit.next_line
        return nxt is not None and self.unit.next_indent == opener and nxt.strip() == line.strip()


def _only_closers(line: str) -> bool:
    """`}`, `});`, `]`: a line that only closes brackets."""
    return bool(line.strip()) and all(ch in CLOSERS + ";, \t\r" for ch in line)


def _closers_end(text: str, start: int, line: str) -> int:
    """Offset just after the closing brackets that begin `line` (which starts at `start`): the `}` of `} else {`."""
    body = line.lstrip(" \t")
    return start + len(line) - len(body) + len(body) - len(body.lstrip(CLOSERS + ";,"))


def _before_break(text: str, at: int) -> int:
    """Offset of the line break at `at`, before its `\\r` if it has one."""
    return at - 1 if at > 0 and text[at - 1] == "\r" else at


def _before_break_text(text: str) -> str:
    return text[:-1] if text.endswith("\n") else text
