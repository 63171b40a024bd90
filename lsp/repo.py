"""The language server's repository context: its workspace folders indexed in the background.

At `initialize` each workspace folder (or the root) gets a `repo_context.service.RepoContext`, whose thread
indexes it without ever holding up a request: a completion uses whatever index exists (none at first). Edits
go to the index (the editor's text wins over the saved file) and to the ring of recent chunks, as llama.vim
does. `CODEGEMMA_INDEX_WORKSPACE=0` switches indexing off (to compare latency with and without it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from fim.prompt import ContextFile
from lsp.documents import Document

log = logging.getLogger(__name__)

#: Environment switch: "0" turns workspace indexing off.
ENV_SWITCH = "CODEGEMMA_INDEX_WORKSPACE"


class WorkspaceContext:
    """One repository context per workspace folder; documents outside every folder get none."""

    def __init__(self) -> None:
        self.folders: list = []

    def open(self, roots: list[str], context_tokens: int) -> None:
        """Start indexing `roots` (directories); a missing one is logged and skipped."""
        if os.environ.get(ENV_SWITCH, "1") == "0":
            log.info("workspace indexing is off (%s=0)", ENV_SWITCH)
            return
        from repo_context.service import RepoContext

        for root in dict.fromkeys(roots):
            if Path(root).is_dir():
                self.folders.append(RepoContext(Path(root), context_tokens))
                log.info("indexing workspace folder %s in the background", root)
            else:
                log.warning("workspace folder %s is not a directory; not indexed", root)

    def _folder(self, doc: Document):
        for folder in self.folders:
            if doc.path and folder.workspace.relative(doc.path) is not None:
                return folder
        return None

    def context_for(self, doc: Document, prefix: str, suffix: str, request_id: str) -> tuple[ContextFile, ...]:
        folder = self._folder(doc)
        if folder is None:
            return ()
        return folder.context_for(doc.path, prefix, suffix, doc.language, request_id)

    def edited(self, doc: Document, line: int) -> None:
        """`doc` changed around `line`: reindex it on the next pass and remember the chunk."""
        folder = self._folder(doc)
        if folder is not None:
            folder.workspace.update(doc.path, doc.text)
            folder.ring.add(folder.workspace.relative(doc.path) or doc.path, doc.text, line)

    def close(self) -> None:
        for folder in self.folders:
            folder.close()
        self.folders = []
