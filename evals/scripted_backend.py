"""A scripted completion server on 127.0.0.1 for driving `codegemma lsp --backend http` without a model.

It answers `POST /infill` (what `--backend http` asks) like `codegemma
serve` does, streamed or not, with a fixed completion split into chunks
sent `chunk_delay` seconds apart, so a generation can be made as slow as a
test needs. Every request body it receives is recorded: tests check what
the language server sent, and to whom.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedBackend:
    def __init__(self, completion: str = "return x\n", *, chunks: int = 1, chunk_delay: float = 0.0,
                 slow_marker: str | None = None) -> None:  # fmt: skip
        self.completion = completion
        self.chunks = max(1, chunks)
        self.chunk_delay = chunk_delay
        #: When set, only requests whose prefix holds this text wait `chunk_delay`; the rest answer at once.
        self.slow_marker = slow_marker
        #: (path, JSON body) of every request, in arrival order.
        self.requests: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, name="scripted-backend", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host}:{port}"

    def delay(self, payload: dict) -> float:
        slow = self.slow_marker is None or self.slow_marker in str(payload.get("input_prefix", ""))
        return self.chunk_delay if slow else 0.0

    def pieces(self) -> list[str]:
        size = -(-len(self.completion) // self.chunks) or 1
        return [self.completion[i : i + size] for i in range(0, len(self.completion), size)] or [""]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = body.decode("utf-8", "replace")
                with backend._lock:
                    backend.requests.append((self.path, payload))
                if self.path != "/infill" or not isinstance(payload, dict):
                    self._send(404, "application/json", json.dumps({"error": "not found"}).encode())
                    return
                delay = backend.delay(payload)
                if not payload.get("stream"):
                    time.sleep(delay * backend.chunks)
                    answer = {"content": backend.completion, "stop": True, "stop_type": "eos"}
                    self._send(200, "application/json", json.dumps(answer).encode())
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for piece in backend.pieces():
                        time.sleep(delay)
                        self._event({"content": piece, "stop": False})
                    self._event({"content": "", "stop": True, "stop_type": "eos"})
                except (BrokenPipeError, ConnectionResetError):  # the client cancelled and hung up
                    pass
                self.close_connection = True

            def _event(self, data: dict) -> None:
                self.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")
                self.wfile.flush()

            def _send(self, status: int, kind: str, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def start(self) -> ScriptedBackend:
        self._thread.start()
        return self

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> ScriptedBackend:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()
