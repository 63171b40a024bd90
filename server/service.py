"""The completion service: one object, built at start-up, that owns the backend.

Routers parse a request, hand a `CompletionRequest` to this service and turn
what comes back into JSON or a stream. The service loads the model in the
background (so `/health` can say "loading"), bounds how many requests may
wait (answering 503 rather than queueing without end), runs the blocking
backend call in a worker thread, and cancels generation when the client goes
away or a newer request for the same editor document arrives (it supersedes
the older one, whose upstream request, if any, is closed at its next chunk).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

from engine.backend import Backend, CancelToken, Completion, CompletionRequest
from engine.defaults import MAX_TOKENS
from engine.transport import PeerFailure
from server.errors import ServerError

log = logging.getLogger(__name__)

#: How often a waiting request checks whether its client is still there.
DISCONNECT_POLL_S = 0.1


@dataclass(frozen=True)
class ServiceLimits:
    #: Requests running or waiting at once; more are refused with 503.
    max_pending: int = 8
    #: Characters of prefix + suffix + context accepted in one request.
    max_input_chars: int = 512 * 1024
    #: `max_tokens` when a request does not say.
    default_max_tokens: int = MAX_TOKENS

    @property
    def max_body_bytes(self) -> int:
        """The largest request body read: `max_input_chars` even if every character is a 6-byte JSON escape
        (`\\u00e9`), and 1 MiB for the other fields. A larger body is refused before it is read whole."""
        return 6 * self.max_input_chars + 2**20


class CompletionService:
    def __init__(self, load: Callable[[], Backend], limits: ServiceLimits = ServiceLimits()) -> None:
        self.limits = limits
        self._load = load
        self.backend: Backend | None = None
        self.model_name: str | None = None
        self.fim_format: str | None = None
        self.dtype: str | None = None
        self.error: str | None = None
        #: Why an upstream engine (`--engine KIND=URL`) does not answer, as of the last `/health`.
        self.upstream_error: str | None = None
        self._pending = 0
        self._pending_lock = threading.Lock()
        #: The generating request of each editor document (`server.protocol.document_key`).
        self._documents: dict[str, Slot] = {}
        self._ready = threading.Event()

    # --- lifecycle ---------------------------------------------------------

    def start_loading(self) -> threading.Thread:
        """Load (and warm up) the backend in a thread; `/health` says "loading" until it is done."""
        thread = threading.Thread(target=self._load_now, name="model-loader", daemon=True)
        thread.start()
        return thread

    def _load_now(self) -> None:
        started = time.perf_counter()
        try:
            backend = self._load()
            warm_up(backend)
        except Exception as exc:  # reported on /health and in the log; the process keeps answering
            self.error = str(exc)
            log.error("model failed to load: %s", exc)
            self._ready.set()
            return
        self.backend = backend
        lm = getattr(backend, "lm", None)
        self.model_name = getattr(lm, "name", None) or backend.name
        self.fim_format = getattr(getattr(lm, "fim_format", None) or getattr(backend, "fim_format", None), "name", None)
        self.dtype = getattr(lm, "dtype", None)
        log.info("ready in %.1f s: %s", time.perf_counter() - started, backend.name)
        self._ready.set()

    def prompt_cache_stats(self) -> dict[str, float] | None:
        """What the backend's prompt cache holds, if it has one."""
        pool = getattr(self.backend, "prompt_cache", None)
        if pool is None:
            return None
        return {"entries": len(pool), "mb": round(pool.nbytes / 2**20, 1), "limit_mb": round(pool.max_bytes / 2**20, 1)}

    def context_budget(self) -> dict[str, Any] | None:
        """The backend's `--context-tokens auto` state (`engine.auto_budget.AutoBudget.to_json`), if it has one."""
        auto = getattr(self.backend, "auto", None)
        return auto.to_json() if auto is not None else None

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    async def check_upstream(self) -> None:
        """Ask an upstream engine whether it answers (in a worker: the network may make it wait)."""
        probe = getattr(self.backend, "probe", None)
        self.upstream_error = await asyncio.to_thread(probe) if probe is not None else None
        if self.backend is not None and self.fim_format is None:  # known once the upstream has answered
            self.fim_format = getattr(getattr(self.backend, "fim_format", None), "name", None)

    @property
    def status(self) -> str:
        if self.error or self.upstream_error:
            return "error"
        return "ok" if self.backend is not None else "loading"

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()

    # --- requests ----------------------------------------------------------

    @property
    def pending(self) -> int:
        """Requests running or waiting now (admitted and not yet released)."""
        return self._pending

    def check(self, request: CompletionRequest, fields: Mapping[str, str] | None = None) -> None:
        """Refuse a request the service cannot take (too big, model not loaded); `admit` also refuses when busy.

        `fields` maps the parts of the input (`prefix`, `suffix`, `path`, `context`) to the request
        fields they came from, so that a 413 names the largest one as the client spelled it.
        """
        parts = {
            "prefix": len(request.prefix),
            "suffix": len(request.suffix),
            "path": len(request.path or ""),
            "context": sum(len(c.path) + len(c.content) for c in request.context),
        }
        size = sum(parts.values())
        if size > self.limits.max_input_chars:
            names = {**{part: part for part in parts}, **(fields or {})}
            largest = max(parts, key=parts.__getitem__)
            listed = ", ".join(f"{names[part]} {n}" for part, n in parts.items() if n)
            raise ServerError(
                413,
                f"the input is {size} characters ({listed}); this server accepts at most "
                f"{self.limits.max_input_chars} in all; send less context",
                param=names[largest],
            )
        if self.backend is None:
            if self.error:
                raise ServerError(503, f"the model failed to load: {self.error}")
            raise ServerError(503, "the model is still loading; retry when /health reports ok", retry_after=2)

    def admit(self, request: CompletionRequest, fields: Mapping[str, str] | None = None,
              document: str | None = None) -> Slot:  # fmt: skip
        """Check `request` and take one of the `max_pending` places for it, or refuse it.

        A stream takes its place before its 200 is sent, so a busy server answers 503 rather than a
        stream that ends before it starts. A request that generates for a `document` supersedes the
        one still generating for it: that one is cancelled now and answered 409. Prompt-only requests
        (`max_tokens` 0, cache warming) neither supersede nor are superseded.
        """
        self.check(request, fields)
        document = document if request.max_tokens > 0 else None
        with self._pending_lock:
            if self._pending >= self.limits.max_pending:
                raise ServerError(503, f"server busy: {self._pending} requests pending; retry shortly", retry_after=1)
            self._pending += 1
            slot = Slot(lambda: self._release(slot, document))
            older = self._documents.get(document) if document else None
            if document:
                self._documents[document] = slot
        if older is not None:
            log.info("%s supersedes the request still running for its document; cancelling that one",
                     request.request_id)  # fmt: skip
            older.supersede()
        return slot

    def _release(self, slot: Slot, document: str | None) -> None:
        with self._pending_lock:
            self._pending -= 1
            if document and self._documents.get(document) is slot:
                del self._documents[document]

    async def complete(self, request: CompletionRequest, disconnected: Callable[[], Awaitable[bool]],
                       fields: Mapping[str, str] | None = None, document: str | None = None) -> Completion:  # fmt: skip
        """Run one completion; cancel it if `disconnected()` turns true or a newer request supersedes it."""
        slot = self.admit(request, fields, document)
        cancel = slot.cancel
        backend = self.backend
        assert backend is not None
        try:
            task = asyncio.ensure_future(asyncio.to_thread(backend.complete, request, cancel=cancel))
            while not task.done():
                await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
                if not task.done() and await disconnected():
                    log.info("%s: client went away; cancelling", request.request_id)
                    cancel.cancel()
            slot.check_superseded()
            return task.result()
        except asyncio.CancelledError:
            cancel.cancel()
            raise
        except PeerFailure as exc:
            raise refusal(exc) from None
        finally:
            slot.release()

    async def stream(self, request: CompletionRequest, slot: Slot) -> AsyncIterator[str | Completion]:
        """Yield text pieces as they become final, then the `Completion`; release `slot` (from `admit`) at the end.

        Closing the iterator early (the client disconnected) cancels generation.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | Completion | BaseException] = asyncio.Queue()
        cancel = slot.cancel
        backend = self.backend
        assert backend is not None

        def work() -> None:
            try:
                done = backend.complete(
                    request, cancel=cancel, on_text=lambda piece: loop.call_soon_threadsafe(queue.put_nowait, piece)
                )
                loop.call_soon_threadsafe(queue.put_nowait, done)
            except BaseException as exc:  # handed to the consumer, which re-raises it
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        worker = loop.run_in_executor(None, work)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise refusal(item) if isinstance(item, PeerFailure) else item
                if isinstance(item, Completion):
                    slot.check_superseded()
                    yield item
                    return
                yield item
        finally:
            cancel.cancel()
            slot.release()
            if not worker.done():
                log.info("%s: stream closed early; cancelling", request.request_id)


class Slot:
    """One place among the `max_pending` requests; `release` gives it back, once however often it is called.

    A stream's place is released by whichever comes first: the stream ending, or its response ending
    (a client that leaves before the first chunk means the stream never runs its own cleanup).
    `cancel` stops the request's generation (its client left, or a newer request superseded it).
    """

    def __init__(self, release: Callable[[], None]) -> None:
        self._give_back: Callable[[], None] | None = release
        self._lock = threading.Lock()
        self.cancel = CancelToken()
        self.superseded = False

    def supersede(self) -> None:
        self.superseded = True
        self.cancel.cancel()

    def check_superseded(self) -> None:
        """Raise the 409 a superseded request is answered with (whatever text it had is stale)."""
        if self.superseded:
            raise ServerError(409, "superseded by a newer request for the same document; only the newest is "
                              "answered (the older one was cancelled)")  # fmt: skip

    def release(self) -> None:
        with self._lock:
            give_back, self._give_back = self._give_back, None
        if give_back is not None:
            give_back()


def refusal(exc: PeerFailure) -> ServerError:
    """What the client of an upstream engine hears when the upstream is down (503), too slow (504) or failing (502)."""
    return ServerError(exc.status, f"upstream engine: {exc}", retry_after=1 if exc.status == 503 else None)


def warm_up(backend: Backend) -> None:
    """One tiny completion, so the first user request does not pay for lazy initialisation.

    An upstream engine that is down is no failed start: `/health` says so until it answers.
    """
    started = time.perf_counter()
    try:
        backend.complete(CompletionRequest(prefix="def add(a, b):\n    return ", suffix="\n", max_tokens=2, raw=True))
    except PeerFailure as exc:
        log.warning("%s does not answer yet: %s", backend.name, exc)
        return
    log.info("warm-up took %.1f s", time.perf_counter() - started)
