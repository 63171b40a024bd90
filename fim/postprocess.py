"""Decide where a completion ends, while it is being generated and after.

A completion is judged by a list of rules. Each rule looks at the text
generated so far and may say "the completion ends here" (a cut offset) or
"the last n characters may still be cut, do not show them yet" (pending).
The engine asks after every token, so generation stops as soon as any rule
cuts, and streaming clients never see text that is later taken back. The
same rules run once more on the final text, so streamed and non-streamed
answers agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable, Protocol, Sequence

from fim.unit_end import UnitEnd
from fim.units import unit_at

log = logging.getLogger(__name__)


class Rule(Protocol):
    def cut(self, text: str, final: bool = False) -> int | None:
        """Offset at which the completion must end, if this rule knows yet.

        `final` is set once generation is over: an unfinished last line is
        then as complete as it will get.
        """

    def pending(self, text: str) -> int:
        """How many trailing characters a later token could still cut away."""


@dataclass(frozen=True)
class StopStrings:
    """End before the first stop string: FIM sentinels, eos text, user `stop` words."""

    words: tuple[str, ...]

    def first(self, text: str) -> tuple[int, str] | None:
        best: tuple[int, str] | None = None
        for word in self.words:
            at = text.find(word)
            if at != -1 and (best is None or at < best[0]):
                best = (at, word)
        return best

    def cut(self, text: str, final: bool = False) -> int | None:
        found = self.first(text)
        return None if found is None else found[0]

    def pending(self, text: str) -> int:
        longest = 0
        for word in self.words:
            for n in range(min(len(word) - 1, len(text)), longest, -1):
                if text.endswith(word[:n]):
                    longest = n
                    break
        return longest


#: A suffix line this long (stripped) is distinctive enough to recognise when echoed out of order.
DISTINCT_CHARS = 12


def _squeeze(line: str) -> str:
    """A line without any white space, so `f(a, b)` and `f(a,b)` compare equal."""
    return "".join(line.split())


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _meaningful(line: str) -> bool:
    """A line distinctive enough that repeating it means running into the suffix."""
    stripped = line.strip()
    return len(stripped) >= 4 and any(ch.isalnum() for ch in stripped)


def _sure_before(head: str) -> bool:
    """Text before a line is enough to make an echo of the suffix there a sure one.

    With nothing before it, cutting at the echo answers nothing; right after a
    header the "echo" may be the header's body.
    """
    code = head.rstrip()
    return bool(code) and code[-1] not in ":{"


@dataclass
class SuffixRepeat:
    """End before a line that repeats the code just below the cursor.

    Models that cannot stop by themselves run on into the suffix; the first
    non-blank suffix line reappearing as a whole line is the surest sign. Short
    lines such as `}` or `)` count only when the next line matches too. Models
    also skip a line and echo the next ones: a distinctive line (at least
    `DISTINCT_CHARS` characters) among the following `lookahead` suffix lines
    counts as well.

    A cut that would leave nothing, or a header without its body, needs more:
    the echo at the suffix line's indentation, and an out-of-order echo
    followed by the suffix line after it. A missing `elif` branch often
    repeats a statement of a later branch (`self.pos += 1`), and an inner
    `else:` looks like the outer one below.
    """

    suffix: str
    #: True when only whitespace precedes the cursor on its line, so the
    #: completion's first line is a whole line too.
    at_line_start: bool = False
    #: Text before the cursor on its line: its indentation is the first line's.
    before: str = ""
    #: How many non-blank suffix lines to compare against.
    window: int = 2
    #: Further suffix lines that end the completion when echoed, if distinctive.
    lookahead: int = 4

    @cached_property
    def targets(self) -> list[str]:
        lines = [_squeeze(ln) for ln in self.suffix.splitlines() if ln.strip()]
        return lines[: self.window]

    @cached_property
    def distinct(self) -> frozenset[str]:
        # Indentation counts here: a later line at another depth is another statement
        # (`return x` closing an inner block is not the function's final `return x`).
        lines = [ln.rstrip() for ln in self.suffix.splitlines() if ln.strip()]
        return frozenset(_indent(ln) + _squeeze(ln) for ln in lines[1 : 1 + self.lookahead]
                         if len(ln.strip()) >= DISTINCT_CHARS and _meaningful(ln))  # fmt: skip

    @cached_property
    def keyed(self) -> list[str]:
        """The non-blank suffix lines as indentation plus squeezed text (the first with the cursor line's start)."""
        lines = [ln.rstrip() for ln in self.suffix.splitlines() if ln.strip()]
        return [_indent((self.before if not k and not self.suffix[:1].isspace() else "") + ln) + _squeeze(ln)
                for k, ln in enumerate(lines)]  # fmt: skip

    def _key(self, lines: list[str], i: int) -> str:
        """Line `i` of the completion as indentation plus squeezed text."""
        line = self.before + lines[i] if i == 0 else lines[i]
        return _indent(line) + _squeeze(line)

    def _echo_follows(self, lines: list[str], i: int) -> bool:
        """Line `i` echoes a later suffix line and the next line echoes the suffix line after that one."""
        key = self._key(lines, i)
        if i + 1 >= len(lines) or not lines[i + 1].endswith("\n") or key not in self.keyed[1:]:
            return False
        at = self.keyed.index(key, 1)
        return at + 1 < len(self.keyed) and self._key(lines, i + 1) == self.keyed[at + 1]

    def cut(self, text: str, final: bool = False) -> int | None:
        targets = self.targets
        if not targets:
            return None
        lines = text.splitlines(keepends=True)
        # The first line continues the cursor's line: a whole line only at a line start.
        first = 0 if self.at_line_start else 1
        offset = sum(len(line) for line in lines[:first])
        for i in range(first, len(lines)):
            line = lines[i]
            sure = _sure_before(text[:offset])
            if (line.endswith("\n") or final) and _squeeze(line) == targets[0]:
                if sure or self._key(lines, i) == self.keyed[0]:
                    if _meaningful(line):
                        return offset
                    if len(targets) > 1 and i + 1 < len(lines) and _squeeze(lines[i + 1]) == targets[1]:
                        return offset
            if (line.endswith("\n") or final) and self._key(lines, i) in self.distinct:
                if sure or self._echo_follows(lines, i):
                    return offset
            offset += len(line)
        return None

    def pending(self, text: str) -> int:
        targets = self.targets
        if not targets:
            return 0
        whole_line = "\n" in text or self.at_line_start
        last = text.rsplit("\n", 1)[-1]
        partial = _squeeze(last)
        echo = whole_line and (targets[0].startswith(partial)
                               or any(d.startswith(_indent(last) + partial) for d in self.distinct))  # fmt: skip
        held = len(last) if echo else 0
        # A line that may echo a later suffix line, with nothing sure before it, waits for the line after it.
        lines = text.split("\n")
        i = len(lines) - 2  # the last finished line
        if i >= (0 if self.at_line_start else 1) and self._key(lines, i) in self.distinct:
            start = len(text) - len(lines[-1]) - 1 - len(lines[i])
            if not _sure_before(text[:start]):
                held = max(held, len(text) - start)
        # A short first target waits for the line after it.
        lines = text.split("\n")
        if len(lines) >= 2 and lines[-2].strip() == targets[0] and not _meaningful(lines[-2]):
            if len(lines) >= 3 or self.at_line_start:
                held = max(held, len(lines[-2]) + 1 + len(lines[-1]))
        return held


@dataclass(frozen=True)
class MinIndent:
    """End before a line indented less than `n_indent` columns (llama.cpp's `n_indent`)."""

    n_indent: int

    def cut(self, text: str, final: bool = False) -> int | None:
        if self.n_indent <= 0 or "\n" not in text:
            return None
        offset = text.index("\n") + 1
        for line in text[offset:].splitlines(keepends=True):
            if line.endswith("\n") or final or len(line) > self.n_indent:
                body = line.rstrip("\r\n")
                if body.strip():
                    indent = len(body) - len(body.lstrip(" \t"))
                    if indent < self.n_indent:
                        return offset - 1
            offset += len(line)
        return None

    def pending(self, text: str) -> int:
        if self.n_indent <= 0 or "\n" not in text:
            return 0
        last = text.rsplit("\n", 1)[-1]
        return len(last) + 1 if len(last) <= self.n_indent else 0


@dataclass(frozen=True)
class RepeatedLines:
    """End before a line, or a run of up to `longest` lines, that repeats the one just before it.

    A model stuck in a loop writes the same statement again and again; the
    first copy is the completion. Only lines distinctive enough to matter count.
    """

    longest: int = 4
    #: Text before the cursor on its line: the first line of the completion continues it.
    before: str = ""

    def cut(self, text: str, final: bool = False) -> int | None:
        lines = text.split("\n")
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line) + 1)
        lines[0] = self.before + lines[0]
        done = len(lines) - (0 if final else 1)
        for k in range(1, done):
            for n in range(1, self.longest + 1):
                if k + 1 < 2 * n:
                    break
                run, before = lines[k + 1 - n : k + 1], lines[k + 1 - 2 * n : k + 1 - n]
                if [ln.rstrip() for ln in run] == [ln.rstrip() for ln in before] and any(map(_meaningful, run)):
                    return starts[k + 1 - n] if k + 1 - n > 0 else 0
        return None

    def pending(self, text: str) -> int:
        """Hold back trailing lines that begin to repeat the lines before them."""
        lines = text.split("\n")
        lines[0] = self.before + lines[0]
        done = len(lines) - 1
        held_from: int | None = None
        for n in range(1, self.longest + 1):
            m = 0
            while m < n and done - 1 - m - n >= 0 and lines[done - 1 - m].rstrip() == lines[done - 1 - m - n].rstrip():
                m += 1
            if m and any(map(_meaningful, lines[done - m : done])):
                held_from = done - m if held_from is None else min(held_from, done - m)
        if held_from is None:
            return 0
        start = sum(len(line) + 1 for line in lines[:held_from]) - (len(self.before) if held_from else 0)
        return len(text) - start


