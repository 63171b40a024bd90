"""The server on the raw wire: messages pygls' own client would never send."""

from __future__ import annotations

import json
import subprocess

from tests.lsp.helpers import server_config


def test_a_request_without_params_is_answered():
    """JSON-RPC lets a request omit `params` (Neovim's `client:request(method)` does); it must still be answered."""
    config = server_config()
    server = subprocess.Popen(config.server_command, env=config.server_env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip

    def send(message: dict) -> None:
        body = json.dumps(message).encode()
        server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        server.stdin.flush()

    def receive() -> dict:
        length = 0
        while line := server.stdout.readline().strip():
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return json.loads(server.stdout.read(length))

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}})
        assert receive()["id"] == 1
        send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        send({"jsonrpc": "2.0", "id": 2, "method": "codegemma/stats"})
        answer = receive()
        assert answer["id"] == 2 and answer["result"]["requests"] == 0
        send({"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
        assert receive()["id"] == 3
        send({"jsonrpc": "2.0", "method": "exit"})
        assert server.wait(timeout=30) == 0
    finally:
        server.kill()
