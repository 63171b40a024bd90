"""Build FIM prompt strings from a format, the text around the cursor and context files."""

from __future__ import annotations

from dataclasses import dataclass, field

from fim.formats import FimFormat


@dataclass(frozen=True)
class ContextFile:
    """Another file shown to the model before the current one."""

    path: str
    content: str


@dataclass(frozen=True)
class FimInput:
    """What the model sees: the text before and after the cursor, and optional context."""

    prefix: str
    suffix: str = ""
    #: Path of the current file, relative to the project root when known.
    path: str | None = None
    #: Other files, least relevant first (the most relevant ends up nearest the cursor).
    context: tuple[ContextFile, ...] = field(default=())
    #: Repository name, for families whose multi-file form names it.
    repo: str | None = None


def build_prompt(fmt: FimFormat, fim: FimInput, *, middle: str = "") -> str:
    """Render `fim` in `fmt`'s layout; `middle`, if given, follows (training targets).

    The path line and the context files are only written when the family has
    a multi-file form; a family without one gets the bare FIM part.
    """
    family = fmt.family
    parts: list[str] = []
    multi_file = family.context_file is not None
    if multi_file and (fim.context or fim.path):
        if family.repo_header and fim.repo is not None:
            parts.append(family.repo_header.format(repo=fim.repo))
        for ctx in fim.context:
            parts.append(family.context_file.format(path=ctx.path, content=ctx.content))  # type: ignore[union-attr]
        if fim.path:
            parts.append(family.current_file.format(path=fim.path))
    parts.append(render_fim(fmt, fim.prefix, fim.suffix))
    parts.append(middle)
    return "".join(parts)


def render_fim(fmt: FimFormat, prefix: str, suffix: str) -> str:
    """The FIM part alone: sentinels, prefix and suffix in the format's order."""
    family = fmt.family
    # str.replace, not str.format: code is full of braces.
    out = fmt.template
    for key, value in (("{PRE}", family.pre), ("{SUF}", family.suf), ("{MID}", family.mid)):
        out = out.replace(key, value)
    head, _, tail = out.partition("{prefix}")
    if "{suffix}" in head:
        before, _, after = head.partition("{suffix}")
        return before + suffix + after + prefix + tail
    before, _, after = tail.partition("{suffix}")
    return head + prefix + before + suffix + after
