"""The top-level structure of a file: where its constructs begin and end, and its imports.

When the text around the cursor must be cut to the token budget, cutting
between top-level constructs keeps whole functions and classes (a
half-function confuses the model more than a missing one), and keeping the
imports keeps the names the completion will most likely use.
"""

from __future__ import annotations

from dataclasses import dataclass

from fim import syntax


@dataclass(frozen=True)
class Outline:
    #: Character offsets where a top-level construct begins (with the comments
    #: and decorators right above it), increasing; 0 is not included.
    starts: tuple[int, ...]
    #: Character offsets just after a top-level construct ends (after its line break), increasing.
    ends: tuple[int, ...]
    #: The span of the import block (from the first import's line to the end of the last one's line).
    imports: tuple[int, int] | None


def outline(text: str, language: str | None) -> Outline | None:
    """The outline of `text`, or None when `language` has no grammar."""
    source = syntax.Source(text)
    tree = source.parse(language)
    if tree is None:
        return None
    root = tree.root_node
    starts: list[int] = []
    ends: list[int] = []
    previous = None
    for node in root.named_children:
        start, end = source.span(node)
        # A comment or attribute right above a construct belongs to it.
        attached = (
            previous is not None
            and ("comment" in previous.type or "attribute" in previous.type)
            and node.start_point[0] - previous.end_point[0] <= 1
        )
        begins = _line_start(text, start)
        if not attached and begins == text.rfind("\n", 0, begins) + 1:
            starts.append(begins)
        finishes = _line_end(text, end)
        # A comment ends nothing: it belongs to what follows it.
        if (
            "comment" not in node.type
            and "attribute" not in node.type
            and (finishes == len(text) or text[finishes - 1] == "\n")
        ):
            ends.append(finishes)
        previous = node
    found = syntax.captures(language, root)
    imports = sorted(source.span(n) for n in found.get("import.top", []))
    span = (_line_start(text, imports[0][0]), _line_end(text, imports[-1][1])) if imports else None
    return Outline(
        starts=tuple(sorted(set(s for s in starts if 0 < s < len(text)))),
        ends=tuple(sorted(set(e for e in ends if 0 < e <= len(text)))),
        imports=span,
    )


def _line_start(text: str, at: int) -> int:
    """`at` moved back to its line's start when only blanks precede it on the line."""
    line_start = text.rfind("\n", 0, at) + 1
    return line_start if not text[line_start:at].strip() else at


def _line_end(text: str, at: int) -> int:
    """`at` moved past the rest of its line (blanks and the break) when nothing else follows on it."""
    nl = text.find("\n", at)
    if nl == -1:
        return len(text) if not text[at:].strip() else at
    return nl + 1 if not text[at:nl].strip() else at
