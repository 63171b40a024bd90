"""The HTTP transport under every remote backend: streaming, cancellation, timeouts, errors.

Subclasses in `engine.remote` supply one build/parse pair for their
provider's JSON; this module only moves bytes and turns what the parse step
found into a `Completion`. Transport failures become one `EngineError` line
that names the URL.

The calls stream whenever the caller passes `on_text` or a `CancelToken`:
cancellation is checked between streamed chunks and closes the response
(our server notices the disconnect and stops generating). A cancel that
arrives while the server is still reading the prompt takes effect at the
first chunk.

Peers close idle keep-alive connections; a request that went out on one at
that moment, and so never reached the peer, is sent once more on a new
connection (`HttpBackend._send`). Nothing the peer may have begun is.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

import httpx

from engine.backend import CancelToken, Completion, CompletionRequest, FinishReason, StopType, TextCallback, Timings
from engine.errors import EngineError

log = logging.getLogger(__name__)

#: Seconds to wait for a connection, and for each piece of an answer (CPU prompts are slow).
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 300.0
#: httpcore's words when a connection closed before any byte of the answer.
NEVER_ANSWERED = "Server disconnected without sending a response."


class PeerFailure(EngineError):
    """The peer could not be reached (503), did not answer in time (504), or answered with an error (502).

    `status` is what a server in front of the peer answers its own client.
    """

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Parsed:
    """What one answer or streamed chunk says, in wire-neutral terms."""

    text: str = ""
    done: bool = False
    finish_reason: FinishReason = "stop"
    stop_type: StopType = "none"
    stopping_word: str | None = None
    truncated: bool = False
    timings: Timings | None = None


def finish_from_stop_type(stop_type: str) -> tuple[FinishReason, StopType]:
    if stop_type == "limit":
        return "length", "limit"
    if stop_type in ("eos", "word"):
        return "stop", stop_type  # type: ignore[return-value]
    return "stop", "none"


def finish_from_reason(reason: str | None) -> tuple[FinishReason, StopType]:
    """OpenAI's and Ollama's `finish_reason`/`done_reason`: "stop" (eos or stop word) or "length"."""
    if reason == "length":
        return "length", "limit"
    return "stop", "eos"


def _error_message(response: httpx.Response) -> str:
    """The server's own words about a failed request (OpenAI, llama.cpp and Ollama shapes)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if error:
        return str(error)
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return json.dumps(body)[:300]


def _sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any] | None]:
    """JSON objects of a `data: ...` event stream; None for `[DONE]`."""
    for line in lines:
        if not line.startswith("data:"):
            continue  # blank separators, comments, `event:` lines
        payload = line[5:].strip()
        if payload == "[DONE]":
            yield None
            return
        if payload:
            yield json.loads(payload)


def _ndjson_events(lines: Iterator[str]) -> Iterator[dict[str, Any] | None]:
    for line in lines:
        if line.strip():
            yield json.loads(line)


