"""engine.prompting: trailing spaces before a prefix-last prompt's end are healed (issue #13's SPM v2 layout)."""

from __future__ import annotations

import ast

import pytest

from engine.backend import Completion, CompletionRequest
from engine.prompting import SpaceHealing
from fim.formats import get_format

SPM = get_format("qwen2.5-coder-spm-v2")
PREFIX = "def wrap(text):\n    w = Wrapper()\n    "
SUFFIX = "\n\n\ndef fill(text):\n    return text\n"


def test_the_model_is_asked_before_the_indent_and_the_indent_comes_off_its_text():
    healing = SpaceHealing.of(SPM, CompletionRequest(prefix=PREFIX, suffix=SUFFIX))
    assert healing.request.prefix == "def wrap(text):\n    w = Wrapper()\n"
    text = healing.completion(Completion("    return w.wrap(text)\n", "stop", "eos")).text
    assert text == "return w.wrap(text)\n"
    ast.parse(PREFIX + text + SUFFIX)


def test_a_space_after_a_word_is_healed_too():
    """`return ` then ` a + b` gave `return  a + b`."""
    healing = SpaceHealing.of(SPM, CompletionRequest(prefix="def add(a, b):\n    return ", suffix="\n"))
    assert healing.request.prefix.endswith("return")
    assert healing.text(" a + b\n") == "a + b\n"


def test_text_that_starts_otherwise_loses_its_own_leading_spaces():
    """The user's four spaces stay; the model's two (or none) are not added to them."""
    healing = SpaceHealing.of(SPM, CompletionRequest(prefix=PREFIX, suffix=SUFFIX))
    assert healing.text("  x = 1\n") == "x = 1\n"
    assert healing.text("x = 1\n") == "x = 1\n"
    assert healing.text("\n    y = 2\n") == "\n    y = 2\n"
    assert healing.text("      z\n") == "  z\n"  # deeper than the user's indent: the syntax check judges it
    shown: list[str] = []
    take = healing.on_text(shown.append)
    for piece in ("  ", "x = 1\n"):
        take(piece)
    assert "".join(shown) == "x = 1\n"


def test_streamed_text_arrives_without_the_spaces_whatever_the_pieces():
    healing = SpaceHealing.of(SPM, CompletionRequest(prefix=PREFIX, suffix=SUFFIX))
    shown: list[str] = []
    take = healing.on_text(shown.append)
    for piece in ("  ", "  re", "turn w", "\n"):
        take(piece)
    assert "".join(shown) == "return w\n"


@pytest.mark.parametrize("fmt, request_", [
    (get_format("qwen2.5-coder"), CompletionRequest(prefix=PREFIX, suffix=SUFFIX)),  # PSM: the suffix follows
    (SPM, CompletionRequest(prefix=PREFIX, suffix=SUFFIX, raw=True)),  # raw: the prompt as it is
    (SPM, CompletionRequest(prefix="x = 1\n", suffix="")),  # nothing to heal
    (SPM, CompletionRequest(prefix="    ", suffix="")),  # only spaces: nothing would be left to ask
])  # fmt: skip
def test_nothing_is_healed_where_nothing_needs_it(fmt, request_):
    assert SpaceHealing.of(fmt, request_) is None
