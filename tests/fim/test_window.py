"""fim.window: only the construct around the cursor is parsed, and only new errors count."""

from __future__ import annotations

from fim.window import Window, head_start, tail_end

FILE = "import os\n\n\ndef a():\n    return 1\n\n\ndef b(x):\n    y = x\n<|>    return y\n\n\ndef c():\n    pass\n"


def split(doc: str) -> tuple[str, str]:
    prefix, suffix = doc.split("<|>")
    return prefix, suffix


def test_window_is_the_construct_around_the_cursor():
    prefix, suffix = split(FILE)
    assert prefix[head_start(prefix) :].startswith("def b(x):")
    assert suffix[: tail_end(suffix)] == "    return y\n\n\n"


def test_braces_close_the_construct_in_c_like_code():
    prefix, suffix = split("int a() {\n  return 1;\n}\n\nint b() {\n  <|>\n}\n\nint c() {}\n")
    assert prefix[head_start(prefix) :].startswith("int b()")
    assert suffix[: tail_end(suffix)] == "\n}\n\n"


def test_window_is_capped_in_huge_constructs():
    prefix = "def big():\n" + "    x = 1\n" * 1000
    assert prefix[head_start(prefix, max_lines=50) :].count("\n") <= 50


def test_only_errors_the_middle_adds_count():
    prefix, suffix = split("def broken(:\n    pass\n\n\ndef b(x):\n    y = x\n<|>    return y\n")
    window = Window.around(prefix, suffix, "python")
    assert window is not None
    assert not window.new_errors("    y += 1\n")
    assert window.new_errors("    y += (\n")


def test_a_hole_that_breaks_the_code_does_not_count_against_the_middle():
    # The line that opens the block is missing: the window without it has an error.
    prefix, suffix = split("def f(xs):\n    total = 0\n<|>        total += x\n    return total\n")
    window = Window.around(prefix, suffix, "python")
    assert window.new_errors("") == []
    assert window.complete("    for x in xs:\n")
    # A middle that leaves the old error in place is not blamed for it either.
    assert window.complete("    total = 1\n")
    assert not window.complete("    for x in (\n")


def test_open_blocks_are_reported():
    prefix, suffix = split(FILE)
    window = Window.around(prefix, suffix, "python")
    assert window.open_blocks("    if y:\n")
    assert not window.open_blocks("    if y:\n        y = 2\n")
    assert not window.complete("    if y:\n")


def test_unknown_language_has_no_window():
    assert Window.around("x = ", "\n", "ruby") is None
    assert Window.around("x = ", "\n", None) is None


WRAP_PREFIX = (
    'def wrap(text, width=70, **kwargs):\n    """Wrap text."""\n    w = TextWrapper(width=width, **kwargs)\n    '
)
WRAP_SUFFIX = "\n\n\ndef fill(text):\n    return text\n"


def test_a_line_indented_one_space_too_deep_is_a_new_error():
    """tree-sitter-python takes `     return` (5 spaces after a 4-space block) without an error, Python does not.

    A model wrote ` return w.fill(text)` after a cursor that already had the line's indent; the completion
    passed the check and the file no longer parsed ("unexpected indent").
    """
    window = Window.around(WRAP_PREFIX, WRAP_SUFFIX, "python")
    assert not window.complete(" return w.fill(text)\n")
    assert window.new_errors(" return w.fill(text)\n")
    assert window.complete("return w.fill(text)\n")


def test_an_indentation_error_the_code_already_had_does_not_count_against_the_completion():
    suffix = "\n    x = 1\n      y = 2\n" + WRAP_SUFFIX  # the user's own mistake, below the cursor
    assert Window.around(WRAP_PREFIX, suffix, "python").complete("return w.fill(text)\n")