class HttpBackend:
    """The transport shared by every HTTP backend; subclasses supply the wire format."""

    #: Path of the completion endpoint, appended to the base URL.
    endpoint = ""
    #: Short provider tag for `name` (`llama.cpp:http://...`).
    kind = ""
    #: How a streamed answer is framed: server-sent events or one JSON object per line.
    framing = "sse"

    def __init__(self, url: str, *, api_key: str | None = None, timeout: float = READ_TIMEOUT_S) -> None:
        if not url.startswith(("http://", "https://")):
            raise EngineError(f"backend URL must start with http:// or https://, not {url!r}")
        self.url = url.rstrip("/")
        self.name = f"{self.kind}:{self.url}"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._client = self._new_client()

    def _new_client(self) -> httpx.Client:
        # retries=1 repeats a connection attempt that failed (refused, connect timeout), which sent nothing.
        # httpx retries nothing else, in particular not a request on a pooled connection the peer closed: `_send`.
        return httpx.Client(headers=self._headers, timeout=httpx.Timeout(self._timeout, connect=CONNECT_TIMEOUT_S),
                            transport=httpx.HTTPTransport(retries=1), trust_env=False)  # fmt: skip

    # --- the wire format: one build/parse pair per provider -------------------

    def build(self, request: CompletionRequest, stream: bool) -> dict[str, Any]:
        raise NotImplementedError

    def parse(self, body: dict[str, Any]) -> Parsed:
        """One complete answer, or one streamed chunk."""
        raise NotImplementedError

    # --- transport -------------------------------------------------------------

    @property
    def target(self) -> str:
        return self.url + self.endpoint

    def complete(
        self,
        request: CompletionRequest,
        *,
        cancel: CancelToken | None = None,
        on_text: TextCallback | None = None,
    ) -> Completion:
        stream = on_text is not None or cancel is not None
        body = self.build(request, stream)
        started = time.perf_counter()
        try:
            with ExitStack() as stack:
                response = self._send("POST", self.target, body, stack, stream=True)
                stack.callback(response.close)
                if stream:
                    return self._streamed(request, response, started, cancel, on_text)
                response.read()
                self._raise_for_status(response)
                parsed = self.parse(response.json())
        except (httpx.HTTPError, ValueError) as exc:  # ValueError: JSON decoding
            raise self.failure(exc, self.target) from None
        # Servers that report no counts or durations get zeros: callers time the call themselves.
        return self._completion(request, parsed, parsed.text, parsed.timings or Timings())

    def failure(self, exc: httpx.HTTPError | ValueError, target: str) -> PeerFailure:
        """One line about what went wrong with a request to `target`, and the status a server in front answers."""
        if isinstance(exc, ValueError):
            return PeerFailure(f"{target} sent an answer that is not valid JSON: {exc}")
        if isinstance(exc, httpx.ConnectError):
            return PeerFailure(f"cannot reach {target}: {exc or type(exc).__name__}", 503)
        if isinstance(exc, httpx.ConnectTimeout):
            return PeerFailure(f"cannot reach {target}: no connection within {CONNECT_TIMEOUT_S:g} s", 503)
        if isinstance(exc, httpx.TimeoutException):
            return PeerFailure(f"{target} did not answer within {self._timeout:g} s", 504)
        return PeerFailure(f"cannot reach {target}: {exc or type(exc).__name__}")

    def call_json(self, path: str, body: Any = None, timeout: float | None = None) -> Any:
        """GET `path` under the base URL (POST `body` if given) on the completions' connections; the JSON answer."""
        return self._call(path, body, timeout, lambda response: response.json())

    def call_text(self, path: str, timeout: float | None = None) -> str:
        """GET `path` under the base URL; the answer as text (llama.cpp's Prometheus `/metrics`)."""
        return self._call(path, None, timeout, lambda response: response.text)

    def _call(self, path: str, body: Any, timeout: float | None, read: Callable[[httpx.Response], Any]) -> Any:
        target = self.url + path
        wait = timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT
        method = "GET" if body is None else "POST"
        try:
            with ExitStack() as stack:
                response = self._send(method, target, body, stack, stream=False, timeout=wait)
                self._raise_for_status(response, target)
                return read(response)
        except (httpx.HTTPError, ValueError) as exc:
            raise self.failure(exc, target) from None

    def _send(self, method: str, target: str, body: Any, stack: ExitStack, *, stream: bool,
              timeout: Any = httpx.USE_CLIENT_DEFAULT) -> httpx.Response:  # fmt: skip
        """Send `body` (None: a GET); the response as soon as its headers are in (`stream`) or whole.

        A peer closes a keep-alive connection that sat idle for its timeout;
        when we send on it at that moment the request never reaches the peer,
        and httpcore says so: "Server disconnected without sending a response"
        (no byte of an answer) on a connection it did not open for this request.
        Only that request goes out once more, on a connection of its own (a second
        pooled one could be as stale); `stack` closes that connection. Nothing the
        peer may have begun is sent again: a connection opened for the request
        that closes unanswered may have had the request read, and an answer that
        broke off after its first byte, or a read that timed out, were begun.
        """
        events: list[str] = []
        request = self._client.build_request(method, target, json=body, timeout=timeout,
                                             extensions={"trace": lambda event, _info: events.append(event)})  # fmt: skip
        try:
            return self._client.send(request, stream=stream)
        except httpx.RemoteProtocolError as exc:
            opened = any(event.startswith("connection.connect_") for event in events)
            if opened or str(exc) != NEVER_ANSWERED:
                raise
        log.info("%s closed the pooled connection as the request went out; sending it on a new one", self.url)
        client = stack.enter_context(self._new_client())
        return client.send(client.build_request(method, target, json=body, timeout=timeout), stream=stream)

    def _streamed(
        self,
        request: CompletionRequest,
        response: httpx.Response,
        started: float,
        cancel: CancelToken | None,
        on_text: TextCallback | None,
    ) -> Completion:
        pieces: list[str] = []
        last = Parsed()
        first_at: float | None = None
        events = _sse_events if self.framing == "sse" else _ndjson_events
        if response.status_code >= 400:
            response.read()
            self._raise_for_status(response)
        for event in events(response.iter_lines()):
            if cancel is not None and cancel.cancelled:
                log.debug("%s: cancelled; closing the stream to %s", request.request_id, self.target)
                return self._completion(request, Parsed(), "".join(pieces), Timings(), cancelled=True)
            if event is None:
                break
            parsed = self.parse(event)
            if parsed.text:
                if first_at is None:
                    first_at = time.perf_counter()
                pieces.append(parsed.text)
                if on_text is not None:
                    on_text(parsed.text)
                    if cancel is not None and cancel.cancelled:  # the caller has all it wants: stop the peer now
                        return self._completion(request, Parsed(), "".join(pieces), Timings(), cancelled=True)
            # The end (finish reason) and the counts may come in different chunks (OpenAI usage).
            if parsed.done:
                last = replace(parsed, timings=parsed.timings or last.timings)
            elif parsed.timings is not None:
                last.timings = parsed.timings
            if parsed.done and self.framing == "ndjson":
                break
        if cancel is not None and cancel.cancelled and not last.done:
            return self._completion(request, last, "".join(pieces), Timings(), cancelled=True)
        timings = last.timings
        if timings is None or (timings.prompt_ms == 0 and timings.generate_ms == 0):
            # The server reports no durations: time to first text stands in for the prompt.
            ended = time.perf_counter()
            first = first_at or ended
            counts = timings or Timings()
            timings = Timings(
                prompt_tokens=counts.prompt_tokens,
                cached_tokens=counts.cached_tokens,
                prompt_ms=(first - started) * 1000,
                generated_tokens=counts.generated_tokens,
                generate_ms=(ended - first) * 1000,
            )
        return self._completion(request, last, "".join(pieces), timings)

    def _completion(
        self, request: CompletionRequest, parsed: Parsed, text: str, timings: Timings, cancelled: bool = False
    ) -> Completion:
        return Completion(
            text=text,
            finish_reason="cancelled" if cancelled else parsed.finish_reason,
            stop_type="none" if cancelled else parsed.stop_type,
            timings=timings,
            stopping_word=parsed.stopping_word or None,
            truncated=parsed.truncated,
            request_id=request.request_id,
        )

    def _raise_for_status(self, response: httpx.Response, target: str | None = None) -> None:
        if response.status_code >= 400:
            raise PeerFailure(f"{target or self.target} answered {response.status_code}: {_error_message(response)}")

    def close(self) -> None:
        self._client.close()
