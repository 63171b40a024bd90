"""Syntax-aware context cuts: whole top-level constructs near the cursor, the imports kept."""

from __future__ import annotations

import pytest

from fim.budget import fit, keep_head_syntax, keep_tail_syntax
from fim.outline import outline
from fim.prompt import FimInput
from tests.fim.test_syntax import SAMPLES, sample


def count(text: str) -> int:
    """A stand-in tokenizer: one token per four characters."""
    return (len(text) + 3) // 4


def python_file(functions: int) -> str:
    head = "import os\nimport sys\n\n\n"
    body = "".join(
        f"# helper {i}\ndef f{i}(x):\n    y = x + {i}\n    if y > 3:\n        return y\n    return -y\n\n\n"
        for i in range(functions)
    )
    return head + body


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_outline_starts_are_line_starts_of_top_level_constructs(language):
    text = sample(language)
    shape = outline(text, language)
    assert shape is not None and shape.starts and shape.imports is not None
    for at in shape.starts:
        assert text[at - 1] == "\n" and text[at].strip()
    for at in shape.ends:
        assert at == len(text) or text[at - 1] == "\n"
    imports = text[shape.imports[0] : shape.imports[1]]
    assert any(w in imports for w in ("import", "#include", "use ", "package"))


def test_outline_unknown_language_is_none():
    assert outline("x = 1\n", None) is None
    assert outline("x = 1\n", "ruby") is None


def test_comment_above_a_function_stays_with_it():
    text = python_file(3)
    shape = outline(text, "python")
    for i in range(3):
        at = text.index(f"# helper {i}")
        assert at in shape.starts
        assert text.index(f"def f{i}") not in shape.starts


def test_prefix_keeps_imports_and_whole_functions():
    text = python_file(40)
    cursor = text.index("def f30")
    prefix = text[:cursor] + "def f30(x):\n    "
    kept = keep_tail_syntax(prefix, 300, count, "python")
    assert count(kept) <= 300
    assert kept.startswith("import os\nimport sys\n")
    tail = kept[len("import os\nimport sys\n") :]
    # The rest starts at a whole function (with its comment) and runs to the cursor.
    assert tail.startswith("# helper ") and prefix.endswith(tail)


def test_suffix_ends_after_a_whole_function():
    text = python_file(40)
    suffix = "    return x\n\n\n" + text[text.index("# helper 5") :]
    kept = keep_head_syntax(suffix, 200, count, "python")
    assert count(kept) <= 200 and suffix.startswith(kept)
    assert kept.endswith("return -y\n\n\n") or kept.endswith("return -y\n")


def test_a_huge_function_at_the_cursor_falls_back_to_lines():
    body = "".join(f"    x{i} = {i}\n" for i in range(400))
    prefix = "import os\n\n\ndef big():\n" + body
    kept = keep_tail_syntax(prefix, 300, count, "python")
    assert count(kept) <= 300
    assert kept.startswith("import os\n")
    assert kept.endswith(body[-40:])
    # Lines, not words: every kept line is whole.
    assert all(line.startswith("    x") or line == "import os" or not line for line in kept.split("\n"))


def test_fit_with_language_matches_fit_without_when_nothing_is_cut():
    fim = FimInput(prefix="import os\ndef f():\n    ", suffix="\n")
    assert fit(fim, 1000, count, language="python").fim == fit(fim, 1000, count).fim


def test_fit_with_language_respects_the_budget():
    text = python_file(60)
    cursor = text.index("def f30") + 20
    fim = FimInput(prefix=text[:cursor], suffix=text[cursor:])
    fitted = fit(fim, 400, count, language="python")
    assert fitted.truncated
    assert count(fitted.fim.prefix) + count(fitted.fim.suffix) <= 400
    assert fitted.fim.prefix.startswith("import os")


def test_syntax_cuts_are_stable_while_typing_on_one_line():
    text = python_file(40)
    cursor = text.index("def f30") + len("def f30(x):\n    ")
    starts = set()
    for typed in ("", "r", "re", "ret", "retu", "return", "return x"):
        kept = keep_tail_syntax(text[:cursor] + typed, 300, count, "python")
        starts.add(kept[: kept.index("def ")])
    assert len(starts) == 1
