"""Reading LSP frames off a byte stream, and finding the next frame after a broken one.

pygls 2 reads `Content-Length: N\\r\\n` ... `\\r\\n` and then exactly N bytes,
and never looks back: after a header it cannot read, or a body whose length
was wrong, the rest of the stream is read out of step and no later request
is ever answered. This reader resynchronises instead of exiting, because
the client is an editor that keeps sending: exiting would cost the user the
server (and the model it loaded) over one bad message, while the next
well-formed frame is always recognisable. A header line
`Content-Length: <digits>\\r\\n` cannot occur inside a valid JSON body (a
JSON string holds no raw CR or LF, and outside strings the words are not
JSON), so:

- a header block without a usable Content-Length is skipped up to the next
  such line (and logged);
- a body is whatever JSON value sits between its header and the next frame:
  with the length right (every well-behaved client) it is exactly N bytes
  and parsed once; a length that runs into the next frame is cut there; a
  length that falls short is extended up to the next frame; a length past a
  complete object that is the last thing sent yet is not waited for;
- a body that still is not JSON is reported (the caller answers a JSON-RPC
  parse error) and reading goes on at the next frame.

`FrameParser` is the pure state machine (bytes in, events out); `serve`
drives it from an async byte source.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import IO, Any, Awaitable, Callable

log = logging.getLogger(__name__)

HEADER = re.compile(rb"Content-Length:[ \t]*(\d{1,12})[ \t]*\r\n", re.I)
#: Longest header line kept while looking for the next frame (the rest of skipped bytes is dropped).
HEADER_TAIL = 64
#: A header block longer than this is junk, not headers.
MAX_HEADER_BLOCK = 16 * 1024
#: Seconds to wait for the rest of a body whose declared bytes are all here and are not JSON.
IDLE_S = 0.5
#: Bytes read from the stream at a time.
CHUNK = 1 << 20
_BLANK = b" \t\r\n"
#: A header line (`Name: value`), and what may begin one.
_HEADER_LINE = re.compile(rb"[A-Za-z][A-Za-z0-9-]*:[^\r\n]*")
_HEADER_START = re.compile(rb"[A-Za-z][A-Za-z0-9-]*(?::[^\r\n{}]*)?")


@dataclass(frozen=True)
class Message:
    """A JSON value read from one frame."""

    value: Any


@dataclass(frozen=True)
class Unreadable:
    """A frame whose body is not JSON; JSON-RPC answers it with a parse error (id null)."""

    reason: str


def _parse(body: bytes) -> tuple[bool, Any]:
    try:
        return True, json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        return False, exc


class FrameParser:
    """Feed it bytes with `feed`, take the messages with `events`."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        #: Declared length of the body being read; None while reading headers.
        self._length: int | None = None
        #: How far the body was searched for the next header already (so a 10 MB body is not rescanned per chunk).
        self._scanned = 0
        self._tried_full = False

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def stalled(self) -> bool:
        """True when every declared byte of the body is here and they are not JSON: wait briefly, then give up."""
        return self._length is not None and self._tried_full and len(self._buffer) >= self._length

    def events(self, *, idle: bool = False) -> list[Message | Unreadable]:
        """The messages complete so far; `idle` means no byte came for a while (give up a stalled body)."""
        out: list[Message | Unreadable] = []
        while True:
            event = self._headers() if self._length is None else self._body(idle)
            if event is None:
                return out
            if isinstance(event, (Message, Unreadable)):
                out.append(event)

    # --- states ------------------------------------------------------------------

    def _headers(self) -> bool | None:
        """Read one header block; True when it was read (or junk skipped), None when more bytes are needed."""
        buffer = self._buffer
        start = 0
        while start < len(buffer) and buffer[start] in _BLANK:
            start += 1
        del buffer[:start]
        if not buffer:
            return None
        end = buffer.find(b"\r\n\r\n")
        if end == -1:
            lines = bytes(buffer).split(b"\r\n")
            if len(buffer) <= MAX_HEADER_BLOCK and all(_HEADER_LINE.fullmatch(line) for line in lines[:-1]):
                if _HEADER_START.fullmatch(lines[-1]):
                    return None  # the header block is still coming
            return self._resync("bytes that are not a header")
        lines = bytes(buffer[:end]).split(b"\r\n")
        lengths = [HEADER.fullmatch(line + b"\r\n") for line in lines]
        found = [m for m in lengths if m]
        if len(found) != 1 or not all(_HEADER_LINE.fullmatch(line) for line in lines):
            return self._resync("a header block without one usable Content-Length")
        self._length = int(found[0].group(1))
        del buffer[: end + 4]
        self._scanned = 0
        self._tried_full = False
        return True

    def _resync(self, what: str) -> bool | None:
        """Drop bytes up to the next Content-Length line; None when there is none yet."""
        buffer = self._buffer
        match = HEADER.search(buffer, 1)
        if match is None:
            keep = buffer[-HEADER_TAIL:]
            if len(buffer) > HEADER_TAIL:
                log.warning("framing: skipping %s (%d bytes) until the next Content-Length header", what,
                            len(buffer) - len(keep))  # fmt: skip
            self._buffer = bytearray(keep)
            return None
        log.warning("framing: skipped %s (%d bytes); reading on at the next Content-Length header", what,
                    match.start())  # fmt: skip
        del buffer[: match.start()]
        return True

    def _body(self, idle: bool) -> Message | Unreadable | None:
        buffer, length = self._buffer, self._length
        assert length is not None
        if len(buffer) >= length and not self._tried_full:
            self._tried_full = True
            ok, value = _parse(bytes(buffer[:length]))
            if ok:
                return self._take(length, Message(value))
        # The declared length was wrong (or the body is broken): the body ends where the next frame starts.
        found = HEADER.search(buffer, max(0, self._scanned - HEADER_TAIL))
        self._scanned = len(buffer)
        if found is not None:
            ok, value = _parse(bytes(buffer[: found.start()]))
            if ok:
                log.warning("framing: Content-Length said %d, the body had %d bytes", length, found.start())
                return self._take(found.start(), Message(value))
            return self._take(found.start(), Unreadable(f"the body is not JSON: {value}"))
        tail = bytes(buffer[-HEADER_TAIL:]).rstrip(_BLANK)[-1:]
        if tail in (b"}", b"]"):
            ok, value = _parse(bytes(buffer))
            if ok:  # a complete object before the declared end: nothing else may follow it but blanks
                log.warning("framing: Content-Length said %d, the body had %d bytes", length, len(buffer))
                return self._take(len(buffer), Message(value))
        if idle and self.stalled:
            ok, value = _parse(bytes(buffer[:length]))
            return self._take(len(buffer), Unreadable(f"the body is not JSON: {value}"))
        return None

    def _take(self, count: int, event: Message | Unreadable) -> Message | Unreadable:
        del self._buffer[:count]
        self._length = None
        return event


