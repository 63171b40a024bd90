"""The opt-in feedback log: what became of every suggestion shown, in a local JSONL file.

Off unless the `feedback_log` setting is on. One record per shown item, written
when its fate is known: the prompt as sent (prefix/suffix window, path,
language, the other files' paths), the suggestion, latency, and the fate:

- "accepted" (whole) or "partial" (`kept` is what the user kept), from the
  `codegemma.accepted` command and `codegemma/event`; `retained` says whether
  the kept text was still in the document `RETAIN_S` seconds later;
- "dismissed", from `codegemma/event`;
- "typed_over": the server sees it in didChange: the text typed at the item's
  place no longer agrees with the suggestion and the user finished as many
  lines as the suggestion had; `typed` is those lines;
- "typed_through": the user typed the whole suggestion without accepting it;
- "ignored": none of the above before the document closed, the server stopped
  or too many newer items piled up.

Every text goes through `training.secret_scan.scrub` (the scanner `codegemma
pack` uses) before it is written. The file lives under the cache directory
(`$CODEGEMMA_FEEDBACK_LOG` overrides the path), is rotated to `.1` past
`MAX_BYTES`, and is never sent anywhere. A writer thread appends and flushes
one line per record, so the event loop never waits on the disk and a crash
loses at most the record being written.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsp.protocol import PromptView, SuggestionEvent

log = logging.getLogger(__name__)

#: Seconds after an acceptance at which the accepted text is looked for again.
RETAIN_S = 30.0
#: The log is rotated (to `<name>.1`, replacing an older one) when it grows past this.
MAX_BYTES = 32 * 1024 * 1024
#: Unresolved items remembered per document; older ones are logged as "ignored".
PENDING_PER_DOCUMENT = 16
#: How far (in characters) around its place accepted text is looked for when checking retention.
RETAIN_SLACK = 2000
SCHEMA = 1


def default_path() -> Path:
    env = os.environ.get("CODEGEMMA_FEEDBACK_LOG")
    if env:
        return Path(env).expanduser()
    from engine.bundled import cache_root

    return cache_root() / "feedback" / "feedback.jsonl"


def clean(text: str) -> str:
    """`text` with every line holding a credential removed ("" when it holds a private key)."""
    from training.secret_scan import scrub

    return scrub(text).text or ""


class LogWriter:
    """Appends JSON records to `path` from a daemon thread: one line, flushed, per record."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="codegemma-feedback", daemon=True)
        self._thread.start()

    def write(self, record: dict[str, Any]) -> None:
        self._queue.put(record)

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        handle = None
        while (record := self._queue.get()) is not None:
            try:
                if handle is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    handle = open(self.path, "a", encoding="utf-8")
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                handle.flush()
                if handle.tell() > self.max_bytes:
                    handle.close()
                    handle = None
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            except OSError as exc:
                log.error("feedback log %s: %s; record dropped", self.path, exc)
                handle = None
        if handle is not None:
            handle.close()


@dataclass
class Pending:
    """A shown item whose fate is not known yet."""

    item: str
    uri: str
    #: Document text before and after the cursor when the item was shown.
    head: str
    tail: str
    suggestion: str
    record: dict[str, Any]
    kept: str | None = None
    kind: str | None = None
    client_told: bool = False
    timer: Any = field(default=None, repr=False)

    def inserted(self, text: str) -> str | None:
        """What now stands where the item was shown, or None when the text around it changed."""
        if (
            len(text) < len(self.head) + len(self.tail)
            or not text.startswith(self.head)
            or not text.endswith(self.tail)
        ):
            return None
        return text[len(self.head) : len(text) - len(self.tail)]


def suggestion_lines(text: str) -> int:
    return len(text.rstrip("\n").split("\n"))


