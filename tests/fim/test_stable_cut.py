"""Cache-stable truncation: the prompt's start moves only in coarse, content-anchored steps while the user
types at the end of a long file or moves the cursor a few lines, the prompt still fits the budget, and the
text next to the cursor is always kept."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fim.budget import ANCHOR_LEVELS, MIN_ANCHORED_SHARE, anchor_levels, fit, line_starts, precut_prefix, precut_suffix
from fim.prompt import FimInput

#: Long real files (our own code stands in for "a long file": the property holds for any text).
ROOT = Path(__file__).parents[2]
FILES = [
    (ROOT / name).read_text()
    for name in ("fim/unit_end.py", "fim/postprocess.py", "engine/upstream.py", "engine/remote.py", "fim/units.py")
]
SOURCE = FILES[0]

#: What the user types: a few lines of code, 200 characters, one keystroke at a time.
TYPED = (
    "def scan(lines, limit):\n    found = []\n    for number, line in enumerate(lines):\n"
    "        if len(found) >= limit:\n            break\n        if line.strip():\n"
    "            found.append((number, line))\n    return found\n"
)[:200]
SUFFIX = "\n\nif __name__ == '__main__':\n    main()\n"


def count(text: str) -> int:
    """A stand-in tokenizer of about 4 characters per token, as BPE code tokenizers give."""
    return (len(text) + 3) // 4


def prompt_start(doc_prefix: str, fitted_prefix: str) -> int:
    """Where in the document the fitted prefix begins."""
    assert doc_prefix.endswith(fitted_prefix)
    return len(doc_prefix) - len(fitted_prefix)


def kept_before(fitted_prefix: str, typed: str) -> str:
    """The fitted prefix without what was typed: the part a prompt cache can keep from the last keystroke
    (with a language the kept imports come first, so the prefix is not a plain tail of the document)."""
    assert fitted_prefix.endswith(typed)
    return fitted_prefix[: len(fitted_prefix) - len(typed)]


@cache
def typing_starts(source: str, budget: int, language: str | None, every_line: bool = False) -> int:
    """How many different prompt starts typing `TYPED` at the end of `source` gives (checking each prompt)."""
    starts = set()
    for n in range(len(TYPED) + 1):
        prefix = source + TYPED[:n]
        cuts = line_starts(prefix) if every_line else None  # explicit cuts: the old first-fitting-line rule
        fitted = fit(FimInput(prefix, SUFFIX), budget, count, language=language, prefix_cuts=cuts)
        assert count(fitted.fim.prefix) + count(fitted.fim.suffix) <= budget
        assert fitted.fim.prefix.endswith(TYPED[:n]) and fitted.fim.suffix == SUFFIX  # the cursor's neighbours
        assert count(fitted.fim.prefix) >= (budget - count(SUFFIX)) * 0.5  # most of the budget is used
        starts.add(kept_before(fitted.fim.prefix, TYPED[:n]))
    return len(starts)


@pytest.mark.parametrize(
    ("budget", "language", "files"), [(256, None, 5), (512, None, 5), (1024, None, 5), (512, "python", 2)]
)  # parsing each keystroke is slow
def test_typing_at_the_end_of_a_long_file_keeps_the_prompt_start(budget, language, files):
    assert len(TYPED) == 200
    anchored = sum(typing_starts(source, budget, language) for source in FILES[:files])
    every_line = sum(typing_starts(source, budget, None, every_line=True) for source in FILES[:files])
    # 200 characters are 8 lines: cutting at the first line that fits moves the start about every line.
    assert anchored <= files * 3 and anchored <= 0.65 * every_line, (anchored, every_line)


def cursor_moves(source: str, budget: int, every_line: bool = False) -> tuple[int, int]:
    """Different prompt starts and suffix ends while the cursor moves down 6 lines in the middle of `source`."""
    lines = line_starts(source)
    starts, ends = set(), set()
    for move in range(6):
        at = lines[len(lines) // 2 + move]
        prefix, suffix = source[:at], source[at:]
        cuts = (line_starts(prefix), line_starts(suffix)[1:]) if every_line else (None, None)
        fitted = fit(FimInput(prefix, suffix), budget, count, prefix_cuts=cuts[0], suffix_cuts=cuts[1]).fim
        assert count(fitted.prefix) + count(fitted.suffix) <= budget
        assert suffix.startswith(fitted.suffix) and fitted.suffix.startswith(suffix[: suffix.index("\n") + 1])
        starts.add(prompt_start(prefix, fitted.prefix))
        ends.add(at + len(fitted.suffix))
    return len(starts), len(ends)


@pytest.mark.parametrize("budget", [256, 1024])
def test_moving_the_cursor_a_few_lines_keeps_the_prompt_start(budget):
    anchored = [cursor_moves(source, budget) for source in FILES]
    every_line = [cursor_moves(source, budget, every_line=True) for source in FILES]
    starts, ends = sum(a[0] for a in anchored), sum(a[1] for a in anchored)
    assert starts <= 0.7 * sum(e[0] for e in every_line), (anchored, every_line)
    assert ends <= sum(e[1] for e in every_line), (anchored, every_line)


def test_anchors_depend_on_the_line_alone():
    text = "alpha()\n  beta = 1\n\ngamma(2)\n"
    levels = anchor_levels(text, line_starts(text))
    assert levels == anchor_levels("x\n" + text, line_starts("x\n" + text))[1:]
    assert levels[2] == 1  # a blank line is never an anchor
    assert all(level in ANCHOR_LEVELS for level in levels)
    # Indentation and trailing spaces do not change a line's anchor.
    assert anchor_levels("  beta = 1  ", [0]) == [levels[1]]


def test_precut_is_stable_and_never_cuts_later_than_the_token_cut():
    budget, chars = 256, 256 * 8
    precut_starts = set()
    for n in range(len(TYPED) + 1):
        prefix = SOURCE + TYPED[:n]
        cut = precut_prefix(prefix, chars)
        assert prefix.endswith(cut) and len(cut) >= chars
        precut_starts.add(prompt_start(prefix, cut))
        # The token budget cuts the pre-cut text exactly where it cuts the whole text.
        assert fit(FimInput(cut, ""), budget, count).fim == fit(FimInput(prefix, ""), budget, count).fim
    assert len(precut_starts) <= 3
    head = precut_suffix(SOURCE, chars)
    assert SOURCE.startswith(head) and len(head) >= chars and head.endswith("\n")
    assert precut_suffix(SOURCE[1:], chars) == head[1:]  # losing its first character does not move its end


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab \n", max_size=300), st.integers(min_value=1, max_value=100))
def test_precut_keeps_enough_and_at_a_line_start(text, chars):
    # At a line start, unless the nearest one is more than 2 x chars away: then exactly `chars` characters.
    cut = precut_prefix(text, chars)
    assert text.endswith(cut) and len(cut) >= min(chars, len(text))
    assert cut == text or text[len(text) - len(cut) - 1] == "\n" or len(cut) == chars
    assert len(cut) <= 2 * chars or cut == text
    head = precut_suffix(text, chars)
    assert text.startswith(head) and len(head) >= min(chars, len(text))
    assert head == text or head.endswith("\n") or len(head) == chars
    assert len(head) <= 2 * chars or head == text


def test_sparse_anchors_fall_back_to_denser_cuts_that_use_the_budget():
    # Every line the same: either all lines are anchors or none, and none must not waste the budget.
    for line in ("x = 1\n", "y = 2\n", "}\n"):
        text = line * 400
        fitted = fit(FimInput(text, ""), 200, count).fim
        assert 200 * MIN_ANCHORED_SHARE <= count(fitted.prefix) <= 200


@pytest.mark.parametrize(
    "text",
    ["x" * 1_000_000, "a = 1\n" + "y" * 1_000_000, "z" * 1_000_000 + "\nb = 2\n"],
    ids=["one line", "a short line, then a huge one", "a huge line, then a short one"],
)
def test_the_precut_keeps_a_huge_single_line_bounded(text):
    # One minified line of a megabyte must not reach the tokenizer whole on every keystroke.
    assert 100 <= len(precut_prefix(text, 100)) <= 200
    assert 100 <= len(precut_suffix(text, 100)) <= 200
