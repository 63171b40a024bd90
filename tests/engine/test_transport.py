"""The HTTP transport against a real peer that closes idle keep-alive connections.

`llama-server`, uvicorn and most HTTP servers close a connection that sat idle
for their keep-alive timeout. When our client sends on it at that moment the
request never reaches the peer and httpx reports "Server disconnected without
sending a response". `IdleClosingPeer` makes that moment certain instead of
rare: it is a real HTTP/1.1 server on 127.0.0.1 (h11 parses the bytes) whose
idle timer is checked when the next request arrives, so a request sent on a
connection idle for longer than `idle_s` is dropped unanswered, exactly as in
the race. Other modes drop a request after the peer started answering it, or
never answer, to show those are not sent twice.
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import h11
import pytest

from engine.backend import CancelToken, CompletionRequest
from engine.errors import EngineError
from engine.remote import LlamaCppBackend

FINAL = {"content": "", "stop": True, "stop_type": "eos", "tokens_evaluated": 5,
         "timings": {"prompt_n": 5, "prompt_ms": 1.0, "predicted_n": 2, "predicted_ms": 1.0}}  # fmt: skip


class IdleClosingPeer(socketserver.ThreadingTCPServer):
    """A llama.cpp-shaped `/infill` peer that advertises keep-alive and drops connections idle over `idle_s`.

    `mode` says what happens to the next request that does get read: "answer",
    "partial" (status line, headers and part of the body, then the connection
    closes: the peer started it), "drop" (read, then closed unanswered) or
    "silent" (read, never answered).
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, idle_s: float) -> None:
        self.idle_s = idle_s
        self.mode = "answer"
        self.seen: list[dict[str, Any]] = []  # requests the peer read
        self.connections = 0
        super().__init__(("127.0.0.1", 0), _Connection)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Connection(socketserver.BaseRequestHandler):
    server: IdleClosingPeer

    def handle(self) -> None:
        self.server.connections += 1
        conn = h11.Connection(h11.SERVER)
        answered_at: float | None = None
        while True:
            data = self.request.recv(65536)
            if answered_at is not None and time.monotonic() - answered_at > self.server.idle_s:
                return  # the idle timer fired as this request arrived: close without reading it
            conn.receive_data(data)
            if not data:
                return
            body = b""
            while (event := conn.next_event()) is not h11.NEED_DATA:
                if isinstance(event, h11.Data):
                    body += event.data
                if isinstance(event, h11.EndOfMessage):
                    self.server.seen.append(json.loads(body) if body else {})  # a GET has none
                    if not self._respond(conn, self.server.seen[-1]):
                        return
                    conn.start_next_cycle()
                    answered_at = time.monotonic()
                    body = b""
                if isinstance(event, h11.ConnectionClosed):
                    return

    def _respond(self, conn: h11.Connection, request: dict[str, Any]) -> bool:
        """Answer one request as `mode` says; False when the connection is to close."""
        mode = self.server.mode
        if mode == "drop":
            return False
        if mode == "silent":
            time.sleep(1)
            return False
        if request.get("stream"):
            chunks = [{"content": "a", "stop": False}, {"content": "b", "stop": False}, FINAL]
            payload = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
            content_type = b"text/event-stream"
        else:
            payload = json.dumps({**FINAL, "content": "ab"}).encode()
            content_type = b"application/json"
        headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode()),
                   (b"connection", b"keep-alive")]  # fmt: skip
        self.request.sendall(conn.send(h11.Response(status_code=200, headers=headers)))
        if mode == "partial":
            self.request.sendall(conn.send(h11.Data(data=payload[:10])))
            return False
        self.request.sendall(conn.send(h11.Data(data=payload)) + conn.send(h11.EndOfMessage()))
        return True


@contextmanager
def peer_serving(idle_s: float = 0.2) -> Iterator[IdleClosingPeer]:
    peer = IdleClosingPeer(idle_s)
    thread = threading.Thread(target=peer.serve_forever, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        peer.shutdown()
        peer.server_close()
        thread.join(5)


@pytest.fixture
def peer() -> Iterator[IdleClosingPeer]:
    with peer_serving() as p:
        yield p


def idle_past_the_peers_timeout(peer: IdleClosingPeer) -> None:
    time.sleep(peer.idle_s + 0.1)


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_request_on_a_connection_the_peer_closed_goes_out_again_on_a_new_one(peer, streamed):
    backend = LlamaCppBackend(peer.url)
    options = {"cancel": CancelToken()} if streamed else {}
    try:
        assert backend.complete(CompletionRequest(prefix="one"), **options).text == "ab"
        idle_past_the_peers_timeout(peer)
        done = backend.complete(CompletionRequest(prefix="two"), **options)
        assert done.text == "ab"
        assert [r["input_prefix"] for r in peer.seen] == ["one", "two"]  # each reached the peer once
        assert peer.connections == 2
        # The pool is usable again: the next request and the one after share a connection.
        assert backend.complete(CompletionRequest(prefix="three"), **options).text == "ab"
        assert backend.complete(CompletionRequest(prefix="four"), **options).text == "ab"
        assert peer.connections == 3 and len(peer.seen) == 4
    finally:
        backend.close()


def test_a_get_on_a_connection_the_peer_closed_goes_out_again_on_a_new_one(peer):
    # bench latency --front reads llama-server's /slots and /metrics between passes, after an idle while.
    backend = LlamaCppBackend(peer.url)
    try:
        assert backend.call_json("/slots")["content"] == "ab"
        idle_past_the_peers_timeout(peer)
        assert backend.call_json("/slots")["content"] == "ab"  # was: "Server disconnected without sending a response"
        assert len(peer.seen) == 2 and peer.connections == 2
    finally:
        backend.close()


def test_a_request_the_peer_started_answering_is_not_sent_again(peer):
    backend = LlamaCppBackend(peer.url)
    try:
        backend.complete(CompletionRequest(prefix="one"))  # a pooled connection, as in the race
        peer.mode = "partial"
        with pytest.raises(EngineError, match=rf"^cannot reach {peer.url}/infill: "):
            backend.complete(CompletionRequest(prefix="two"))
        with pytest.raises(EngineError, match=rf"^cannot reach {peer.url}/infill: "):
            backend.complete(CompletionRequest(prefix="three"), on_text=lambda _: None)
        assert [r["input_prefix"] for r in peer.seen] == ["one", "two", "three"]
    finally:
        backend.close()


def test_a_request_dropped_on_a_new_connection_is_not_sent_again(peer):
    """A peer that closes a connection it just accepted may have read and begun the request."""
    peer.mode = "drop"
    backend = LlamaCppBackend(peer.url)
    try:
        with pytest.raises(EngineError, match="Server disconnected without sending a response"):
            backend.complete(CompletionRequest(prefix="one"))
        assert len(peer.seen) == 1
    finally:
        backend.close()


def test_a_request_that_timed_out_is_not_sent_again(peer):
    backend = LlamaCppBackend(peer.url, timeout=0.3)
    try:
        backend.complete(CompletionRequest(prefix="one"))
        peer.mode = "silent"
        with pytest.raises(EngineError, match="did not answer within"):
            backend.complete(CompletionRequest(prefix="two"))
        assert [r["input_prefix"] for r in peer.seen] == ["one", "two"]
    finally:
        backend.close()
