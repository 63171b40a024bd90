"""Editor replay driver: our language server, driven the way our editor clients drive it.

`codegemma lsp` runs as a subprocess over stdio, as an editor starts it, and
gets what editors/neovim sends (VS Code's client differs only in asking on
its own short pause):

- `didOpen` when the session starts, and `codegemma/cursor` whenever the
  cursor lands on another line (on open, after a jump);
- one `didChange` per edit (the line cleared, each key typed);
- on each edit, the suggestion on screen stays if the key types its next
  character; otherwise it is hidden, the request in flight is cancelled
  (`$/cancelRequest`) and `textDocument/inlineCompletion` is sent once the
  user has paused for `DEBOUNCE_MS` (Neovim's `debounce_ms`);
- an answer is shown only if the buffer and cursor are still as they were.

The server warms its prompt cache on its own (`lsp.prefetch`) unless
`--no-prefetch` is among its arguments.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from typing import Any, Sequence

from lsprotocol import types

from evals.replay import Buffer, Recorder, Session, Step

#: editors/neovim's default typing pause before a request (`debounce_ms`), in ms.
DEBOUNCE_MS = 300
CURSOR_METHOD = "codegemma/cursor"


def utf16_column(line: str, col: int) -> int:
    return len(line[:col].encode("utf-16-le")) // 2


class LspDriver:
    """Replays sessions through a `codegemma lsp` subprocess started with `args`."""

    def __init__(self, name: str, args: Sequence[str], scale: float = 1.0) -> None:
        self.name = name
        self.args = list(args)
        self.scale = scale
        self.client: Any = None
        self._ids = itertools.count(1)

    async def start(self) -> None:
        from pygls.lsp.client import LanguageClient

        self.client = LanguageClient("codegemma-replay", "1")
        await self.client.start_io(sys.executable, "-m", "cli", "--log-level", "WARNING", "lsp", *self.args)
        capabilities = types.ClientCapabilities(
            general=types.GeneralClientCapabilities(position_encodings=[types.PositionEncodingKind.Utf16]),
            text_document=types.TextDocumentClientCapabilities(
                inline_completion=types.InlineCompletionClientCapabilities()),
        )  # fmt: skip
        await self.client.initialize_async(types.InitializeParams(capabilities=capabilities))
        self.client.initialized(types.InitializedParams())

    async def begin(self, session: Session, buffer: Buffer, recorder: Recorder) -> None:
        self.buffer, self.recorder = buffer, recorder
        self.uri = session.path.resolve().as_uri()
        self.version, self.index = 1, 0
        self.shown: str | None = None
        self.pending: tuple[str, asyncio.Future[Any]] | None = None
        self.timer: asyncio.Task[None] | None = None
        self.line = -1
        item = types.TextDocumentItem(uri=self.uri, language_id="python", version=self.version, text=session.text)
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
        self._cursor()

    async def step(self, index: int, step: Step, edit: tuple[int, int, int, str]) -> None:
        self.index = index
        if step.kind == "move":
            self._dismiss()
            self._cursor()
            return
        if not step.edits:
            return
        row, start, end, text = edit  # retyped lines are ASCII: characters are UTF-16 units
        span = types.Range(types.Position(row, start), types.Position(row, end))
        self.version += 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            content_changes=[types.TextDocumentContentChangePartial(range=span, text=text)]))  # fmt: skip
        self._cursor()
        if step.kind == "key" and self.shown and self.shown.startswith(step.char) and len(self.shown) > 1:
            self.shown = self.shown[1:]  # typed along: the rest stays on screen, nothing is asked
            self.recorder.show(index, self.shown)
            return
        self._dismiss()
        self.timer = asyncio.ensure_future(self._ask_after_pause(index))

    def _cursor(self) -> None:
        """`codegemma/cursor` when the cursor is on another line than last time (what our clients send)."""
        if self.buffer.row == self.line:
            return
        self.line = self.buffer.row
        column = utf16_column(self.buffer.lines[self.buffer.row], self.buffer.col)
        self.client.protocol.notify(
            CURSOR_METHOD,
            {"textDocument": {"uri": self.uri}, "position": {"line": self.buffer.row, "character": column}},
        )

    def _dismiss(self) -> None:
        self.shown = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.pending is not None:  # its answer, an error or a stale list, is then ignored
            msg_id, _ = self.pending
            self.pending = None
            self.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))

    async def _ask_after_pause(self, index: int) -> None:
        await asyncio.sleep(DEBOUNCE_MS / 1000 * self.scale)
        self.timer = None  # from here on the request is cancelled with $/cancelRequest, not by this task
        if not self.buffer.insert:
            return
        row, col = self.buffer.row, self.buffer.col
        params = types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
            text_document=types.TextDocumentIdentifier(uri=self.uri),
            position=types.Position(row, utf16_column(self.buffer.lines[row], col)),
        )  # fmt: skip
        recorder = self.recorder
        msg_id = f"replay-{next(self._ids)}"
        future = asyncio.ensure_future(self.client.protocol.send_request_async(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id))  # fmt: skip
        self.pending = (msg_id, future)
        self.recorder.requests += 1
        try:
            result = await future
        except asyncio.CancelledError:
            return
        except Exception as exc:  # a cancelled request's error answer, or a real failure
            if "cancel" not in str(exc).lower():
                self.recorder.errors.append(str(exc))
            return
        finally:
            if self.pending is not None and self.pending[0] == msg_id:
                self.pending = None
        items = getattr(result, "items", None) or []
        if items and self.recorder is recorder and self.index == index and items[0].insert_text:
            self.shown = str(items[0].insert_text)
            self.recorder.show(index, self.shown)

    async def end(self) -> None:
        self._dismiss()
        identifier = types.TextDocumentIdentifier(uri=self.uri)
        self.client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=identifier))

    async def close(self) -> None:
        if self.client is None:
            return
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), timeout=30)
            self.client.exit(None)
        finally:
            await self.client.stop()
