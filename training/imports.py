"""Extract the imports of a source file with tree-sitter queries.

What counts as an import is data: `training/queries/<language>.scm`, with
the capture names described in `training/queries/__init__.py`. Parsing goes
through `fim.syntax`; compiling and running our own query files is the only
tree-sitter call made here (`fim.syntax` runs only its own queries).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from fim import syntax

#: Characters around an import's text that are syntax, not name.
_QUOTES = "\"'<>` \t"


@dataclass(frozen=True)
class ImportRef:
    """One imported name as written: `module` (`a.b`, `./util`, `crate::x`) and maybe a `member` of it."""

    module: str
    member: str | None = None


@lru_cache(maxsize=None)
def import_query(language: str | None) -> Any | None:
    """The compiled `training/queries/<language>.scm`, or None when we have no import rules for it."""
    if not language:
        return None
    resource = resources.files("training.queries").joinpath(f"{language}.scm")
    grammar = syntax.grammar(language)
    if grammar is None or not resource.is_file():
        return None
    from tree_sitter import Query

    return Query(grammar, resource.read_text(encoding="utf-8"))


def _captures(query: Any, node: Any) -> dict[str, list[Any]]:
    from tree_sitter import QueryCursor

    return QueryCursor(query).captures(node)


def extract_imports(text: str, language: str | None) -> list[ImportRef]:
    """The imports of `text` in source order; empty for languages without import rules."""
    query = import_query(language)
    if query is None:
        return []
    tree = syntax.parse(text, language)
    if tree is None:
        return []
    found = _captures(query, tree.root_node)
    statements = sorted({(n.start_byte, n.end_byte) for n in found.get("import", [])})
    starts = [s for s, _ in statements]
    modules: dict[int, list[tuple[int, str]]] = {}
    members: dict[int, list[tuple[int, str]]] = {}
    for name, into in (("import.module", modules), ("import.member", members)):
        for node in found.get(name, []):
            owner = _owner(statements, starts, node.start_byte, node.end_byte)
            value = node.text.decode("utf-8", errors="replace").strip(_QUOTES)
            if owner is not None and value:
                into.setdefault(owner, []).append((node.start_byte, value))
    refs: list[ImportRef] = []
    for index in sorted(modules):
        names = sorted(set(members.get(index, [])))
        for _, module in sorted(set(modules[index])):
            if names:
                refs.extend(ImportRef(module, member) for _, member in names)
            else:
                refs.append(ImportRef(module))
    return refs


def _owner(statements: list[tuple[int, int]], starts: list[int], start: int, end: int) -> int | None:
    """Index of the innermost statement whose byte range holds `[start, end)`."""
    i = bisect_right(starts, start) - 1
    while i >= 0:
        s, e = statements[i]
        if s <= start and end <= e:
            return i
        i -= 1
    return None
