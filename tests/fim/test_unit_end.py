"""Syntax-aware post-processing: completions end where the unit at the cursor ends, in every language."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from fim import syntax
from fim.postprocess import completion_filter
from fim.window import Window

SENTINELS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|endoftext|>")
CURSOR = "<|>"


def complete(doc: str, output: str, language: str | None, raw: bool = False) -> tuple[str, int]:
    """Feed `output` a character at a time; return the final completion and how much was consumed.

    Also checks what every client relies on: streamed text is never taken back.
    """
    prefix, suffix = doc.split(CURSOR)
    f = completion_filter(stop_words=SENTINELS, prefix=prefix, suffix=suffix, raw=raw, language=language)
    shown = 0
    for i in range(1, len(output) + 1):
        verdict = f.check(output[:i])
        shown = max(shown, verdict.stable)
        if verdict.cut is not None:
            final = f.finish(output[:i])[0]
            assert final.startswith(output[:shown][: len(final)]) and shown <= max(len(final), verdict.cut)
            return final, i
    final = f.finish(output)[0]
    assert final.startswith(output[:shown])
    return final, len(output)


CASES = [
    # Whole-line hole in a block with code: the statements at that level, up to the code below the cursor.
    (
        "python",
        "def f(x):\n    y = 1\n<|>    return y\n",
        "    z = x * 2\n    w = 3\n    return y\n\ndef g():\n",
        "    z = x * 2\n    w = 3\n",
    ),
    # ... or up to the dedent that leaves the block.
    (
        "python",
        "def f(x):\n    for a in x:\n        y = a\n<|>    return y\n",
        "        z = g(x,\n              y)\n    print(z)\n    return y\n",
        "        z = g(x,\n              y)\n",
    ),
    # A compound statement takes its body.
    (
        "python",
        "def f(x):\n    y = 1\n<|>    return y\n",
        "    if x:\n        y = 2\n    return y\n\nprint(1)\n",
        "    if x:\n        y = 2\n",
    ),
    # ... but not when its body is already below the cursor.
    ("python", "def f(x):\n<|>        y = a\n    return y\n", "    for a in x:\n        y = a\n", "    for a in x:\n"),
    # An empty block gets its whole body, to the dedent.
    (
        "python",
        'def f(x):\n    """Doc."""\n<|>\n\ndef g():\n    pass\n',
        "    a = x + 1\n    return a\n\ndef h():\n",
        "    a = x + 1\n    return a\n",
    ),
    # Rest of a line: the model retyping the text after the cursor is dropped.
    ("python", "def f(x):\n    y = foo(<|>)\n    return y\n", "x, 2)\n    return y\n", "x, 2"),
    # End of a line of code: that statement, without a line break (the suffix has it).
    ("python", "def f(x):\n    y = <|>\n    return y\n", "x + 1\n    return y\n", "x + 1"),
    (
        "python",
        "def f(x):\n    y = <|>\n    return y\n",
        "foo(x,\n          2)\n    return y\n",
        "foo(x,\n          2)",
    ),
    # A line that opens a block gets the block.
    (
        "python",
        "def f(x):\n    if x > 1:<|>\n    return 0\n",
        "\n        return 1\n    return 0\n",
        "\n        return 1",
    ),
    ("python", "def f(x):\n    # compute the <|>\n    return y\n", "answer\n    return y\n", "answer"),
    ("python", "def f(x):\n    s = 'héllo 👋 <|>'\n    return s\n", "世界'\n    return s\n", "世界"),
    (
        "javascript",
        "function f(x) {\n  <|>\n}\nfunction g() {}\n",
        "if (x) {\n    return 1;\n  }\n  return 2;\n}\nfunction g() {}\n",
        "if (x) {\n    return 1;\n  }\n  return 2;\n",
    ),
    (
        "javascript",
        "function f(x) {\n  const y = 1;\n  <|>\n  return y;\n}\n",
        "if (x) {\n    y = 2;\n  }\n  return y;\n}\n",
        "if (x) {\n    y = 2;\n  }\n",
    ),
    ("javascript", "const s = `hi ${<|>}`;\n", "name}`;\nfoo();\n", "name"),
    (
        "typescript",
        "function f(x: number): number {\n  const y: number = <|>\n  return y;\n}\n",
        "x * 2;\n  return y;\n",
        "x * 2;",
    ),
    (
        "tsx",
        "export function A() {\n  <|>\n}\n",
        "return <div>hi</div>;\n}\n\nexport function B() {}\n",
        "return <div>hi</div>;\n",
    ),
    (
        "go",
        "func f(x int) int {\n\t<|>\n}\n",
        "if x > 0 {\n\t\treturn 1\n\t}\n\treturn 2\n}\n\nfunc g() {}\n",
        "if x > 0 {\n\t\treturn 1\n\t}\n\treturn 2\n",
    ),
    ("rust", "fn f(x: i32) -> i32 {\n    let y = <|>;\n    y\n}\n", "x + 1;\n    y\n}\n", "x + 1"),
    (
        "rust",
        "fn f(x: i32) -> i32 {\n    let y = x;\n    <|>\n    y\n}\n",
        "if y > 1 {\n        return 0;\n    }\n    y\n}\n",
        "if y > 1 {\n        return 0;\n    }\n",
    ),
    ("java", "class A {\n    int f(int x) {\n        <|>\n    }\n}\n", "return x + 1;\n    }\n}\n", "return x + 1;\n"),
    (
        "c",
        "int f(int x) {\n    int y = 0;\n    <|>\n    return y;\n}\n",
        "for (int i = 0; i < x; i++) {\n        y += i;\n    }\n    return y;\n}\n",
        "for (int i = 0; i < x; i++) {\n        y += i;\n    }\n",
    ),
    ("cpp", "int main() {\n    /* explain <|> */\n    return 0;\n}\n", "the code */\n    return 0;\n", "the code"),
    (
        "cpp",
        "int f(int x) {\n    int y = x;\n    <|>\n    return y;\n}\n",
        "y += g(x,\n          2);\n    return y;\n}\n\nint h;\n",
        "y += g(x,\n          2);\n",
    ),
]


@pytest.mark.parametrize("language, doc, output, expected", CASES)
def test_completion_ends_with_the_unit(language, doc, output, expected):
    final, consumed = complete(doc, output, language)
    assert final == expected
    # Generation stopped early: well before the end of what the model would have written.
    assert consumed < len(output)


@pytest.mark.parametrize("language, doc, output, expected", CASES)
def test_raw_keeps_the_model_output(language, doc, output, expected):
    assert complete(doc, output, language, raw=True)[0] == output


def test_a_header_whose_body_is_below_the_cursor_ends_the_statements():
    doc = "def f(xs):\n    total = 0\n<|>        total += x\n    return total\n"
    final, _ = complete(doc, "    for x in xs:\n        total += x * 2\n    return total\n", "python")
    assert final == "    for x in xs:\n"
    doc = "int f(int n) {\n    int t = 0;\n    <|>\n        t += i;\n    }\n    return t;\n}\n"
    final, _ = complete(doc, "for (int i = 0; i < n; i++) {\n        t += i;\n    }\n", "c")
    assert final == "for (int i = 0; i < n; i++) {\n"


def test_output_cut_by_the_token_limit_ends_at_complete_code():
    prefix, suffix = "def f(x):\n    y = 1\n", "    return y\n"
    f = completion_filter(stop_words=SENTINELS, prefix=prefix, suffix=suffix, language="python")
    assert f.finish("    y += 1\n    z = g(x,\n          ")[0] == "    y += 1\n"


def test_cursor_at_end_of_file():
    final, _ = complete("def f(x):\n<|>", "    return x + 1\n\n\nprint(f(2))\n", "python")
    assert final == "    return x + 1\n"
    final, _ = complete("x = <|>", "1 + 2", "python")
    assert final == "1 + 2"


def test_file_with_syntax_errors_elsewhere():
    doc = "def broken(:\n    return (\n\ndef f(x):\n    y = 1\n<|>    return y\n"
    final, _ = complete(doc, "    y += x\n    return y\n", "python")
    assert final == "    y += x\n"


def test_file_with_syntax_errors_at_the_cursor_falls_back_to_indentation():
    doc = "def f(x):\n    y = [1,\n<|>\n    return y\n"
    final, _ = complete(doc, "         2]\n    z = 3\n    return y\n", "python")
    assert final.startswith("         2]\n") and "return y" not in final


def test_crlf_line_endings():
    doc = "def f(x):\r\n    y = 1\r\n<|>    return y\r\n"
    assert complete(doc, "    z = x * 2\r\n    return y\r\n", "python")[0] == "    z = x * 2\r\n"
    doc = "def f(x):\r\n    y = <|>\r\n    return y\r\n"
    assert complete(doc, "x + 1\r\n    return y\r\n", "python")[0] == "x + 1"


def test_tabs():
    doc = "def f(x):\n\tif x:\n<|>\n\treturn 0\n"
    assert complete(doc, "\t\ty = 1\n\t\treturn y\n\treturn 0\n", "python")[0] == "\t\ty = 1\n\t\treturn y\n"


def test_non_ascii():
    doc = "def grüße(x):\n    s = 'héllo 👋'\n<|>    return s\n"
    assert complete(doc, "    s += '世界'\n    return s\n", "python")[0] == "    s += '世界'\n"


def test_repeated_lines_are_dropped():
    doc = "def f(x):\n    <|>\n\ndef g():\n    pass\n"
    final, _ = complete(doc, "x.append(1)\n    x.append(1)\n    x.append(1)\n", "python")
    assert final == "x.append(1)\n"


def test_repeated_blocks_are_dropped():
    doc = "function f(x) {\n  <|>\n}\n"
    out = "a(x);\n  b(x);\n  a(x);\n  b(x);\n}\n"
    assert complete(doc, out, "javascript")[0] == "a(x);\n  b(x);\n"


def test_whitespace_and_sentinels_never_come_back():
    doc = "def f(x):\n    y = 1\n<|>    return y\n"
    assert complete(doc, "   \n  \n", "python")[0] == ""
    assert complete(doc, "<|endoftext|>    z = 1\n", "python")[0] == ""
    assert complete(doc, "    z = 1<|fim_prefix|>", "python")[0] == "    z = 1"


def test_unknown_language_uses_indentation():
    doc = "def f(x):\n    y = 1\n<|>    return y\n"
    assert complete(doc, "    z = x * 2\nprint(z)\n", "ruby")[0] == "    z = x * 2\n"
    doc = "def f(x):\n    <|>\n\ndef g():\n    pass\n"
    assert complete(doc, "a = 1\n    return a\n\ndef h():\n", None)[0] == "a = 1\n    return a\n"


def test_echo_of_a_later_line_below_the_cursor_ends_the_completion():
    # The model writes its line, skips the next suffix line and echoes the one after.
    doc = "def f(text):\n    new = ''\n<|>    start, end = 0, 0\n    while i < len(text):\n        i += 1\n"
    final, consumed = complete(doc, "    i = 0\n    while i < len(text):\n        i += 1\n", "python")
    assert final == "    i = 0\n"
    assert consumed < len("    i = 0\n    while i < len(text):\n        i += 1\n")


#: Real shapes of output that ended on a block header whose body is missing (issue #12), as data.
HEADERS_WITHOUT_BODY = json.loads((Path(__file__).parent / "fixtures" / "headers_without_body.json").read_text())


def parses(source: str, language: str) -> bool:
    """The file parses: Python's own compiler for Python (tree-sitter accepts an empty block), tree-sitter otherwise."""
    if language == "python":
        try:
            compile(source, "<completion>", "exec")
        except SyntaxError:
            return False
        return True
    return not syntax.has_error(syntax.parse(source, language).root_node)


