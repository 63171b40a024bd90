"""Hint mode: a guiding question where a completion would be, never the solution.

For people practising coding problems. The instruct model sees the function
around the cursor (its signature, docstring or comments, and the user's code
so far) and is asked for one short question or next-step nudge in plain
English. `lsp.guard` rejects any answer that contains code; the model then
gets up to two more tries (sampled, with a sterner reminder), and after that
a safe generic question is used. The hint is written as a comment in the
file's comment syntax, so accepting it can never break the code.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from engine.backend import CancelToken
from fim.syntax import captures
from lsp.documents import Document
from lsp.guard import LABEL, find_code

log = logging.getLogger(__name__)

#: Comment syntax by grammar or LSP languageId: (line comment, (block open, block close)).
COMMENTS: dict[str, tuple[str | None, tuple[str, str] | None]] = {
    "python": ("#", None),
    "javascript": ("//", ("/*", "*/")),
    "typescript": ("//", ("/*", "*/")),
    "tsx": ("//", ("/*", "*/")),
    "go": ("//", ("/*", "*/")),
    "rust": ("//", ("/*", "*/")),
    "java": ("//", ("/*", "*/")),
    "c": ("//", ("/*", "*/")),
    "cpp": ("//", ("/*", "*/")),
    "csharp": ("//", ("/*", "*/")),
    "kotlin": ("//", ("/*", "*/")),
    "swift": ("//", ("/*", "*/")),
    "scala": ("//", ("/*", "*/")),
    "dart": ("//", ("/*", "*/")),
    "php": ("//", ("/*", "*/")),
    "ruby": ("#", None),
    "shellscript": ("#", None),
    "r": ("#", None),
    "julia": ("#", None),
    "perl": ("#", None),
    "elixir": ("#", None),
    "lua": ("--", None),
    "haskell": ("--", ("{-", "-}")),
    "sql": ("--", ("/*", "*/")),
    "css": (None, ("/*", "*/")),
    "html": (None, ("<!--", "-->")),
}

#: Most tokens the model may write for a hint shown inline, and for a fuller one (the command).
#: The `max_tokens` setting lowers both (the fuller hint gets three times as many as an inline one).
INLINE_TOKENS, FULL_TOKENS = 48, 160
#: Characters of code shown to the model before and after the cursor.
BEFORE_CHARS, AFTER_CHARS = 3000, 800
#: Answers tried before falling back to a generic question.
ATTEMPTS = 3
#: Longest inline hint, in characters.
INLINE_CHARS = 160

SYSTEM = (
    "You are a programming tutor. The student is practising and must write every line of code "
    "themselves. You never write code: no code blocks, no expressions, no statements, no function "
    "calls with arguments, no variable assignments. You may name a concept, a data structure or a "
    "built-in function, and you ask questions that lead the student to the next step."
)
ASK_INLINE = ("Write ONE short guiding question (at most 20 words) about the student's next step. "
              "Reply with the question only.")  # fmt: skip
ASK_FULL = ("Write a hint of two to four short sentences: what the next step is, an idea to consider, "
            "and an edge case to check. Reply in plain English only.")  # fmt: skip
RETRY = "Your answer must not contain any code at all: use plain English words only."

#: Worked examples, shown as earlier chat turns: a small model copies a style far better than it follows a
#: description of one (asked only in words, the bundled model wrote "What is the purpose of X?" every time).
EXAMPLES: tuple[tuple[str, str, str], ...] = (
    ('def count_vowels(word):\n    """Return how many vowels the word contains."""\n    count = 0\n    ',
     "How could you look at each letter in turn, and what should happen when it is a vowel?",
     "Go through the word one letter at a time and keep a running count. Which letters count as vowels, and "
     "does upper case matter? Check what your function gives for an empty word."),
    ('def is_palindrome(text):\n    """Return True if text reads the same backwards."""\n    ',
     "What would you compare to decide whether the text reads the same from both ends?",
     "Think about the first and the last character, then the second and the second to last. When can you stop "
     "comparing? Try a word of odd length and one of even length."),
)  # fmt: skip

#: Safe questions when the model keeps writing code: (for an empty body, once some code is written).
GENERIC_INLINE = (
    "What is the very first thing this function needs to find out from its input?",
    "What case does your code not handle yet, and what should happen there?",
    "Which value should the function return, and at what point do you know it?",
)
GENERIC_FULL = (
    "Re-read the description and list the cases it mentions. Which of them does your code handle "
    "already? Pick the next one, work it out by hand on a small example, then write the step that does it."
)


@dataclass(frozen=True)
class HintContext:
    """What the hint model is shown."""

    #: The enclosing function (with comments just above it) up to the cursor.
    before: str
    #: The rest of the function after the cursor.
    after: str
    #: Human name of the language for the prompt ("python").
    language: str
    #: True when the function has no code yet beyond its signature, docstring and comments.
    empty_body: bool = False


@dataclass(frozen=True)
class HintOutcome:
    text: str
    attempts: int
    #: Answers the guard rejected because they held code.
    rejected: int
    #: True when a generic question replaced the model's answers.
    fallback: bool
    cancelled: bool = False


def comment_syntax(doc: Document) -> tuple[str | None, tuple[str, str] | None] | None:
    return COMMENTS.get(doc.language_id) or COMMENTS.get(doc.language or "")


def _function_span(doc: Document, offset: int) -> tuple[int, int] | None:
    """Character range of the innermost multi-line function around `offset`, if the grammar knows one."""
    tree = doc.tree
    if tree is None:
        return None
    source = doc.source
    line_start = doc.text.rfind("\n", 0, offset) + 1
    indent = len(doc.text[line_start:offset]) if not doc.text[line_start:offset].strip() else None
    best: tuple[int, int] | None = None
    for body in captures(doc.language, tree.root_node).get("unit.body", []):
        function = body.parent or body
        start, end = source.span(function)
        if start > offset or function.start_point[0] == function.end_point[0]:
            continue
        inside = offset <= end
        # Python blocks end at their last statement: an indented blank line below still belongs to them.
        trailing = (not inside and not doc.text[end:offset].strip()
                    and indent is not None and indent > function.start_point[1])  # fmt: skip
        if (inside or trailing) and (best is None or start >= best[0]):
            best = (start, max(end, offset))
    return best


def _comments_above(doc: Document, start: int, syntax: tuple[str | None, tuple[str, str] | None] | None) -> int:
    """Move `start` up over the comment lines directly above it (doc comments of C-like languages)."""
    if syntax is None:
        return start
    line, block = syntax
    markers = tuple(m for m in (line, *(block or ()), "*") if m)
    while start > 0:
        prev_start = doc.text.rfind("\n", 0, start - 1) + 1
        previous = doc.text[prev_start : start - 1].strip()
        if not previous or not previous.startswith(markers):
            break
        start = prev_start
    return start


def hint_context(doc: Document, offset: int) -> HintContext:
    """The function around `offset` (or the nearby lines), as the hint model should see it."""
    span = _function_span(doc, offset)
    if span is None:
        before = doc.text[:offset][-BEFORE_CHARS:]
        after = doc.text[offset:][:AFTER_CHARS]
        before = before[before.find("\n") + 1 :] if len(before) == BEFORE_CHARS else before
        return HintContext(before, after, doc.language or doc.language_id)
    start = _comments_above(doc, span[0], comment_syntax(doc))
    before = doc.text[start:offset][-BEFORE_CHARS:]
    after = doc.text[offset : span[1]][:AFTER_CHARS]
    return HintContext(before, after, doc.language or doc.language_id, empty_body=_looks_empty(doc, span, offset))


def _looks_empty(doc: Document, span: tuple[int, int], offset: int) -> bool:
    """True when the function's lines after its signature hold only comments, strings and `pass`."""
    syntax = comment_syntax(doc)
    markers = ("*", "/*", '"""', "'''", '"', "'") + ((syntax[0],) if syntax and syntax[0] else ())
    lines = doc.text[span[0] : offset].splitlines()[1:]
    code = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith(markers)]
    return all(c in ("pass", "{", "}", "...") for c in code)