class FeedbackTracker:
    """Follows shown items to their fate and logs each once; lives on the event loop."""

    def __init__(self, path: Path | None = None, *, retain_s: float = RETAIN_S, max_bytes: int = MAX_BYTES) -> None:
        self.path = path or default_path()
        self.retain_s = retain_s
        self._writer = LogWriter(self.path, max_bytes)
        self._pending: dict[str, Pending] = {}
        self._texts: dict[str, str] = {}

    # --- what the server reports ---------------------------------------------------

    def shown(self, item: str, uri: str, text: str, offset: int, prompt: PromptView, suggestion: str,
              latency_ms: float, model: dict[str, Any]) -> None:  # fmt: skip
        record = {
            "v": SCHEMA, "time": time.time(), "item": item, "path": prompt.path, "language": prompt.language,
            "prefix": clean(prompt.prefix), "suffix": clean(prompt.suffix),
            "context_paths": [c.path for c in prompt.context], "suggestion": clean(suggestion),
            "latency_ms": round(latency_ms, 1), **model,
        }  # fmt: skip
        self._pending[item] = Pending(item, uri, text[:offset], text[offset:], suggestion, record)
        self._texts[uri] = text
        same = [p for p in self._pending.values() if p.uri == uri and p.kind is None]
        for old in same[: max(0, len(same) - PENDING_PER_DOCUMENT)]:
            self._finish(old, "ignored")

    def accepted(self, item: str) -> None:
        """The `codegemma.accepted` command: the whole item, unless an event says it was partial."""
        pending = self._pending.get(item)
        if pending is not None and pending.kind is None:
            self._accept(pending, "accepted", pending.suggestion)

    def event(self, event: SuggestionEvent) -> bool:
        """A client's `codegemma/event`; False for an item this server is not following."""
        pending = self._pending.get(event.item)
        if pending is None:
            return False
        if event.kind in ("accepted", "partial"):
            kept = event.accepted or (pending.suggestion if event.kind == "accepted" else "")
            if event.kind == "partial" and pending.kind == "partial" and not kept.startswith(pending.kept or ""):
                kept = (pending.kept or "") + kept  # a word or line at a time: the parts add up
            if pending.kind is None or pending.kept != kept:
                self._cancel_timer(pending)
                self._accept(pending, event.kind, kept)
            pending.client_told = True
        elif pending.kind is None:
            self._finish(pending, event.kind, typed=event.typed)
        return True

    def edited(self, uri: str, text: str) -> None:
        """The document after a didChange: items typed over or typed through are resolved."""
        self._texts[uri] = text
        for pending in [p for p in self._pending.values() if p.uri == uri and p.kind is None]:
            now = pending.inserted(text)
            if now is None:
                continue
            if now.startswith(pending.suggestion):
                self._finish(pending, "typed_through", typed=pending.suggestion)
            elif not pending.suggestion.startswith(now):
                lines = suggestion_lines(pending.suggestion)
                if now.count("\n") >= lines:
                    self._finish(pending, "typed_over", typed="\n".join(now.split("\n")[:lines]))

    def closed(self, uri: str) -> None:
        for pending in [p for p in self._pending.values() if p.uri == uri]:
            self._settle(pending)
        self._texts.pop(uri, None)

    def close(self) -> None:
        """Log every item still followed (acceptances are checked for retention now) and stop the writer."""
        for pending in list(self._pending.values()):
            self._settle(pending)
        self._writer.close()

    # --- fates -----------------------------------------------------------------------

    def _accept(self, pending: Pending, kind: str, kept: str) -> None:
        pending.kind, pending.kept = kind, kept
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a plain call in a test): retention is checked when the item is settled
        pending.timer = loop.call_later(self.retain_s, self._retention, pending)

    def _retention(self, pending: Pending) -> None:
        if self._pending.get(pending.item) is pending:
            self._finish(pending, pending.kind or "accepted", kept=pending.kept or "", retained=self._retained(pending))

    def _retained(self, pending: Pending) -> bool:
        text = self._texts.get(pending.uri, "")
        at = len(pending.head)
        kept = pending.kept or ""
        return text.find(kept, max(0, at - RETAIN_SLACK), at + len(kept) + RETAIN_SLACK) != -1

    def _settle(self, pending: Pending) -> None:
        self._cancel_timer(pending)
        if pending.kind is None:
            self._finish(pending, "ignored")
        else:
            self._retention(pending)

    def _cancel_timer(self, pending: Pending) -> None:
        if pending.timer is not None:
            pending.timer.cancel()
            pending.timer = None

    def _finish(self, pending: Pending, fate: str, *, kept: str = "", typed: str = "",
                retained: bool | None = None) -> None:  # fmt: skip
        self._pending.pop(pending.item, None)
        self._cancel_timer(pending)
        record = dict(pending.record, fate=fate, kept=clean(kept), typed=clean(typed), retained=retained,
                      resolved_after_s=round(time.time() - pending.record["time"], 3))  # fmt: skip
        self._writer.write(record)


class ServerFeedback:
    """The server's side: follows its `feedback_log` setting and feeds a `FeedbackTracker` (None while off)."""

    def __init__(self, server: Any, path: Path | None = None, retain_s: float = RETAIN_S) -> None:
        self.server = server
        self.path = path
        self.retain_s = retain_s
        self.tracker: FeedbackTracker | None = None

    def _active(self) -> FeedbackTracker | None:
        wanted = bool(getattr(self.server.settings, "feedback_log", False))
        if wanted and self.tracker is None:
            self.tracker = FeedbackTracker(self.path, retain_s=self.retain_s)
            log.info("feedback log on: %s (local only, never sent)", self.tracker.path)
        elif not wanted and self.tracker is not None:
            self.tracker.close()
            self.tracker = None
        return self.tracker

    def shown(self, item: str, uri: str, position: Any, suggestion: str, started: float) -> None:
        """An inline item went to the client; `started` is `time.perf_counter()` when its request arrived."""
        tracker = self._active()
        if tracker is None or uri not in self.server.documents:
            return
        doc = self.server.documents.get(uri)
        settings = self.server.settings
        model = {"backend": settings.backend, "model": settings.model, "adapter": settings.adapter}
        tracker.shown(item, uri, doc.text, doc.offset_at(position, self.server.documents.encoding),
                      self.server.prompt_view(uri, position), suggestion, (time.perf_counter() - started) * 1000,
                      model)  # fmt: skip

    def accepted(self, item: str) -> None:
        if self.tracker is not None:
            self.tracker.accepted(item)

    def on_event(self, event: SuggestionEvent, _item: Any = None) -> None:
        """A `codegemma/event` hook (`CodegemmaServer.on_event`)."""
        if self.tracker is not None:
            self.tracker.event(event)

    def edited(self, uri: str) -> None:
        if self.tracker is not None and uri in self.server.documents:
            self.tracker.edited(uri, self.server.documents.get(uri).text)

    def closed(self, uri: str) -> None:
        if self.tracker is not None:
            self.tracker.closed(uri)

    def close(self) -> None:
        if self.tracker is not None:
            self.tracker.close()
            self.tracker = None
