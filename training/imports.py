"""Extract the imports of a source file from its tree-sitter captures.

What counts as an import is data: the `@import.statement`, `@import.module`
and `@import.member` captures of `fim/queries/<language>.scm` (described in
`fim/queries/__init__.py`). Parsing and running the query go through
`fim.syntax`, the one module that talks to tree-sitter.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from fim import syntax

#: Characters around an import's text that are syntax, not name.
_QUOTES = "\"'<>` \t"


@dataclass(frozen=True)
class ImportRef:
    """One imported name as written: `module` (`a.b`, `./util`, `crate::x`) and maybe a `member` of it."""

    module: str
    member: str | None = None


def extract_imports(text: str, language: str | None) -> list[ImportRef]:
    """The imports of `text` in source order; empty for languages without import rules."""
    tree = syntax.parse(text, language)
    if tree is None:
        return []
    found = syntax.captures(language, tree.root_node)
    statements = sorted({(n.start_byte, n.end_byte) for n in found.get("import.statement", [])})
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
