"""An ASGI app served by uvicorn in a thread, on a free loopback port: the one helper the tests share."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

import uvicorn


def free_port() -> int:
    """A loopback port nobody listens on now (for a child process to bind, or to find nobody there)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app: Any, config: uvicorn.Config | None = None, start_timeout: float = 20.0) -> Iterator[str]:
    """Run `app` (with `config`, else quiet defaults) until the block ends; yields its base URL.

    The socket is bound here and handed to uvicorn, so no other process can take the port in between.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(config or uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            sock.close()
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
