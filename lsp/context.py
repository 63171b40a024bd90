"""Which other open files to show the model, most relevant last.

A completion is better when the model can see the definitions the current
file uses. The cheapest strong signal is the import list: an open file
whose name appears in the current file's imports is shown nearest the
cursor, one whose package directory does comes before it, the most recently
edited last within each. Other open files are not shown, whatever their
language: they cost prompt tokens (time on a CPU), would send a file's text
along with every completion of an unrelated one, and a broken one must not
break completions elsewhere. Imports are found with the `@import.top`
captures of `fim/queries/<language>.scm`, so no language is special-cased
here: the names in an import statement (`from pkg.helpers import x`,
`import "./lib/util.js"`, `use crate::utils::parse`, `#include "foo.h"`)
are compared with file stems and directory names.

The token budget (`fim.budget.fit`) then keeps the most relevant files that
fit and drops the rest.
"""

from __future__ import annotations

import functools
import re
from pathlib import PurePosixPath
from typing import Callable, Iterable

from fim.prompt import ContextFile
from fim.syntax import Source, captures
from lsp.documents import Document

#: Most other files offered to the budget; the budget usually keeps fewer.
MAX_FILES = 8
#: A longer file is offered by its head only (the budget cuts it further).
MAX_CHARS = 64 * 1024

#: Imports are read from a file's first characters only: they sit at the top, and tree-sitter takes seconds
#: to parse and query a 10 MB file (measured: 4.6 s and 3.6 s), which would stall the event loop.
IMPORT_HEAD_CHARS = 64 * 1024

#: Relevance levels, higher is nearer the cursor.
IMPORTED, SAME_PACKAGE = 2, 1

_NAME = re.compile(r"[A-Za-z_$][\w$]*")


def imported_names(doc: Document) -> set[str]:
    """Every identifier-like word in the top-level import statements of `doc`'s head."""
    if doc.language is None:
        return set()
    return set(_names_in(doc.language, doc.text[:IMPORT_HEAD_CHARS]))


@functools.lru_cache(maxsize=64)
def _names_in(language: str, head: str) -> frozenset[str]:
    """Keyed by the head's text, so typing below it (or in another file) parses nothing again."""
    source = Source(head)
    tree = source.parse(language)
    if tree is None:
        return frozenset()
    names: set[str] = set()
    for node in captures(language, tree.root_node).get("import.top", []):
        start, end = source.span(node)
        names.update(_NAME.findall(head[start:end]))
    return frozenset(names)


def relevance(other: Document, names: set[str]) -> int:
    """How relevant `other` is to a file that imports `names` (0: not at all)."""
    path = PurePosixPath(other.path.replace("\\", "/"))
    stem = path.name.split(".", 1)[0]
    if stem in names:
        return IMPORTED
    if path.parent.name and path.parent.name in names:
        return SAME_PACKAGE
    return 0


def related_files(
    doc: Document,
    documents: Iterable[Document],
    display_path: Callable[[Document], str],
    limit: int = MAX_FILES,
) -> tuple[ContextFile, ...]:
    """Other open documents worth showing with `doc`, least relevant first."""
    names = imported_names(doc)
    scored: list[tuple[int, int, Document]] = []
    for other in documents:
        if other.uri == doc.uri or not other.text.strip():
            continue
        score = relevance(other, names)
        if score:
            scored.append((score, other.touched, other))
    scored.sort(key=lambda item: (item[0], item[1]))
    return tuple(ContextFile(display_path(other), other.text[:MAX_CHARS]) for _, _, other in scored[-limit:])
