"""`codegemma lsp` as a subprocess spoken to in raw JSON-RPC bytes, for tests and the fuzzer.

pygls' own client cannot send what a broken or hostile client sends: a bad
`Content-Length`, a truncated body, a request without a method. This one
writes bytes as given and reads every frame the server writes back in a
reader thread, so a caller can wait for the answer to one id (with a bound)
and count what else arrived: answers per id, `window/showMessage` popups,
other notifications.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]


def frame(message: Any) -> bytes:
    """One well-formed frame; lone surrogates travel as JSON escapes (`\\ud800`), as a JS client sends them."""
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def server_command(*flags: str, log_level: str = "WARNING") -> tuple[list[str], dict[str, str]]:
    """The command line and environment that start `codegemma lsp` from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return [sys.executable, "-m", "cli", "--log-level", os.environ.get("LSP_WIRE_LOG", log_level), "lsp", *flags], env


class WireClient:
    """A raw stdio client of one `codegemma lsp` process."""

    def __init__(self, *flags: str, stderr: IO[bytes] | int = subprocess.DEVNULL, env: dict[str, str] | None = None):
        command, default_env = server_command(*flags)
        self.process = subprocess.Popen(command, env={**default_env, **(env or {})}, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=stderr)  # fmt: skip
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        #: id -> every response that carried it (more than one is a protocol violation).
        self.responses: dict[Any, list[dict]] = defaultdict(list)
        #: Messages without an id (notifications), in order.
        self.notifications: list[dict] = []
        #: Requests the server sent us (workspace/configuration, ...), answered with null.
        self.server_requests: list[dict] = []
        self._reader = threading.Thread(target=self._read, name="lsp-wire-reader", daemon=True)
        self._reader.start()

    # --- writing ---------------------------------------------------------------

    def send_bytes(self, data: bytes) -> None:
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):  # the server is gone; callers notice through `alive`
            pass

    def send(self, message: Any) -> None:
        self.send_bytes(frame(message))

    def request(self, method: str | None, params: Any = None, *, msg_id: Any = None, **extra: Any) -> Any:
        """Send a request (without `params` when None) and return its id."""
        msg_id = next(self._ids) if msg_id is None else msg_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, **extra}
        if method is not None:
            message["method"] = method
        if params is not None:
            message["params"] = params
        self.send(message)
        return msg_id

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, **({} if params is None else {"params": params})})

    def initialize(self, capabilities: dict | None = None, **options: Any) -> dict:
        answer = self.call("initialize", {"capabilities": capabilities or {}, "rootUri": "file:///work/space",
                                          "initializationOptions": options or None})  # fmt: skip
        self.notify("initialized", {})
        return answer

    def open(self, uri: str, text: str, language_id: str = "python", version: int = 1) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language_id,
                                                              "version": version, "text": text}})  # fmt: skip

    # --- reading ---------------------------------------------------------------

    def call(self, method: str | None, params: Any = None, timeout: float = 30.0, **extra: Any) -> dict:
        """Send a request and wait for its answer; AssertionError when none comes within `timeout`."""
        msg_id = self.request(method, params, **extra)
        answer = self.wait(msg_id, timeout)
        if answer is None:
            raise AssertionError(f"no answer to {method} (id {msg_id}) within {timeout} s")
        return answer

    def wait(self, msg_id: Any, timeout: float) -> dict | None:
        """The first answer to `msg_id`, or None when none came within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while not self.responses.get(msg_id):
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    return None
                self._lock.wait(min(left, 0.5))
            return self.responses[msg_id][0]

    def popups(self) -> list[str]:
        return [n["params"]["message"] for n in self.notifications if n.get("method") == "window/showMessage"]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def _read(self) -> None:
        stdout = self.process.stdout
        while True:
            length = None
            while True:
                line = stdout.readline()
                if not line:
                    with self._lock:
                        self._lock.notify_all()
                    return
                if not line.strip():
                    break
                name, _, value = line.decode("ascii", "replace").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if length is None:
                continue
            message = json.loads(stdout.read(length))
            if "method" in message and "id" in message:  # a request from the server: answer it
                self.server_requests.append(message)
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
                continue
            with self._lock:
                if "id" in message:
                    self.responses[message["id"]].append(message)
                else:
                    self.notifications.append(message)
                self._lock.notify_all()

    # --- ending ------------------------------------------------------------------

    def close(self, timeout: float = 20.0) -> int | None:
        """Shut down and exit politely if the server still runs; kill it if it does not go. Its exit code."""
        if self.alive:
            self.request("shutdown")
            time.sleep(0.05)
            self.notify("exit")
            try:
                self.process.stdin.close()
            except (BrokenPipeError, OSError):
                pass
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None
        finally:
            self._reader.join(5)

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
        if self.alive:
            self.process.kill()
