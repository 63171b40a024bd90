"""Definitions in a file, found with tree-sitter tag queries, and the names used near a cursor.

Which nodes define what is data: `repo_context/queries/<language>.scm`, with aider's capture names
(`@definition.KIND` for the whole definition, `@name.definition.KIND` for its name) plus
`@body.definition.KIND` for what a signature leaves out. So the code here has no per-language branches: a
signature is a definition with its body (and its methods' bodies, for a class) replaced by `...`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from fim import syntax

#: Identifier-like words (the names a line uses).
NAME = re.compile(r"[A-Za-z_$][\w$]*")
#: Lines before and after the cursor whose names count as "used near the cursor".
NEAR_LINES_BEFORE, NEAR_LINES_AFTER = 24, 4
#: What a signature shows where a body was.
ELLIPSIS = "..."


@dataclass(frozen=True)
class Definition:
    """One named definition: where it is and its text as signature and as a whole."""

    path: str
    name: str
    kind: str
    #: Character offsets of the whole definition in its file.
    start: int
    end: int
    signature: str
    body: str


@lru_cache(maxsize=None)
def tag_query(language: str | None) -> Any | None:
    """The compiled `repo_context/queries/<language>.scm`, or None when we have no tag rules for it."""
    if not language:
        return None
    resource = resources.files("repo_context.queries").joinpath(f"{language}.scm")
    grammar = syntax.grammar(language)
    if grammar is None or not resource.is_file():
        return None
    from tree_sitter import Query

    return Query(grammar, resource.read_text(encoding="utf-8"))


def definitions(text: str, language: str | None, path: str) -> list[Definition]:
    """The definitions of `text` in source order (empty for languages without tag rules or grammar)."""
    query = tag_query(language)
    tree = syntax.parse(text, language) if query is not None else None
    if tree is None:
        return []
    from tree_sitter import QueryCursor

    source = syntax.Source(text)
    found: list[tuple[str, tuple[int, int], str, tuple[int, int] | None]] = []
    for _, groups in QueryCursor(query).matches(tree.root_node):
        for capture, nodes in groups.items():
            if capture.startswith("definition."):
                kind = capture.split(".", 1)[1]
                name_nodes = groups.get(f"name.definition.{kind}", [])
                body_nodes = groups.get(f"body.definition.{kind}", [])
                if name_nodes:
                    name = text[slice(*source.span(name_nodes[0]))]
                    body = source.span(body_nodes[0]) if body_nodes else None
                    found.append((kind, _line_span(text, source.span(nodes[0])), name, body))
    bodies = [b for _, _, _, b in found if b is not None]
    out = []
    for kind, (start, end), name, body in sorted(found, key=lambda f: f[1]):
        out.append(
            Definition(path, name, kind, start, end, _signature(text, start, end, body, bodies), text[start:end])
        )
    return out


def _line_span(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """`span` widened to whole lines (a definition is shown with its indentation)."""
    start = text.rfind("\n", 0, span[0]) + 1
    return (start if not text[start : span[0]].strip() else span[0]), span[1]


def _signature(text: str, start: int, end: int, body: tuple[int, int] | None, bodies: list[tuple[int, int]]) -> str:
    """The definition with its own body cut (functions) or its members' bodies cut (classes)."""
    if body is None:
        return text[start:end]
    inner = [b for b in bodies if start <= b[0] and b[1] <= end and b != body]
    if not inner:
        return text[start : body[0]].rstrip() + " " + ELLIPSIS
    pieces, at = [], start
    for b_start, b_end in sorted(inner):
        if b_start < at:
            continue  # nested inside a body already cut
        pieces.append(text[at:b_start].rstrip() + " " + ELLIPSIS)
        at = b_end
    pieces.append(text[at:end])
    return "".join(pieces).rstrip()


def names_near(prefix: str, suffix: str) -> list[str]:
    """Names used near the cursor, nearest first (the prefix's last lines, then the suffix's first)."""
    before = prefix.split("\n")[-NEAR_LINES_BEFORE:]
    after = suffix.split("\n")[:NEAR_LINES_AFTER]
    seen: dict[str, None] = {}
    for line in reversed(before):
        for word in reversed(NAME.findall(line)):
            seen.setdefault(word, None)
    for line in after:
        for word in NAME.findall(line):
            seen.setdefault(word, None)
    return list(seen)
