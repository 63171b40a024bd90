"""Which other open files to show the model, most relevant last.

A completion is better when the model can see the definitions the current
file uses. The cheapest strong signal is the import list: an open file
whose name appears in the current file's imports is shown nearest the
cursor, one whose package directory does comes before it, the most recently
edited last within each. Other open files are not shown, whatever their
language: they cost prompt tokens (time on a CPU), would send a file's text
along with every completion of an unrelated one, and a broken one must not
break completions elsewhere. Imports are found with the `@top.import`
captures of `fim/queries/<language>.scm`, so no language is special-cased
here: the names in an import statement (`from pkg.helpers import x`,
`import "./lib/util.js"`, `use crate::utils::parse`, `#include "foo.h"`)
are compared with file stems and directory names.

The token budget (`fim.budget.fit`) then keeps the most relevant files that
fit and drops the rest.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Callable, Iterable

from fim.prompt import ContextFile
from fim.syntax import captures
from lsp.documents import Document

#: Most other files offered to the budget; the budget usually keeps fewer.
MAX_FILES = 8
#: A longer file is offered by its head only (the budget cuts it further).
MAX_CHARS = 64 * 1024

#: Relevance levels, higher is nearer the cursor.
IMPORTED, SAME_PACKAGE = 2, 1

_NAME = re.compile(r"[A-Za-z_$][\w$]*")


def imported_names(doc: Document) -> set[str]:
    """Every identifier-like word in `doc`'s top-level import statements."""
    tree = doc.tree
    if tree is None:
        return set()
    names: set[str] = set()
    for node in captures(doc.language, tree.root_node).get("top.import", []):
        start, end = doc.source.span(node)
        names.update(_NAME.findall(doc.text[start:end]))
    return names


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