@dataclass(frozen=True)
class Verdict:
    #: Leading characters that are final and may be shown.
    stable: int
    #: Set when the completion is over: the final text is `text[:cut]`.
    cut: int | None = None
    #: The stop string that ended it, when one did.
    word: str | None = None


class Guard(Protocol):
    def safe_end(self, text: str, end: int) -> int:
        """The longest cut at or before `end` that leaves the file no worse (for example no bodiless `else:`)."""


@dataclass
class CompletionFilter:
    """Runs the rules for one completion; ask after every token with the whole text so far.

    Whichever rule cuts, the guards may move the cut back to where the code
    is complete, so a cut by one rule never leaves what another knows is broken.
    """

    rules: Sequence[Rule] = field(default_factory=list)
    guards: Sequence[Guard] = field(default_factory=list)
    #: The request's id, for the log line that says which rule emptied a completion.
    request_id: str = ""
    _emptied: bool = field(default=False, init=False, repr=False)

    def check(self, text: str, final: bool = False) -> Verdict:
        cut: int | None = None
        word: str | None = None
        by = "the end of the output"
        for rule in self.rules:
            at = rule.cut(text, final)
            if at is not None and (cut is None or at < cut):
                cut, by = at, type(rule).__name__
                word = rule.first(text)[1] if isinstance(rule, StopStrings) else None
        if cut is None and final:
            cut = len(text)
        if cut is not None:
            for guard in self.guards:
                safe = guard.safe_end(text, cut)
                if safe < cut and not text[:safe].strip():
                    by = f"{type(guard).__name__} (no complete code before the cut by {by})"
                cut = safe
            if not text[:cut].strip() and text.strip():
                self._log_emptied(text, by)
            return Verdict(stable=cut, cut=cut, word=word)
        held = max((rule.pending(text) for rule in self.rules), default=0)
        stable = len(text) - held
        if stable and text[stable - 1] == "\r":
            stable -= 1  # half of a CRLF line break that a rule may still cut
        if not text[:stable].strip():
            stable = 0  # whitespace alone is never shown: it may end up an empty completion
        return Verdict(stable=stable)

    def _log_emptied(self, text: str, by: str) -> None:
        """Say once which rule cut a completion with content to nothing: the first thing to know about an empty answer."""
        if not self._emptied:
            self._emptied = True
            log.info("%s: completion cut to nothing by %s (the model wrote %d characters: %r)",
                     self.request_id or "-", by, len(text), text[:60])  # fmt: skip

    def finish(self, text: str) -> tuple[str, str | None]:
        """Final text and the stop word that ended it (None when no stop string did)."""
        verdict = self.check(text, final=True)
        final = text if verdict.cut is None else text[: verdict.cut]
        if not final.strip():
            final = ""
        return final, verdict.word


