"""fim.units: what the user is completing, read from the tree (or from indentation without one)."""

from __future__ import annotations

import pytest

from fim.units import indent_of, unit_at

CURSOR = "<|>"


def unit(doc: str, language: str | None):
    prefix, suffix = doc.split(CURSOR)
    return unit_at(prefix, suffix, language)


CASES = [
    # (language, document with the cursor, expected kind)
    ("python", "def f(x):\n    y = foo(<|>)\n    return y\n", "inline"),
    ("python", "def f(x):\n    y = <|>\n    return y\n", "line"),
    ("python", "def f(x):\n    y = 1\n<|>    return y\n", "statement"),
    ("python", "def f(x):\n    y = 1\n    <|>\n    return y\n", "statement"),
    ("python", "def f(x):\n    <|>\n\ndef g():\n    pass\n", "block"),
    ("python", 'def f(x):\n    """Only a docstring."""\n<|>\n\ndef g():\n    pass\n', "block"),
    ("python", "def f(x):\n    for a in x:\n<|>    return a\n", "block"),
    ("python", "def f(x):\n    for a in x:\n<|>        print(a)\n    return a\n", "statement"),
    ("python", "def f(x):\n    # the <|>\n    return x\n", "comment"),
    ("python", "def f(x):\n    s = 'abc <|>'\n    return s\n", "string"),
    ("python", "def f(x):\n    return x\n<|>", "statement"),
    ("javascript", "function f(x) {\n  <|>\n}\n", "block"),
    ("javascript", "function f(x) {\n  const y = 1;\n  <|>\n  return y;\n}\n", "statement"),
    ("javascript", "function f(x) {\n  return g(<|>);\n}\n", "inline"),
    ("javascript", "function f(x) {\n  // explain <|>\n  return x;\n}\n", "comment"),
    ("typescript", "function f(x: number): number {\n  <|>\n}\n", "block"),
    ("typescript", 'const s: string = "a <|>";\n', "string"),
    ("tsx", "export function A() {\n  return <div>{<|>}</div>;\n}\n", "inline"),
    ("tsx", "export function A() {\n  <|>\n}\n", "block"),
    ("go", "func f(x int) int {\n\t<|>\n}\n", "block"),
    ("go", "func f(x int) int {\n\ty := 1\n\t<|>\n\treturn y\n}\n", "statement"),
    ("go", 'func f() {\n\tfmt.Println("a <|>")\n}\n', "string"),
    ("rust", "fn f(x: i32) -> i32 {\n    <|>\n}\n", "block"),
    ("rust", "fn f(x: i32) -> i32 {\n    let y = <|>\n}\n", "line"),
    ("rust", "fn f() {\n    // note <|>\n}\n", "comment"),
    ("java", "class A {\n    int f(int x) {\n        <|>\n    }\n}\n", "block"),
    (
        "java",
        "class A {\n    int f(int x) {\n        int y = 1;\n        <|>\n        return y;\n    }\n}\n",
        "statement",
    ),
    ("c", "int f(int x) {\n    <|>\n}\n", "block"),
    ("c", "int f(int x) {\n    /* why <|> */\n    return x;\n}\n", "comment"),
    ("cpp", "namespace n {\nint f(int x) {\n    int y = x;\n    <|>\n    return y;\n}\n}\n", "statement"),
    ("cpp", "int f() {\n    return g(<|>);\n}\n", "inline"),
]


@pytest.mark.parametrize("language, doc, kind", CASES)
def test_unit_kind(language, doc, kind):
    assert unit(doc, language).kind == kind


@pytest.mark.parametrize(
    "doc, kind",
    [
        ("def f(x):\n    y = foo(<|>)\n", "inline"),
        ("def f(x):\n    <|>\n\ndef g():\n    pass\n", "block"),
        ("def f(x):\n    y = 1\n    <|>\n    return y\n", "statement"),
        ("function f(x) {\n  <|>\n}\n", "block"),
        ("x = <|>\n", "line"),
    ],
)
def test_without_a_grammar_indentation_decides(doc, kind):
    assert unit(doc, None).kind == kind
    assert unit(doc, "ruby").kind == kind


def test_block_opener_indentation_comes_from_the_owning_statement():
    u = unit("class A:\n    def f(self):\n<|>\n\nclass B:\n    pass\n", "python")
    assert u.kind == "block" and u.opener_indent == 4


def test_cursor_at_end_of_file():
    assert unit("def f(x):\n<|>", "python").kind == "block"
    assert unit("x = 1\n<|>", "python").kind == "statement"
    assert unit("x = <|>", "python").kind == "line"
    assert unit("<|>", "python").kind == "statement"


def test_syntax_errors_elsewhere_keep_the_tree_verdict():
    doc = "def broken(:\n    return (\n\ndef f(x):\n    <|>\n\ndef g():\n    pass\n"
    assert unit(doc, "python").kind == "block"


def test_syntax_errors_at_the_cursor_fall_back_to_indentation():
    doc = "def f(x):\n    y = [1,\n<|>\n    return y\n"
    u = unit(doc, "python")
    assert u.kind in ("statement", "block") and u.whole_line


def test_crlf_tabs_and_non_ascii():
    assert unit("def f(x):\r\n\t<|>\r\n\r\ndef g():\r\n\tpass\r\n", "python").kind == "block"
    assert unit("def f(x):\r\n\tif x:\r\n\t\t# héllo <|>\r\n\treturn 1\r\n", "python").kind == "comment"
    u = unit("def grüße(x):\n    s = '👋 世界 <|>'\n    return s\n", "python")
    assert u.kind == "string" and u.rest_of_line == "'"


def test_indent_of_expands_tabs():
    assert indent_of("\tx") == 8
    assert indent_of("    x") == 4
    assert indent_of("  \tx") == 8
    assert indent_of("") == 0
