"""A workspace's index, built and kept current in a background thread; requests read the latest snapshot.

The index holds every code file of the workspace (the walk `codegemma pack` uses, `training/walk.py`), each
file's definitions (`repo_context.tags`), the import graph (the resolver `codegemma pack` uses,
`training/resolve.py`, so training and inference agree on what a file depends on) and a BM25 index of windows
(`repo_context.lexical`). A rescan reparses only files whose text changed; edits an editor reports
(`update`) are indexed on the next pass without waiting for the poll. A request never waits: it reads
`snapshot`, which is empty until the first pass is done and is replaced whole when a pass finishes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from fim import syntax
from repo_context.lexical import LexicalIndex, Window, windows
from repo_context.tags import Definition, definitions
from training import resolve
from training.walk import WalkLimits, walk_repo

log = logging.getLogger(__name__)

#: Seconds between rescans of the workspace for files changed outside the editor.
POLL_SECONDS = 5.0
#: Most files indexed in one workspace (the walk stops after these, in path order).
MAX_FILES = 20_000


@dataclass(frozen=True)
class FileEntry:
    path: str
    language: str | None
    text: str
    definitions: tuple[Definition, ...]
    imports: tuple[resolve.ImportRef, ...]
    windows: tuple[Window, ...]


@dataclass(frozen=True)
class Snapshot:
    """One consistent view of the index; never changed after it is published."""

    files: Mapping[str, FileEntry] = field(default_factory=dict)
    by_name: Mapping[str, tuple[Definition, ...]] = field(default_factory=dict)
    resolver: resolve.RepoIndex = field(default_factory=resolve.RepoIndex)
    lexical: LexicalIndex | None = None

    def imported(self, path: str, text: str | None = None, language: str | None = None) -> list[str]:
        """Workspace files that `path` imports (read from `text` when given, else from the index)."""
        entry = self.files.get(path)
        language = language or (entry.language if entry else syntax.language_for(path))
        refs = resolve.extract_imports(text, language) if text is not None else (entry.imports if entry else ())
        out: dict[str, None] = {}
        for ref in refs:
            for target in self.resolver.resolve(ref, path, language):
                out.setdefault(target, None)
        return list(out)


def index_file(path: str, text: str, language: str | None) -> FileEntry:
    """Everything the index keeps about one file."""
    return FileEntry(path, language, text, tuple(definitions(text, language, path)),
                     tuple(resolve.extract_imports(text, language)), tuple(windows(path, text)))  # fmt: skip


def build_snapshot(entries: Mapping[str, FileEntry]) -> Snapshot:
    by_name: dict[str, list[Definition]] = defaultdict(list)
    for entry in entries.values():
        for d in entry.definitions:
            by_name[d.name].append(d)
    resolver = resolve.RepoIndex.build((e.path, e.language) for e in entries.values())
    lexical = LexicalIndex(w for e in entries.values() for w in e.windows)
    return Snapshot(dict(entries), {k: tuple(v) for k, v in by_name.items()}, resolver, lexical)


class Workspace:
    """The index of the files under `root`, kept current by a daemon thread once `start` is called."""

    def __init__(self, root: Path, *, poll_seconds: float = POLL_SECONDS, max_files: int = MAX_FILES) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise NotADirectoryError(f"the workspace {root} is not a directory")
        self.poll_seconds, self.max_files = poll_seconds, max_files
        self.snapshot = Snapshot()
        #: Passes finished and files parsed in all of them (incremental indexing parses only changes).
        self.passes, self.parsed = 0, 0
        self._overlay: dict[str, str] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Workspace:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"index {self.root}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the first pass is published (for one-shot callers like `codegemma complete`)."""
        return self._ready.wait(timeout)

    def relative(self, path: str | Path) -> str | None:
        """`path` as the index names it (POSIX, relative to the root), or None when it is outside."""
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return None

    def update(self, path: str | Path, text: str) -> None:
        """An editor's current text of a file: indexed on the next pass, which starts now."""
        rel = self.relative(path)
        if rel is None:
            return
        with self._lock:
            self._overlay[rel] = text
        self._wake.set()

    def refresh(self) -> Snapshot:
        """Run one indexing pass in the calling thread and publish it (the thread calls this too)."""
        old = self.snapshot.files
        with self._lock:
            overlay = dict(self._overlay)
        entries: dict[str, FileEntry] = {}
        skipped: Counter = Counter()
        for i, found in enumerate(walk_repo(self.root, self.root.name, syntax.language_for, WalkLimits(), skipped)):
            if i >= self.max_files:
                break
            text = overlay.pop(found.path, found.text)
            entries[found.path] = self._entry(old, found.path, text, found.language)
        for path, text in overlay.items():  # open in the editor, not yet (or never) saved
            entries[path] = self._entry(old, path, text, syntax.language_for(path))
        if self.passes and entries.keys() == old.keys() and all(entries[p] is old[p] for p in entries):
            snapshot = self.snapshot  # nothing changed: keep the published index (and its BM25 arrays)
        else:
            snapshot = build_snapshot(entries)
        self.snapshot = snapshot
        self.passes += 1
        self._ready.set()
        return snapshot

    def _entry(self, old: Mapping[str, FileEntry], path: str, text: str, language: str | None) -> FileEntry:
        previous = old.get(path)
        if previous is not None and previous.text == text:
            return previous
        self.parsed += 1
        return index_file(path, text, language)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                snapshot = self.refresh()
                log.info("indexed %s: %d files in %.0f ms", self.root, len(snapshot.files),
                         1000 * (time.perf_counter() - started))  # fmt: skip
            except Exception:  # noqa: BLE001 - a broken file must never stop the index; the last snapshot stays
                log.exception("indexing %s failed; completions use the previous index", self.root)
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