def completion_filter(
    *,
    stop_words: Iterable[str],
    prefix: str = "",
    suffix: str = "",
    raw: bool = False,
    n_indent: int = 0,
    language: str | None = None,
    request_id: str = "",
) -> CompletionFilter:
    """The rules for one request.

    `raw` keeps only what every answer needs (end at sentinels and the
    caller's stop words) and switches our post-processing off, so its effect
    can be measured. `language` (a grammar name from `fim.syntax.language_for`)
    lets the unit at the cursor be read from the syntax tree; without one,
    indentation and brackets decide. `request_id` names the request in the
    log line that says which rule cut a completion to nothing.
    """
    rules: list[Rule] = [StopStrings(tuple(w for w in dict.fromkeys(stop_words) if w))]
    guards: list[Guard] = []
    if n_indent > 0:
        rules.append(MinIndent(n_indent))
    if not raw:
        cursor_line = prefix.rsplit("\n", 1)[-1]
        rules.append(SuffixRepeat(suffix, at_line_start=not cursor_line.strip(), before=cursor_line))
        rules.append(RepeatedLines(before=cursor_line))
        unit_end = UnitEnd(unit_at(prefix, suffix, language), before=cursor_line)
        rules.append(unit_end)
        guards.append(unit_end)
    return CompletionFilter(rules, guards, request_id=request_id)
