"""What a server reachable by others must get right: the key, oversize bodies, CORS (issue #12, security)."""

from __future__ import annotations

import secrets
import select
import socket

import httpx
import pytest

from evals.server_process import serve
from tests.server.conftest import ready_service, running_server

KEY = "k3y-" + "s3cr3t" * 4


def test_the_key_is_compared_in_constant_time(tiny_backend, monkeypatch):
    compared = []
    real = secrets.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(secrets, "compare_digest", spy)
    with running_server(ready_service(tiny_backend), api_key=KEY) as url:
        wrong = httpx.post(f"{url}/infill", json={"input_prefix": "x"}, headers={"Authorization": "Bearer k3y-"})
        right = httpx.post(f"{url}/infill", json={"input_prefix": "x", "n_predict": 1},
                           headers={"Authorization": f"Bearer {KEY}"})  # fmt: skip
    assert (wrong.status_code, right.status_code) == (401, 200)
    assert (b"k3y-", KEY.encode()) in compared and (KEY.encode(), KEY.encode()) in compared
    assert KEY not in wrong.text


def test_the_key_never_appears_in_the_log(tiny_model_dir):
    """Every request shape (none, wrong, right, in a bad request) on a DEBUG-logging server."""
    with serve(tiny_model_dir, "--api-key", KEY, "--context-tokens", "256", log_level="DEBUG") as server:
        auth = {"Authorization": f"Bearer {KEY}"}
        assert httpx.post(f"{server.url}/infill", json={"input_prefix": "x"}).status_code == 401
        assert httpx.post(f"{server.url}/infill", json={"input_prefix": "x"},
                          headers={"Authorization": f"Bearer {KEY}x"}).status_code == 401  # fmt: skip
        assert httpx.post(f"{server.url}/infill", json={"input_prefix": "x", "n_predict": 2},
                          headers=auth).status_code == 200  # fmt: skip
        assert httpx.post(f"{server.url}/v1/completions", json={"prompt": 3}, headers=auth).status_code == 400
        with httpx.stream("POST", f"{server.url}/v1/completions", headers=auth,
                          json={"prompt": "x", "max_tokens": 2, "stream": True}) as r:  # fmt: skip
            assert r.status_code == 200 and list(r.iter_lines())
    assert "DEBUG" in server.log and "ready in" in server.log  # the log was captured, and verbose
    assert KEY not in server.log


def _rest(sock: socket.socket, start: bytes) -> bytes:
    sock.settimeout(5)
    answer = start
    try:
        while piece := sock.recv(4096):  # the server closes after a 413
            answer += piece
    except ConnectionResetError:  # it stopped reading what we sent: the answer is still in our buffer
        pass
    return answer


def _send_until_answered(url: str, head: bytes, chunks, limit_bytes: int) -> tuple[bytes, int]:
    """Send `head` then `chunks` on a raw socket until the server answers or hangs up; the answer and the bytes sent."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head)
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # an answer (or the end) is waiting
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            if sent > 4 * limit_bytes:
                break
        return _rest(sock, b""), sent


def test_an_oversize_body_is_refused_before_it_is_read_whole(tiny_backend):
    service = ready_service(tiny_backend, max_input_chars=1000)
    limit = service.limits.max_body_bytes
    with running_server(service) as url:
        # Declared too large: refused at once, before a byte of the body is sent.
        head = (f"POST /infill HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {100 * limit}\r\n\r\n").encode()  # fmt: skip
        answer, sent = _send_until_answered(url, head, [], limit)
        assert answer.startswith(b"HTTP/1.1 413") and b'"error"' in answer and sent == 0
        # Chunked (no length up front) and never finished: counted while it streams, refused past the limit.
        head = (
            b"POST /infill HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        piece = b"x" * 65536
        chunk = b"%x\r\n%s\r\n" % (len(piece), piece)
        answer, sent = _send_until_answered(url, head, iter(lambda: chunk, None), limit)
        assert answer.startswith(b"HTTP/1.1 413") and b'"error"' in answer, answer[:200]
        assert sent > limit
        assert httpx.get(f"{url}/health").json()["status"] == "ok"


PREFLIGHT = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type"}  # fmt: skip


def test_cors_is_off_unless_asked_for(tiny_server):
    preflight = httpx.options(f"{tiny_server}/v1/completions", headers=PREFLIGHT)
    assert "access-control-allow-origin" not in preflight.headers
    r = httpx.get(f"{tiny_server}/health", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://evil.example"])
def test_cors_allows_only_the_origins_asked_for(tiny_backend, origin):
    with running_server(ready_service(tiny_backend), cors_origins=["http://localhost:3000"]) as url:
        preflight = httpx.options(f"{url}/v1/completions", headers={**PREFLIGHT, "Origin": origin})
        r = httpx.get(f"{url}/health", headers={"Origin": origin})
    allowed = origin == "http://localhost:3000"
    assert (preflight.headers.get("access-control-allow-origin") == origin) is allowed
    assert (r.headers.get("access-control-allow-origin") == origin) is allowed