@pytest.mark.parametrize("case", HEADERS_WITHOUT_BODY, ids=lambda c: f"{c['language']}: {c['why'][:40]}")
def test_a_header_whose_body_is_missing_is_cut_off(case):
    language, doc = case["language"], case["doc"]
    final, _ = complete(doc, case["output"], language)
    prefix, suffix = doc.split(CURSOR)
    assert parses(prefix + suffix, language)
    assert parses(prefix + final + suffix, language), final
    assert final == case["expected"]


def test_the_no_new_error_check_sees_a_header_without_body():
    # tree-sitter-python gives a bodiless `else:` an empty block and no ERROR or MISSING node;
    # the check must still call that middle unfinished.
    window = Window.around("def f(x):\n    if x > 0:\n        y = 1", "\n\n\ndef g():\n    pass\n", "python")
    assert not window.complete("\n    else:")
    assert window.complete("\n    else:\n        y = 0")


BRANCH_MISSING = [
    # The missing body repeats a statement of a later branch (`self.pos += 1`): it is not an echo of the suffix.
    (
        "python",
        "def scan(self, out):\n    while self.pos < len(self.text):\n        c = self.text[self.pos]\n"
        "        if c in SPACES:\n<|>        elif c == '[':\n            out.append(self.literal())\n"
        "        elif c == '.':\n            self.pos += 1\n            out.append('.')\n",
        "            self.pos += 1\n        elif c == '[':\n            out.append(self.literal())\n",
        "            self.pos += 1\n",
    ),
    # A missing `elif` branch whose body is a later branch's statement.
    (
        "python",
        "def scan(self, out):\n    while self.pos < len(self.text):\n        c = self.text[self.pos]\n"
        "        if c in SPACES:\n            out.append(' ')\n<|>        elif c == '.':\n            self.pos += 1\n"
        "            out.append('.')\n",
        "        elif c == '(':\n            self.pos += 1\n            out.append(self.comment())\n"
        "        elif c == '.':\n",
        "        elif c == '(':\n            self.pos += 1\n            out.append(self.comment())\n",
    ),
    # `else:` for the inner `if`, while the line below the cursor is the outer `else:`.
    (
        "python",
        "def quote(param, value, quote):\n    if value is not None:\n        if quote:\n"
        "            return f'{param}=\"{value}\"'\n        <|>\n    else:\n        return param\n",
        "else:\n            return f'{param}={value}'\n    else:\n        return param\n",
        "else:\n            return f'{param}={value}'\n",
    ),
]


