"""Hint mode without a model: what the model is shown, how answers are cleaned, guarded and written as comments."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from engine.generation import Generated
from lsp import hints
from lsp.documents import Document

PY = '''import math


def closest_pair(numbers: list[float]) -> float:
    """Return the smallest distance between two of the numbers."""
    best = math.inf
    
'''


def test_context_is_the_function_around_the_cursor_with_its_docstring():
    doc = Document("file:///w/a.py", PY, "python")
    ctx = hints.hint_context(doc, len(PY) - 1)  # on the indented blank line after the last statement
    assert ctx.before.startswith("def closest_pair")
    assert "smallest distance" in ctx.before and "best = math.inf" in ctx.before
    assert "import math" not in ctx.before
    assert not ctx.empty_body


def test_doc_comments_above_a_c_like_function_are_included():
    src = "int x;\n/**\n * Sum of the first n squares.\n */\nint squares(int n) {\n    \n}\n"
    doc = Document("file:///w/a.c", src, "c")
    cursor = src.index("    \n") + 4
    ctx = hints.hint_context(doc, cursor)
    assert ctx.before.startswith("/**") and "int squares" in ctx.before
    assert "int x;" not in ctx.before
    assert ctx.after.strip() == "}"
    assert ctx.empty_body


def test_without_a_function_the_nearby_lines_are_used():
    doc = Document("file:///w/notes.txt", "first\nsecond\n", "plaintext")
    ctx = hints.hint_context(doc, len("first\n"))
    assert ctx.before == "first\n" and ctx.after == "second\n"


def test_messages_ask_for_a_question_and_forbid_code():
    ctx = hints.HintContext("def f(xs):\n    ", "", "python")
    chat = hints.messages(ctx, full=False)
    system, user = chat[0], chat[-1]
    assert system["role"] == "system" and "never write code" in system["content"]
    assert user["role"] == "user" and "def f(xs):" in user["content"] and "question" in user["content"]
    # Worked examples come as earlier turns, alternating user and assistant.
    assert [m["role"] for m in chat[1:-1]] == ["user", "assistant"] * len(hints.EXAMPLES)
    retry = hints.messages(ctx, full=True, retry=True)[-1]["content"]
    assert hints.RETRY in retry and hints.ASK_FULL in retry


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('Hint: "What should happen when the list is empty?"', "What should happen when the list is empty?"),
        ("Good start. What is the smallest distance so far?\nMore text.", "What is the smallest distance so far?"),
        ("**Hint:** Compare neighbours after sorting. Then keep the best.", "Compare neighbours after sorting."),
    ],
)
def test_clean_keeps_one_short_question(raw, clean):
    assert hints.clean(raw, full=False) == clean


def test_clean_shortens_long_inline_hints():
    out = hints.clean("word " * 80, full=False)
    assert len(out) <= hints.INLINE_CHARS and out.endswith("…")


@pytest.mark.parametrize(
    ("uri", "language_id", "before", "after", "expected"),
    [
        ("file:///w/a.py", "python", "    ", "", "# Hint: Why?"),
        ("file:///w/a.py", "python", "    x = 1", "", " # Hint: Why?"),
        ("file:///w/a.py", "python", "    f(", ")", None),  # a line comment would swallow the ")"
        ("file:///w/a.ts", "typescript", "  ", "", "// Hint: Why?"),
        ("file:///w/a.ts", "typescript", "  f(", ")", " /* Hint: Why? */ "),
        ("file:///w/a.txt", "plaintext", "", "", None),
    ],
)
def test_hints_are_comments_in_the_files_syntax(uri, language_id, before, after, expected):
    doc = Document(uri, before + after, language_id)
    assert hints.as_comment("Why?", doc, before, after) == expected


def test_a_hint_cannot_close_its_block_comment_early():
    doc = Document("file:///w/a.c", "", "c")
    out = hints.as_comment("Is */ a problem?", doc, "f(", ")")
    assert out.count("*/") == 1 and out.rstrip().endswith("*/")


@dataclass
class ScriptedChat:
    """Answers from a script: stands in for the model so the retry logic is tested exactly."""

    answers: list[str]
    seen: list[list[dict]] = field(default_factory=list)

    def reply(self, messages, *, max_tokens, sampling, cancel=None):
        self.seen.append(messages)
        text = self.answers[min(len(self.seen), len(self.answers)) - 1]
        return Generated(text, "stop", "eos", None, 10, 0, 5, 1.0, 1.0)


CTX = hints.HintContext("def f(xs):\n    ", "", "python", empty_body=True)


def test_write_hint_returns_a_clean_answer_at_once():
    chat = ScriptedChat(["What does the function get as input?"])
    out = hints.write_hint(chat, CTX, full=False, language="python")
    assert out == hints.HintOutcome("What does the function get as input?", attempts=1, rejected=0, fallback=False)


def test_write_hint_regenerates_after_code_then_accepts_prose():
    chat = ScriptedChat(["Use `return sum(xs)`.", "Which built-in adds up a list?"])
    out = hints.write_hint(chat, CTX, full=False, language="python")
    assert (out.text, out.attempts, out.rejected, out.fallback) == ("Which built-in adds up a list?", 2, 1, False)
    assert hints.RETRY in chat.seen[1][-1]["content"]


def test_write_hint_falls_back_to_a_generic_question_when_the_model_keeps_writing_code():
    chat = ScriptedChat(["total = sum(xs)"])
    out = hints.write_hint(chat, CTX, full=False, language="python", attempts=3)
    assert out.fallback and out.rejected == 3 and len(chat.seen) == 3
    assert out.text == hints.GENERIC_INLINE[0]
    assert hints.find_code(out.text, "python") is None


def test_generic_questions_and_examples_are_themselves_prose():
    examples = [text for _, inline, fuller in hints.EXAMPLES for text in (inline, fuller)]
    for text in (*hints.GENERIC_INLINE, hints.GENERIC_FULL, *examples):
        assert hints.find_code(text, "python") is None


def test_token_budget_follows_max_tokens():
    assert hints.token_budget(None, full=False) == hints.INLINE_TOKENS
    assert hints.token_budget(16, full=False) == 16
    assert hints.token_budget(16, full=True) == 48
    assert hints.token_budget(4096, full=True) == hints.FULL_TOKENS
