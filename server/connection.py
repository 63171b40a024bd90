"""HTTP connections: uvicorn's h11 protocol with a deadline for receiving each request.

uvicorn times out an idle kept-alive connection, but not a request that stops half-way: a client
that sends part of a header block, or part of a body, holds its connection (and, once the headers are
in, a request task waiting for the body) for ever. Here every request must arrive whole within
`read_timeout` seconds of its first byte (of the connection, for the first request); one that does not
is answered 408 if nothing was answered yet, and its connection is closed. The time to generate the
answer is not counted: the deadline stops once the request is in.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from server.refusals import error_body

log = logging.getLogger(__name__)

#: Seconds a client has to send a whole request (headers and body), unless `--read-timeout` says otherwise.
DEFAULT_READ_TIMEOUT_S = 30.0


class DeadlineH11Protocol(H11Protocol):
    """`H11Protocol` that closes a connection whose request does not arrive whole within `read_timeout`."""

    def __init__(self, *args: Any, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_timeout = read_timeout
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self.conn.their_state is h11.IDLE:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self.conn.their_state is not h11.SEND_BODY:
            self._disarm()  # the request is in (or the connection is over)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.read_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.warning("%s: the request did not arrive within %.0f s; closing the connection",
                    "%s:%d" % self.client if self.client else "client", self.read_timeout)  # fmt: skip
        answered = self.cycle is not None and self.cycle.response_started
        if not answered and self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            message = f"the request did not arrive whole within {self.read_timeout:g} s"
            body = error_body(408, message).model_dump_json().encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                       (b"connection", b"close")]  # fmt: skip
            try:
                self.transport.write(self.conn.send(h11.Response(status_code=408, headers=headers)))
                self.transport.write(self.conn.send(h11.Data(data=body)) + self.conn.send(h11.EndOfMessage()))
            except h11.LocalProtocolError:
                pass  # h11 would not send it in this state; closing says enough
        if self.cycle is not None:
            self.cycle.disconnected = True  # the app's further sends go nowhere
        self.transport.close()


def uvicorn_config(app: Any, host: str, port: int, *, read_timeout: float = DEFAULT_READ_TIMEOUT_S,
                   **kwargs: Any) -> uvicorn.Config:  # fmt: skip
    """The uvicorn configuration the server runs with (the tests use the same)."""
    protocol = functools.partial(DeadlineH11Protocol, read_timeout=read_timeout)
    return uvicorn.Config(app, host=host, port=port, http=protocol, **kwargs)  # type: ignore[arg-type]