def stdin_chunks(stream: IO[bytes]) -> Callable[[], Awaitable[bytes]]:
    """An async source of chunks of `stream`, read in a daemon thread (so exit never waits on a blocked read)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    try:
        fd = stream.fileno()
        # Not through the BufferedReader: a daemon thread blocked inside it holds its lock, and the
        # interpreter aborts at exit when it cannot take that lock ("could not acquire lock ... daemon threads").
        read: Callable[[int], bytes] = functools.partial(os.read, fd)
    except (AttributeError, OSError, ValueError):  # an in-memory stream (tests)
        read = getattr(stream, "read1", stream.read)

    def pump() -> None:
        while True:
            try:
                data = read(CHUNK)
            except (OSError, ValueError):
                data = b""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, data)
            except RuntimeError:  # the loop is closed: the server exited
                return
            if not data:
                return

    threading.Thread(target=pump, name="lsp-stdin", daemon=True).start()
    return queue.get


async def serve(
    chunks: Callable[[], Awaitable[bytes]],
    receive: Callable[[Any], None],
    unreadable: Callable[[str], None],
    stop: threading.Event,
) -> None:
    """Read frames from `chunks` until end of stream or `stop`; hand each message to `receive`."""
    parser = FrameParser()
    pending: asyncio.Future[bytes] | None = None
    while not stop.is_set():
        if pending is None:
            pending = asyncio.ensure_future(chunks())
        done, _ = await asyncio.wait({pending}, timeout=IDLE_S if parser.stalled else None)
        if done:
            data, pending = pending.result(), None
            if not data:
                log.info("the client closed the stream")
                return
            parser.feed(data)
            events = parser.events()
        else:
            events = parser.events(idle=True)
        for event in events:
            if isinstance(event, Message):
                receive(event.value)
            else:
                log.warning("framing: %s", event.reason)
                unreadable(event.reason)