def _ask(language: str, before: str, after: str, *, full: bool, retry: bool = False) -> str:
    parts = [f"Here is the student's {language} code so far; their cursor is at the end:\n\n{before}"]
    if after.strip():
        parts.append(f"Code below the cursor:\n\n{after}")
    parts.append(ASK_FULL if full else ASK_INLINE)
    if retry:
        parts.append(RETRY)
    return "\n\n".join(parts)


def messages(ctx: HintContext, *, full: bool, retry: bool = False) -> list[dict[str, str]]:
    """The chat for one hint: the rules, two worked examples, then the student's code."""
    chat = [{"role": "system", "content": SYSTEM}]
    for code, inline, fuller in EXAMPLES:
        chat.append({"role": "user", "content": _ask("python", code, "", full=full)})
        chat.append({"role": "assistant", "content": fuller if full else inline})
    chat.append({"role": "user", "content": _ask(ctx.language, ctx.before, ctx.after, full=full, retry=retry)})
    return chat


_SPACES = re.compile(r"\s+")
_FIRST_SENTENCE = re.compile(r"^.*?[?.!](?=\s|$)")


def clean(text: str, *, full: bool) -> str:
    """The model's answer as one tidy hint: no label, no quotes, one line; short when inline."""
    text = LABEL.sub("", text.strip())
    text = _SPACES.sub(" ", text).strip().strip("\"'“”").strip()
    if full:
        return text[:600].rstrip()
    question = re.search(r"[^.?!]*\?", text)
    if question and len(question.group(0).strip()) >= 8:
        text = question.group(0).strip()
    else:
        first = _FIRST_SENTENCE.match(text)
        text = first.group(0) if first else text
    if len(text) > INLINE_CHARS:
        text = text[: INLINE_CHARS - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return text


def fallback(ctx: HintContext, *, full: bool) -> str:
    if full:
        return GENERIC_FULL
    if ctx.empty_body:
        return GENERIC_INLINE[0]
    return GENERIC_INLINE[1 + ctx.before.count("\n") % (len(GENERIC_INLINE) - 1)]


def token_budget(max_tokens: int | None, *, full: bool) -> int:
    if max_tokens is None:
        return FULL_TOKENS if full else INLINE_TOKENS
    return min(3 * max_tokens, FULL_TOKENS) if full else min(max_tokens, INLINE_TOKENS)


def write_hint(
    chat: Any,
    ctx: HintContext,
    *,
    full: bool,
    language: str | None,
    cancel: CancelToken | None = None,
    attempts: int = ATTEMPTS,
    max_tokens: int | None = None,
) -> HintOutcome:
    """Ask `chat` (an `engine.chat.ChatModel`) for a hint until the guard passes one. Blocks."""
    from engine.generation import Sampling  # torch: only once a hint is actually asked for

    budget = token_budget(max_tokens, full=full)
    rejected = 0
    for attempt in range(attempts):
        sampling = Sampling() if attempt == 0 else Sampling(temperature=0.7, top_p=0.9, seed=attempt)
        result = chat.reply(messages(ctx, full=full, retry=attempt > 0), sampling=sampling, cancel=cancel,
                            max_tokens=budget)  # fmt: skip
        if result.finish_reason == "cancelled":
            return HintOutcome("", attempt + 1, rejected, fallback=False, cancelled=True)
        hint = clean(result.text, full=full)
        if not hint:
            continue
        leaked = find_code(hint, language)
        if leaked is None:
            return HintOutcome(hint, attempt + 1, rejected, fallback=False)
        rejected += 1
        log.info("hint rejected by the guard (attempt %d): %r holds code %r", attempt + 1, hint, leaked)
    return HintOutcome(fallback(ctx, full=full), attempts, rejected, fallback=True)


def as_comment(hint: str, doc: Document, before_cursor: str, after_cursor: str) -> str | None:
    """`hint` as a comment to insert at the cursor, or None when the language has no safe form there.

    `before_cursor` and `after_cursor` are the cursor's line split at the cursor.
    A line comment would swallow code after the cursor, so then only a block comment will do.
    """
    syntax = comment_syntax(doc)
    if syntax is None or not hint:
        return None
    line, block = syntax
    lead = " " if before_cursor.strip() and not before_cursor.endswith((" ", "\t")) else ""
    if line and not after_cursor.strip():
        return f"{lead}{line} Hint: {hint}"
    if block:
        opening, closing = block
        safe = hint.replace(closing, " ".join(closing))
        trail = " " if after_cursor.strip() and not after_cursor.startswith((" ", "\t")) else ""
        return f"{lead}{opening} Hint: {safe} {closing}{trail}"
    return None
