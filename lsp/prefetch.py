"""Warming the prompt cache the way editors work: read a document's prompt before the completion is asked for.

On a CPU most of a completion's time can go into reading the prompt. The
editor asks only after the user pauses, but the server learns earlier where
the cursor is: when a file opens, when typing stops for a moment, and when
the cursor lands on another line (`codegemma/cursor`, a notification our
clients send; there is no standard one). At each of these the server builds
the prompt a completion there would have and sends it to the backend as a
prefill-only request (`max_tokens` 0: the in-process engine, our server and
llama.cpp read it into their prompt cache and generate nothing), so the real
request that follows reads only what changed since.

Warming is background work and never delays a real request:

- it starts only after the document has been quiet for `PAUSE_MS`, and a
  newer event for the document replaces it;
- a real request for the document cancels it; the in-process engine keeps
  the prompt chunks already read and hands them to that request, and runs
  prefill-only work only while no real request reads or decodes;
- one per document at a time; none while a real request for it runs.

The `prefetch` setting (`--no-prefetch`) turns it off. A backend that refuses
prefill-only requests (a peer without `max_tokens` 0) is not asked again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Iterable

from lsprotocol import types

from engine.backend import CancelToken, new_request_id
from lsp.work import in_thread

if TYPE_CHECKING:
    from lsp.server import CodegemmaServer

log = logging.getLogger(__name__)

#: Quiet time after an event before the prompt is read (ms): shorter than the clients' typing debounce
#: (300 ms in Neovim), so the prompt is in the cache when the real request comes.
PAUSE_MS = 100


def cursor_after(doc: Any, changes: Iterable[Any], encoding: str) -> types.Position | None:
    """Where the cursor is after `changes` were applied to `doc`: the end of the last ranged edit's text."""
    last = None
    for change in changes:
        last = change
    edit_range = getattr(last, "range", None)
    if last is None or edit_range is None:
        return None  # a whole-document change says nothing about the cursor
    return doc.position_at(doc.offset_at(edit_range.start, encoding) + len(last.text), encoding)


class Prefetcher:
    """Schedules and runs the prefill-only requests of one language server, one per document."""

    def __init__(self, server: CodegemmaServer) -> None:
        self.server = server
        #: Waiting for their pause to end.
        self._timers: dict[str, asyncio.Task[None]] = {}
        #: Reading a prompt now.
        self._running: dict[str, CancelToken] = {}
        #: Last cursor line seen per document (to tell a move to another line).
        self._lines: dict[str, int] = {}
        #: Backends that refused a prefill-only request.
        self._refused: set[str] = set()
        #: Prefill-only requests answered, for tests and logs.
        self.warmed = 0

    # --- events ---------------------------------------------------------------------

    def opened(self, uri: str) -> None:
        """A document opened: warm its prompt at the top (the cursor, if the client told us first)."""
        self.schedule(uri, types.Position(self._lines.get(uri, 0), 0))

    def edited(self, uri: str, changes: Iterable[Any]) -> None:
        """The user typed: warm the prompt at the cursor once typing pauses."""
        doc = self.server.documents.get(uri)
        position = cursor_after(doc, changes, self.server.documents.encoding)
        if position is not None:
            self._lines[uri] = position.line
            self.schedule(uri, position)

    def cursor(self, uri: str, position: types.Position) -> None:
        """The cursor moved (`codegemma/cursor`): warm the prompt there if it landed on another line."""
        moved = self._lines.get(uri) != position.line
        self._lines[uri] = position.line
        if moved and uri in self.server.documents:
            self.schedule(uri, position)

    def outranked(self, uri: str) -> None:
        """A real request for `uri` starts: drop the waiting warm-up and stop the running one."""
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        token = self._running.pop(uri, None)
        if token is not None:
            token.cancel()

    def closed(self, uri: str) -> None:
        self.outranked(uri)
        self._lines.pop(uri, None)

    def close(self) -> None:
        for uri in list({*self._timers, *self._running}):
            self.outranked(uri)

    # --- work -----------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        settings = self.server.settings
        return settings.prefetch and settings.mode == "complete"

    def schedule(self, uri: str, position: types.Position) -> None:
        """Warm the prompt at `position` after `PAUSE_MS` of quiet (a newer event for `uri` replaces this one)."""
        if not self.enabled:
            return
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        self._timers[uri] = asyncio.ensure_future(self._warm(uri, position))

    async def _warm(self, uri: str, position: types.Position) -> None:
        await asyncio.sleep(PAUSE_MS / 1000)
        if self._timers.get(uri) is asyncio.current_task():
            del self._timers[uri]
        if uri not in self.server.documents or uri in self.server.inflight:
            return
        # Built now, from the document as it is: a later edit schedules a newer warm-up.
        request = replace(self.server.completion_request(self.server.documents.get(uri), position), max_tokens=0,
                          request_id=new_request_id("warm"))  # fmt: skip
        previous = self._running.pop(uri, None)
        if previous is not None:  # superseded: the engine keeps what it read
            previous.cancel()
        token = self._running[uri] = CancelToken()
        started = time.perf_counter()
        try:
            try:
                backend = await self.server.backends.completion(self.server.settings)
            except Exception:  # a model that fails to load is reported by the real request
                return
            if token.cancelled or backend.name in self._refused:
                return
            try:
                done = await in_thread(backend.complete, request, cancel=token, name="prefetch")
            except Exception as exc:  # warming is best effort; a peer without prefill-only requests is left alone
                self._refused.add(backend.name)
                log.warning("not warming the prompt cache of %s any more: %s", backend.name, exc)
                return
            self.warmed += 1
            log.info("%s: warmed %s:%d:%d, %d prompt tokens (%d were cached) in %.0f ms, %s", request.request_id,
                     request.path, position.line + 1, position.character + 1, done.timings.prompt_tokens,
                     done.timings.cached_tokens, (time.perf_counter() - started) * 1000,
                     done.finish_reason)  # fmt: skip
        except asyncio.CancelledError:
            token.cancel()
            raise
        finally:
            if self._running.get(uri) is token:
                del self._running[uri]
