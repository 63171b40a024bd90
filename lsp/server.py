"""The language server: inline completions (LSP 3.18), a completion fallback, hints and telemetry.

State lives on `CodegemmaServer`; the handlers registered by `create_server`
are small: they find the document, call plain functions (`lsp.context`,
`lsp.hints`) and await model work that runs in worker threads (`lsp.work`).
Every request is logged with an id and the time each stage took.

Methods:
- `textDocument/inlineCompletion`: one item inserting the completion (or, in
  hint mode, a hint comment) at the cursor; its command reports acceptance;
  a manual trigger (`Invoked`) gets up to `alternatives` distinct items, the greedy one first;
- `textDocument/completion`: the same text as one item, for clients without inline completion;
- `workspace/executeCommand` `codegemma.hint` (a fuller hint, also shown with
  `window/showMessage`) and `codegemma.accepted`;
- `codegemma/stats` and `codegemma/prompt` (custom requests, see `lsp.protocol`);
- `codegemma/event` (notification): what became of a shown item; counted in the stats, then handed to
  each callable in `CodegemmaServer.on_event` as `hook(event, shown_item)` (an `lsp.protocol.SuggestionEvent`
  and the `lsp.telemetry.ShownItem` with the text and document it was shown for; unknown ids never reach a
  hook, and a hook that raises is logged, never a crash);
- `workspace/didChangeConfiguration`: settings under the "codegemma" key.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping

from lsprotocol import types
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from engine.backend import CancelToken, CompletionRequest, new_request_id
from engine.defaults import DTYPE, VERSION
from engine.errors import EngineError
from fim.budget import precut_prefix, precut_suffix
from fim.errors import FimError
from lsp import hints
from lsp.alternatives import distinct_completions
from lsp.backends import Backends
from lsp.context import related_files
from lsp.repo import WorkspaceContext
from lsp.documents import Document, DocumentStore, column_to_index, uri_to_path
from lsp.errors import LspError
from lsp.feedback import ServerFeedback
from lsp.framing import CHUNK, serve, stdin_chunks
from lsp.prefetch import Prefetcher
from lsp.protocol import (
    ACCEPTED_COMMAND, CURSOR_METHOD, EVENT_METHOD, HINT_COMMAND, PROMPT_METHOD, SETTINGS_SECTION, STATS_METHOD,
    ContextView, HintResult, PromptView, Settings, SuggestionEvent, plain_json, settings_section,
)  # fmt: skip
from lsp.rpc import CodegemmaProtocol
from lsp.telemetry import ShownItem, Telemetry
from lsp.work import InFlight, in_thread

log = logging.getLogger(__name__)

NAME = "codegemma"
#: Characters kept on each side of the cursor per token of budget before the token budget is applied:
#: generous (code averages 3-4 characters a token), it only spares tokenizing a huge file every request.
CHARS_PER_TOKEN = 8
USER_ERRORS = (EngineError, FimError, LspError)


class CodegemmaServer(LanguageServer):
    def __init__(self, settings: Settings = Settings(), *, dtype: str = DTYPE, threads: int | None = None):
        super().__init__(NAME, VERSION, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=CodegemmaProtocol)  # fmt: skip
        #: Settings from the command line; the client's initializationOptions go on top of them.
        self.cli_settings = settings
        self.initial_settings = settings
        self.settings = settings
        self.documents = DocumentStore()
        self.backends = Backends(dtype=dtype, threads=threads)
        self.inflight = InFlight()
        self.prefetch = Prefetcher(self)
        self.telemetry = Telemetry()
        #: Called as `hook(event, shown_item)` for each `codegemma/event` about an item this server showed.
        self.on_event: list[Callable[[SuggestionEvent, ShownItem], None]] = []
        #: The opt-in feedback log (setting feedback_log): shown items, their fates, retention.
        self.feedback = ServerFeedback(self)
        self.on_event.append(self.feedback.on_event)
        self._reported: set[str] = set()
        #: The workspace folders' index (lsp.repo), opened at initialize.
        self.repo = WorkspaceContext()

    # --- transport: pygls' frame reader replaced by one that recovers (lsp.framing) ---------

    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))

        async def main() -> None:
            await serve(stdin_chunks(stdin or sys.stdin.buffer), self.protocol.receive, self.protocol.unreadable,
                        self._stop_event)  # fmt: skip

        self._run(main())

    def start_tcp(self, host: str, port: int) -> None:
        self._stop_event = stop = threading.Event()

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.protocol.set_writer(writer)  # type: ignore[arg-type]
            await serve(lambda: reader.read(CHUNK), self.protocol.receive, self.protocol.unreadable, stop)
            self.shutdown()

        async def main() -> None:
            self._server = await asyncio.start_server(connection, host, port)
            log.info("listening on %s:%d", host, port)
            async with self._server:
                await self._server.serve_forever()

        self._run(main())

    def _run(self, main: Any) -> None:
        try:
            asyncio.run(main)
        except BrokenPipeError:
            log.error("the connection to the client is lost; shutting down")
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):  # `exit`, or the TCP server closed
            pass
        finally:
            self.shutdown()

    # --- settings and errors ---------------------------------------------------------

    def apply_settings(self, changes: Mapping[str, Any] | None, *, initial: bool = False) -> None:
        """Apply a client's settings object; a bad value is reported and the old settings stay."""
        base = self.cli_settings if initial else self.initial_settings
        unknown = Settings.unknown_keys(changes)
        if unknown:
            log.warning("ignoring unknown settings: %s", ", ".join(unknown))
        try:
            settings = base.updated(changes)
        except LspError as exc:
            self.report(f"codegemma: {exc}; keeping the previous settings")
            return
        if initial:
            self.initial_settings = settings
        if settings != self.settings:
            log.info("settings: %s", settings.to_json())
            self._reported.clear()
        self.settings = settings

    def report(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        """Log `message` and show it to the user once (not on every keystroke)."""
        log.log(logging.ERROR if kind == types.MessageType.Error else logging.INFO, "%s", message)
        if message not in self._reported:
            self._reported.add(message)
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    # --- completions -----------------------------------------------------------------

    def completion_request(self, doc: Document, position: types.Position) -> CompletionRequest:
        prefix, suffix = doc.split(position, self.documents.encoding)
        # A cheap cut before the token budget's; both cut before anchor lines, so the start stays put.
        keep = self.settings.context_tokens * CHARS_PER_TOKEN
        request_id = new_request_id("lsp")
        return CompletionRequest(
            prefix=precut_prefix(prefix, keep),
            suffix=precut_suffix(suffix, keep),
            path=self.documents.display_path(doc),
            context=related_files(doc, self.documents, self.documents.display_path)
            + self.repo.context_for(doc, prefix, suffix, request_id),
            language=doc.language,
            max_tokens=self.settings.max_tokens,
            cache_key=doc.uri,
            request_id=request_id,
        )

    async def suggest(self, uri: str, position: types.Position) -> str:
        """The text to insert at `position`: a completion, or a hint comment in hint mode ("" for none)."""
        return (await self.suggestions(uri, position))[0] or ""

    async def suggestions(self, uri: str, position: types.Position, n: int = 1) -> list[str]:
        """Up to `n` distinct texts to insert at `position` (`[""]` for none); the first is the greedy one."""
        started = time.perf_counter()
        with self._request(uri) as token:
            self.prefetch.outranked(uri)
            try:
                if self.settings.debounce_ms:
                    await asyncio.sleep(self.settings.debounce_ms / 1000)
                if token.cancelled:
                    self.telemetry.cancelled += 1
                    return [""]
                doc = self.documents.get(uri)
                if self.settings.mode == "hint":
                    texts = [await self._inline_hint(doc, position, token)]
                else:
                    texts = await self._complete(doc, position, token, n)
                if token.cancelled:  # superseded by a newer request or an edit while the model ran
                    self.telemetry.cancelled += 1
                    return [""]
                self.telemetry.answered((time.perf_counter() - started) * 1000)
                return texts or [""]
            except USER_ERRORS as exc:
                self.report(f"codegemma: {exc}")
                return [""]

    @contextmanager
    def _request(self, key: str) -> Iterator[CancelToken]:
        """Count one editor request running under `key` (a newer one for `key` cancels it), and its cancellation."""
        self.telemetry.requests += 1
        token = self.inflight.start(key)
        try:
            yield token
        except asyncio.CancelledError:  # $/cancelRequest or shutdown
            token.cancel()
            self.telemetry.cancelled += 1
            raise
        finally:
            self.inflight.finish(key, token)

    async def _complete(self, doc: Document, position: types.Position, token: CancelToken, n: int) -> list[str]:
        loading = time.perf_counter()
        backend = await self.backends.completion(self.settings)
        if token.cancelled:
            return []
        request = self.completion_request(doc, position)
        started = time.perf_counter()
        if n > 1:
            found = await in_thread(distinct_completions, backend, request, n, cancel=token, call=self._measured)
            log.info(
                "%s: %s:%d:%d %d of %d alternatives in %.0f ms",
                request.request_id,
                request.path,
                position.line + 1,
                position.character + 1,
                len(found),
                n,
                (time.perf_counter() - started) * 1000,
            )
            return [c.text for c in found]
        completion = await in_thread(self._measured, backend.complete, request, cancel=token)
        log.info("%s: %s:%d:%d %s, %d chars in %.0f ms (backend ready after %.0f ms)", request.request_id,
                 request.path, position.line + 1, position.character + 1, completion.finish_reason,
                 len(completion.text), (time.perf_counter() - started) * 1000,
                 (started - loading) * 1000)  # fmt: skip
        return [] if completion.finish_reason == "cancelled" else [completion.text]

    def suggestion_event(self, params: Any) -> None:
        """Count a `codegemma/event` and hand it to the `on_event` hooks; bad params are logged and counted."""
        try:
            event = SuggestionEvent.from_params(plain_json(params))
        except LspError as exc:
            self.telemetry.ignored_event()
            log.warning("%s; event ignored", exc)
            return
        item = self.telemetry.event(event)
        if item is None:
            log.info("event %s for unknown item %r ignored", event.kind, event.item)
            return
        for hook in self.on_event:
            try:
                hook(event, item)
            except Exception:
                log.exception("codegemma/event hook %r failed", hook)

    def _measured(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a model call (in a worker thread), counting it while it runs."""
        self.telemetry.call_started()
        started = time.perf_counter()
        result = None
        try:
            result = call(*args, **kwargs)
            return result
        finally:
            stopped = getattr(result, "finish_reason", None) == "cancelled" or getattr(result, "cancelled", False)
            self.telemetry.call_finished((time.perf_counter() - started) * 1000, stopped_early=stopped)

    # --- hints -------------------------------------------------------------------------

    async def _inline_hint(self, doc: Document, position: types.Position, token: CancelToken) -> str:
        line = doc.line(position.line)
        at = column_to_index(line, position.character, self.documents.encoding)
        before, after = line[:at], line[at:]
        if hints.as_comment("?", doc, before, after) is None:
            return ""  # no comment syntax that fits here; do not spend model time
        chat = await self.backends.chat(self.settings)
        if token.cancelled:
            return ""
        ctx = hints.hint_context(doc, doc.offset_at(position, self.documents.encoding))
        started = time.perf_counter()
        outcome = await in_thread(self._measured, hints.write_hint, chat, ctx, full=False, language=doc.language,
                                  cancel=token, max_tokens=self.settings.max_tokens)  # fmt: skip
        log.info("hint for %s:%d: %d attempts, %d rejected%s, %.0f ms", doc.path, position.line + 1,
                 outcome.attempts, outcome.rejected, ", generic fallback" if outcome.fallback else "",
                 (time.perf_counter() - started) * 1000)  # fmt: skip
        return "" if outcome.cancelled else hints.as_comment(outcome.text, doc, before, after) or ""

    async def full_hint(self, uri: str, position: types.Position) -> str:
        started = time.perf_counter()
        with self._request(uri + "#hint") as token:
            doc = self.documents.get(uri)
            chat = await self.backends.chat(self.settings)
            ctx = hints.hint_context(doc, doc.offset_at(position, self.documents.encoding))
            outcome = await in_thread(self._measured, hints.write_hint, chat, ctx, full=True, language=doc.language,
                                      cancel=token, max_tokens=self.settings.max_tokens)  # fmt: skip
            if outcome.cancelled:
                self.telemetry.cancelled += 1
                return ""
            self.telemetry.answered((time.perf_counter() - started) * 1000)
            return outcome.text

    # --- inspection ----------------------------------------------------------------------

    def prompt_view(self, uri: str, position: types.Position) -> PromptView:
        doc = self.documents.get(uri)
        request = self.completion_request(doc, position)
        return PromptView(path=request.path, language=doc.language, prefix=request.prefix, suffix=request.suffix,
                          context=[ContextView(c.path, c.content) for c in request.context])  # fmt: skip


def _position_params(params: Any) -> types.TextDocumentPositionParams:
    """`{"textDocument": {"uri": ...}, "position": {...}}` from a custom request or command argument."""
    from lsprotocol.converters import get_converter

    if isinstance(params, types.TextDocumentPositionParams):
        return params
    params = plain_json(params)
    try:
        return get_converter().structure(params, types.TextDocumentPositionParams)
    except Exception:  # cattrs raises a validation error group
        raise LspError(f"expected {{textDocument: {{uri}}, position: {{line, character}}}}, got {params!r}") from None


def create_server(
    settings: Settings = Settings(), *, dtype: str = DTYPE, threads: int | None = None
) -> CodegemmaServer:
    """A server with every handler registered; start it with `start_io()` or `start_tcp(host, port)`."""
    server = CodegemmaServer(settings, dtype=dtype, threads=threads)

    @server.feature(types.INITIALIZE)
    def initialize(ls: CodegemmaServer, params: types.InitializeParams) -> None:
        encoding = ls.workspace.position_encoding
        root = params.root_uri or (params.workspace_folders[0].uri if params.workspace_folders else None)
        ls.documents = DocumentStore(str(getattr(encoding, "value", encoding) or "utf-16"),
                                     root=uri_to_path(root) if root else None)  # fmt: skip
        ls.apply_settings(params.initialization_options, initial=True)
        folders = [uri_to_path(f.uri) for f in params.workspace_folders or []] or ([uri_to_path(root)] if root else [])
        ls.repo.open(folders, ls.settings.context_tokens)
        log.info("client %s; position encoding %s; settings %s",
                 params.client_info.name if params.client_info else "unknown", ls.documents.encoding,
                 ls.settings.to_json())  # fmt: skip

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: CodegemmaServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        ls.documents.open(item.uri, item.text, item.language_id, item.version)
        ls.prefetch.opened(item.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: CodegemmaServer, params: types.DidChangeTextDocumentParams) -> None:
        if params.text_document.uri not in ls.documents:
            log.warning("didChange for %s, which is not open; ignored", params.text_document.uri)
            return
        # An edit makes any running completion of this document stale: stop it.
        ls.inflight.cancel(params.text_document.uri)
        doc = ls.documents.change(params.text_document.uri, params.text_document.version, params.content_changes)
        last = params.content_changes[-1] if params.content_changes else None
        ls.repo.edited(doc, last.range.start.line if getattr(last, "range", None) else 0)
        ls.feedback.edited(params.text_document.uri)
        ls.prefetch.edited(params.text_document.uri, params.content_changes)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CodegemmaServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.inflight.cancel(params.text_document.uri)
        ls.feedback.closed(params.text_document.uri)
        ls.documents.close(params.text_document.uri)
        ls.prefetch.closed(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: CodegemmaServer, params: types.InlineCompletionParams):
        manual = params.context is not None and params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
        uri = params.text_document.uri
        started = time.perf_counter()
        texts = await ls.suggestions(uri, params.position, ls.settings.alternatives if manual else 1)
        here = types.Range(params.position, params.position)
        items = []
        for text in filter(None, texts):
            shown = ls.telemetry.item_shown(text, uri)
            ls.feedback.shown(shown, uri, params.position, text, started)
            command = types.Command(title="accepted", command=ACCEPTED_COMMAND, arguments=[shown])
            items.append(types.InlineCompletionItem(insert_text=text, range=here, command=command))
        return types.InlineCompletionList(items=items)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    async def completion(ls: CodegemmaServer, params: types.CompletionParams) -> types.CompletionList:
        text = await ls.suggest(params.text_document.uri, params.position)
        if not text:
            return types.CompletionList(is_incomplete=True, items=[])
        first = text.strip().splitlines()[0] if text.strip() else text
        item = types.CompletionItem(
            label=first if len(first) <= 60 else first[:59] + "…",
            kind=types.CompletionItemKind.Text,
            detail=NAME,
            documentation=text if "\n" in text.strip() else None,
            text_edit=types.TextEdit(types.Range(params.position, params.position), text),
            insert_text_format=types.InsertTextFormat.PlainText,
            sort_text="0",
            command=types.Command(title="accepted", command=ACCEPTED_COMMAND, arguments=[ls.telemetry.item_shown()]),
        )
        return types.CompletionList(is_incomplete=True, items=[item])

    @server.command(HINT_COMMAND)
    async def hint_command(ls: CodegemmaServer, *args: Any) -> dict[str, str]:
        if not args:
            raise LspError(f"{HINT_COMMAND} needs one argument: {{textDocument: {{uri}}, position}}")
        where = _position_params(args[0])
        try:
            text = await ls.full_hint(where.text_document.uri, where.position)
        except USER_ERRORS as exc:
            ls.report(f"codegemma: {exc}")
            return HintResult("").to_json()
        if text:
            ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=f"Hint: {text}"))
        return HintResult(text).to_json()

    @server.command(ACCEPTED_COMMAND)
    def accepted_command(ls: CodegemmaServer, *args: Any) -> None:
        for item_id in args:
            if not ls.telemetry.item_accepted(str(item_id)):
                log.info("acceptance of unknown item %r ignored", item_id)
            ls.feedback.accepted(str(item_id))

    @server.feature(EVENT_METHOD)
    def event(ls: CodegemmaServer, params: Any) -> None:
        ls.suggestion_event(params)

    @server.feature(STATS_METHOD)
    def stats(ls: CodegemmaServer, params: Any) -> dict[str, Any]:
        return ls.telemetry.snapshot().to_json()

    @server.feature(PROMPT_METHOD)
    def prompt(ls: CodegemmaServer, params: Any) -> dict[str, Any]:
        where = _position_params(params)
        return ls.prompt_view(where.text_document.uri, where.position).to_json()

    @server.feature(CURSOR_METHOD)
    def cursor(ls: CodegemmaServer, params: Any) -> None:
        where = _position_params(params)
        ls.prefetch.cursor(where.text_document.uri, where.position)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: CodegemmaServer, params: types.DidChangeConfigurationParams) -> None:
        section = settings_section(params.settings)
        if section is None and ls.client_capabilities.workspace and ls.client_capabilities.workspace.configuration:
            # Pull-model clients (VS Code) send an empty notification and answer workspace/configuration.
            item = types.ConfigurationItem(section=SETTINGS_SECTION)
            answer = await ls.workspace_configuration_async(types.ConfigurationParams(items=[item]))
            section = answer[0] if answer and isinstance(answer[0], Mapping) else None
        if section is not None:
            ls.apply_settings(section)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: CodegemmaServer, params: Any) -> None:
        log.info("shutting down: cancelling %d running request(s)", len(ls.inflight))
        ls.inflight.cancel_all()
        ls.prefetch.close()
        ls.feedback.close()
        ls.backends.close()

    return server
