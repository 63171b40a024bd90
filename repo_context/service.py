"""Repository context for one process: a workspace index, a ring of recent chunks, and per-request assembly.

`codegemma complete --workspace DIR`, `codegemma serve --workspace DIR` and the language server (one per
workspace folder) build one `RepoContext` and ask it for the snippets of each request; assembly time is
logged per request (the index itself is built and refreshed in its background thread).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Iterable

from fim.budget import CONTEXT_SHARE
from fim.prompt import ContextFile
from repo_context.assemble import DEFAULT_SOURCES, TokenCounter, gather
from repo_context.ring import ChunkRing
from repo_context.workspace import Workspace

log = logging.getLogger(__name__)


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (code runs ~3.5 characters a token); the prompt's fit counts exactly."""
    return len(text) // 3 + 1


class RepoContext:
    """Context from the workspace at `root` within `context_tokens` (the same budget the prompt has)."""

    def __init__(self, root: Path, context_tokens: int, *, count: TokenCounter = estimate_tokens,
                 sources: Iterable[str] = DEFAULT_SOURCES, background: bool = True) -> None:  # fmt: skip
        self.workspace = Workspace(Path(root))
        self.ring = ChunkRing()
        self.budget = int(context_tokens * CONTEXT_SHARE)
        self.count: Callable[[str], int] = count
        self.sources = tuple(sources)
        if background:
            self.workspace.start()
        else:
            self.workspace.refresh()

    def context_for(self, path: str | None, prefix: str, suffix: str, language: str | None = None,
                    request_id: str = "") -> tuple[ContextFile, ...]:  # fmt: skip
        """Snippets for a request on `path` (absolute or workspace-relative), least relevant first."""
        started = time.perf_counter()
        rel = (self.workspace.relative(path) if Path(path).is_absolute() else path) if path else None
        out = gather(self.workspace.snapshot, rel or "", prefix, suffix, self.budget, self.count,
                     language=language, ring=self.ring, sources=self.sources)  # fmt: skip
        log.info("%s: repository context %d snippets, %d chars in %.1f ms (index: %d files)", request_id or "-",
                 len(out), sum(len(c.content) for c in out), 1000 * (time.perf_counter() - started),
                 len(self.workspace.snapshot.files))  # fmt: skip
        return out

    def close(self) -> None:
        self.workspace.stop()
