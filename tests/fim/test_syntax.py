"""fim.syntax: grammar lookup, parsing, queries and offsets for every supported language."""

from __future__ import annotations

from pathlib import Path

import pytest

from fim import syntax

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = {
    "python": "sample.py",
    "javascript": "sample.js",
    "typescript": "sample.ts",
    "tsx": "sample.tsx",
    "go": "sample.go",
    "rust": "sample.rs",
    "java": "Sample.java",
    "c": "sample.c",
    "cpp": "sample.cpp",
}


def sample(language: str) -> str:
    return (FIXTURES / SAMPLES[language]).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "given, expected",
    [
        ("foo.py", "python"),
        ("src/a.tsx", "tsx"),
        ("src/a.ts", "typescript"),
        ("lib/x.mjs", "javascript"),
        ("C:\\code\\main.GO", "go"),
        ("file:///home/me/lib.rs", "rust"),
        ("Main.java", "java"),
        ("a/b.h", "c"),
        ("a/b.hpp", "cpp"),
        ("python", "python"),
        ("typescriptreact", "tsx"),
        ("javascriptreact", "javascript"),
        ("javascript", "javascript"),
        ("go", "go"),
        ("rust", "rust"),
        ("java", "java"),
        ("c", "c"),
        ("cpp", "cpp"),
        ("Python", "python"),
    ],
)
def test_language_for_paths_and_language_ids(given, expected):
    assert syntax.language_for(given) == expected


@pytest.mark.parametrize("given", [None, "", "README", "notes.txt", "ruby", "Makefile", ".bashrc", "a/b/"])
def test_language_for_unknown_is_none(given):
    assert syntax.language_for(given) is None


@pytest.mark.parametrize("language", syntax.LANGUAGES)
def test_every_fixture_parses_without_errors(language):
    tree = syntax.parse(sample(language), language)
    assert tree is not None and not syntax.has_error(tree.root_node)


def test_unknown_language_parses_to_none():
    assert syntax.parse("puts 1", "ruby") is None
    assert syntax.parse("x = 1", None) is None
    assert syntax.query("ruby") is None
    assert syntax.captures("ruby", None) == {}


@pytest.mark.parametrize("language", syntax.LANGUAGES)
def test_queries_find_statements_blocks_literals_and_imports(language):
    text = sample(language)
    tree = syntax.parse(text, language)
    found = syntax.captures(language, tree.root_node)
    for name in ("unit.statement", "unit.block", "unit.body", "unit.expression", "unit.arguments",
                 "inside.string", "inside.comment", "import.top", "import.statement", "import.module"):  # fmt: skip
        assert found.get(name), f"{language}: no @{name}"
    # Imports are top-level and really are imports.
    for node in found["import.top"]:
        assert node.parent.parent is None
        assert any(w in node.text.decode() for w in ("import", "include", "use", "package"))
    # Every imported module lies inside an import statement (training.imports relies on it).
    statements = [(n.start_byte, n.end_byte) for n in found["import.statement"]]
    for node in found["import.module"]:
        assert any(s <= node.start_byte and node.end_byte <= e for s, e in statements), node.text
    for node in found["inside.comment"]:
        assert node.text.decode().lstrip().startswith(("#", "//", "/*", "///"))


def test_inherited_query_keeps_the_parent_patterns():
    source = syntax.query_source("tsx")
    assert "statement_block" in source  # from javascript.scm
    assert "interface_declaration" in source  # from typescript.scm
    assert "jsx_element" in source


def test_captures_in_a_byte_range_only_see_that_range():
    text = sample("python")
    tree = syntax.parse(text, "python")
    start = text.index("class Greeter")
    found = syntax.captures("python", tree.root_node, start, len(text))
    assert all(n.end_byte > start for n in found["unit.statement"])
    assert len(found["unit.statement"]) < len(syntax.captures("python", tree.root_node)["unit.statement"])


def test_error_nodes_point_at_the_broken_code():
    text = "def f(x):\n    return x +\n\ndef g():\n    return 1\n"
    tree = syntax.parse(text, "python")
    errors = syntax.error_nodes(tree.root_node)
    assert errors and syntax.has_error(tree.root_node)
    assert all(e.start_byte < text.index("def g") for e in errors)


def test_source_converts_offsets_in_non_ascii_text():
    text = 's = "héllo 👋 世界"\nt = 1\n'
    source = syntax.Source(text)
    assert not source.ascii
    tree = source.parse("python")
    string = syntax.captures("python", tree.root_node)["inside.string"][0]
    start, end = source.span(string)
    assert text[start:end] == '"héllo 👋 世界"'
    for i in range(len(text) + 1):
        assert source.char(source.byte(i)) == i


def test_crlf_and_tabs_parse():
    text = "def f(x):\r\n\tif x:\r\n\t\treturn 1\r\n\treturn 2\r\n"
    tree = syntax.parse(text, "python")
    assert not syntax.has_error(tree.root_node)
    assert len(syntax.captures("python", tree.root_node)["unit.block"]) == 2