@pytest.mark.parametrize("language, doc, output, expected", BRANCH_MISSING)
def test_a_branch_missing_in_an_if_elif_chain_is_not_answered_with_nothing(language, doc, output, expected):
    final, _ = complete(doc, output, language)
    prefix, suffix = doc.split(CURSOR)
    assert parses(prefix + final + suffix, language)
    assert final == expected


def test_the_log_says_which_rule_cut_a_completion_to_nothing(caplog):
    prefix, suffix = "def f(x):\n    y = 1\n", "    return y\n"
    caplog.set_level(logging.INFO, logger="fim.postprocess")
    echo = completion_filter(stop_words=SENTINELS, prefix=prefix, suffix=suffix, language="python", request_id="cmpl-7")
    assert echo.finish("    return y\n")[0] == ""
    header = completion_filter(
        stop_words=SENTINELS, prefix=prefix, suffix=suffix, language="python", request_id="cmpl-8"
    )
    assert header.finish("    if x:\n")[0] == ""
    lines = [r.getMessage() for r in caplog.records if r.name == "fim.postprocess"]
    assert len(lines) == 2  # once per completion, though the rules are asked again at the end
    assert lines[0].startswith("cmpl-7: completion cut to nothing by SuffixRepeat")
    assert lines[1].startswith("cmpl-8: completion cut to nothing by UnitEnd")
    kept = completion_filter(stop_words=SENTINELS, prefix=prefix, suffix=suffix, language="python", request_id="cmpl-9")
    assert kept.finish("    y += x\n")[0] == "    y += x\n"
    assert not [r for r in caplog.records if "cmpl-9" in r.getMessage()]


@pytest.mark.parametrize(
    "language, doc, output, expected",
    [
        (
            "python",
            "def add(first,\n        second):<|>\n\n\ndef g():\n    pass\n",
            "\n    return first + second\n\n\ndef g():\n",
            "\n    return first + second",
        ),
        (
            "javascript",
            "function add(first,\n             second) {<|>\n}\n",
            "\n  return first + second;\n}\n",
            "\n  return first + second;",
        ),
        (
            "go",
            "func add(first int,\n\tsecond int) int {<|>\n}\n",
            "\n\treturn first + second\n}\n",
            "\n\treturn first + second",
        ),
    ],
)
def test_the_body_of_a_header_written_over_several_lines(language, doc, output, expected):
    # The block belongs to the header's first line, not to the continuation line the cursor ends.
    assert complete(doc, output, language)[0] == expected
