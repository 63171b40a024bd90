"""HTTP backends: each wire format against a small fake peer, and ours against our real server."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from engine.backend import CancelToken, CompletionRequest
from engine.errors import EngineError
from engine.remote import LlamaCppBackend, OllamaBackend, OpenAIBackend, OurServerBackend
from engine.specs import backend_from_spec, parse_backend_spec
from fim.prompt import ContextFile
from tests.servers import serving


# --- fake peers: canned answers in each provider's shape --------------------------


def fake_peer() -> tuple[FastAPI, list[dict[str, Any]]]:
    app = FastAPI()
    seen: list[dict[str, Any]] = []
    pieces = ["return ", "a + b", "\n"]

    def sse(chunks: list[Any], delay: float = 0.0, forever: bool = False):
        async def gen():
            for chunk in chunks:
                await asyncio.sleep(delay)
                yield "data: " + (chunk if isinstance(chunk, str) else json.dumps(chunk)) + "\n\n"
            while forever:
                await asyncio.sleep(delay)
                yield "data: " + json.dumps({"content": "x", "stop": False}) + "\n\n"

        return StreamingResponse(gen(), media_type="text/event-stream")

    @app.post("/infill")
    async def infill(request: Request) -> Any:
        body = await request.json()
        seen.append(body)
        if body["input_prefix"] == "boom":
            return JSONResponse({"error": {"code": 400, "message": "bad prefix", "type": "invalid_request_error"}},
                                status_code=400)  # fmt: skip
        final = {"content": "", "stop": True, "stop_type": "limit", "stopping_word": "", "tokens_evaluated": 40,
                 "tokens_cached": 45, "truncated": True,
                 "timings": {"prompt_n": 30, "prompt_ms": 300.0, "predicted_n": 3, "predicted_ms": 150.0}}  # fmt: skip
        if body.get("stream"):
            chunks = [{"content": p, "stop": False} for p in pieces] + [final]
            return sse(chunks, delay=0.05, forever=body["input_prefix"] == "forever")
        return {**final, "content": "".join(pieces)}

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        body = await request.json()
        seen.append(body)
        if body.get("stream"):
            chunks: list[Any] = [{"choices": [{"text": p, "index": 0, "finish_reason": None}]} for p in pieces]
            chunks.append({"choices": [{"text": "", "index": 0, "finish_reason": "length"}]})
            chunks.append({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}})
            return sse(chunks + ["[DONE]"])
        return {"id": "x", "object": "text_completion", "created": 0, "model": "m",
                "choices": [{"text": "".join(pieces), "index": 0, "logprobs": None, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}}  # fmt: skip

    @app.post("/api/generate")
    async def generate(request: Request) -> Any:
        body = await request.json()
        seen.append(body)
        final = {"model": body["model"], "response": "", "done": True, "done_reason": "stop",
                 "prompt_eval_count": 20, "prompt_eval_duration": 400_000_000,
                 "eval_count": 3, "eval_duration": 60_000_000}  # fmt: skip
        if body.get("stream"):
            lines = [{"model": body["model"], "response": p, "done": False} for p in pieces] + [final]

            async def gen():
                for line in lines:
                    yield json.dumps(line) + "\n"

            return StreamingResponse(gen(), media_type="application/x-ndjson")
        return {**final, "response": "".join(pieces)}

    return app, seen


@pytest.fixture(scope="module")
def peer():
    app, seen = fake_peer()
    with serving(app) as url:
        yield url, seen


REQUEST = CompletionRequest(
    prefix="def add(a, b):\n    ", suffix="\n\nprint(add(1, 2))\n", path="src/add.py", max_tokens=16,
    stop=("\n\n",), seed=7, context=(ContextFile("util.py", "X = 1\n"),), n_indent=4,
)  # fmt: skip


def test_llama_cpp_request_fields_and_answer(peer):
    url, seen = peer
    backend = LlamaCppBackend(url)
    done = backend.complete(REQUEST)
    sent = seen[-1]
    assert sent["input_prefix"] == REQUEST.prefix and sent["input_suffix"] == REQUEST.suffix
    assert sent["input_extra"] == [{"filename": "util.py", "text": "X = 1\n"}]
    assert (sent["n_predict"], sent["stop"], sent["n_indent"], sent["seed"]) == (16, ["\n\n"], 4, 7)
    assert "raw" not in sent and "path" not in sent  # not llama.cpp fields
    assert done.text == "return a + b\n"
    assert (done.finish_reason, done.stop_type, done.truncated) == ("length", "limit", True)
    # tokens_cached counts generated tokens in llama.cpp; the cached prompt part is evaluated - prompt_n.
    assert (done.timings.prompt_tokens, done.timings.cached_tokens, done.timings.generated_tokens) == (40, 10, 3)
    assert done.timings.prompt_ms == 300.0 and done.request_id == REQUEST.request_id


def test_llama_cpp_streaming_delivers_pieces_in_order(peer):
    url, _ = peer
    got: list[str] = []
    done = LlamaCppBackend(url).complete(REQUEST, on_text=got.append)
    assert got == ["return ", "a + b", "\n"] and done.text == "".join(got)
    assert done.finish_reason == "length" and done.timings.generated_tokens == 3


def test_cancel_closes_a_stream_that_would_not_end(peer):
    url, _ = peer
    cancel = CancelToken()
    got: list[str] = []

    def on_text(piece: str) -> None:
        got.append(piece)
        if len(got) == 2:
            cancel.cancel()

    started = time.monotonic()
    done = LlamaCppBackend(url).complete(CompletionRequest(prefix="forever"), cancel=cancel, on_text=on_text)
    assert done.finish_reason == "cancelled" and done.text == "return a + b"
    assert time.monotonic() - started < 5


def test_our_server_sends_path_and_raw(peer):
    url, seen = peer
    OurServerBackend(url).complete(CompletionRequest(prefix="x", path="a/b.py", raw=True))
    assert seen[-1]["path"] == "a/b.py" and seen[-1]["raw"] is True


def test_openai_request_fields_and_answer(peer):
    url, seen = peer
    backend = OpenAIBackend(url + "/v1", model="codegemma-2b")
    done = backend.complete(REQUEST)
    sent = seen[-1]
    assert (sent["prompt"], sent["suffix"], sent["model"]) == (REQUEST.prefix, REQUEST.suffix, "codegemma-2b")
    assert (sent["max_tokens"], sent["stop"], sent["stream"]) == (16, ["\n\n"], False)
    assert done.text == "return a + b\n" and done.finish_reason == "stop"
    assert (done.timings.prompt_tokens, done.timings.generated_tokens) == (12, 3)


def test_openai_stream_keeps_finish_reason_and_late_usage(peer):
    url, _ = peer
    got: list[str] = []
    done = OpenAIBackend(url).complete(REQUEST, on_text=got.append)  # base URL without /v1 works too
    assert "".join(got) == done.text == "return a + b\n"
    assert done.finish_reason == "length"
    assert (done.timings.prompt_tokens, done.timings.generated_tokens) == (12, 3)


def test_ollama_request_fields_and_answer(peer):
    url, seen = peer
    backend = OllamaBackend(url, "codegemma:2b-code")
    done = backend.complete(REQUEST)
    sent = seen[-1]
    assert (sent["model"], sent["prompt"], sent["suffix"], sent["raw"]) == (
        "codegemma:2b-code", REQUEST.prefix, REQUEST.suffix, False)  # fmt: skip
    assert sent["options"] == {"num_predict": 16, "temperature": 0.0, "top_p": 1.0, "seed": 7, "stop": ["\n\n"]}
    assert done.text == "return a + b\n" and done.finish_reason == "stop"
    assert done.timings.prompt_ms == pytest.approx(400.0) and done.timings.generate_ms == pytest.approx(60.0)
    got: list[str] = []
    streamed = backend.complete(REQUEST, on_text=got.append)
    assert "".join(got) == streamed.text == done.text and streamed.timings.prompt_tokens == 20


def test_server_error_becomes_one_line_naming_the_url(peer):
    url, _ = peer
    with pytest.raises(EngineError, match=rf"^{url}/infill answered 400: bad prefix$"):
        LlamaCppBackend(url).complete(CompletionRequest(prefix="boom"))
    with pytest.raises(EngineError, match="answered 400: bad prefix"):
        LlamaCppBackend(url).complete(CompletionRequest(prefix="boom"), on_text=lambda _: None)


def test_unreachable_server_is_one_clear_error():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(EngineError, match=rf"cannot reach http://127.0.0.1:{port}/infill") as info:
        OurServerBackend(f"http://127.0.0.1:{port}").complete(CompletionRequest(prefix="x"))
    assert "\n" not in str(info.value)


def test_factory_and_spec_strings():
    assert isinstance(backend_from_spec("llama.cpp", None), LlamaCppBackend)
    assert backend_from_spec("http", "http://h:1/").name == "http:http://h:1"
    assert parse_backend_spec("ollama=http://h:11434,model=codegemma:2b") == (
        "ollama", "http://h:11434", {"model": "codegemma:2b"})  # fmt: skip
    assert parse_backend_spec("local") == ("local", None, {})
    with pytest.raises(EngineError, match="unknown backend 'tabby'"):
        backend_from_spec("tabby", "http://h:1")
    with pytest.raises(EngineError, match="needs a model name"):
        backend_from_spec("ollama", None)
    with pytest.raises(EngineError, match="must start with http"):
        backend_from_spec("openai", "localhost:8000")
    with pytest.raises(EngineError, match="takes no URL"):
        backend_from_spec("local", "http://h:1")


# --- our real server, with the bundled model ------------------------------------


@pytest.fixture(scope="module")
def our_server(bundled_backend):
    from server.app import create_app
    from server.service import CompletionService

    service = CompletionService(lambda: bundled_backend)
    service.start_loading()
    assert service.wait_ready(120) and service.status == "ok"
    with serving(create_app(service, api_key="sekrit")) as url:
        yield url


CODE = CompletionRequest(
    prefix="def fibonacci(n):\n    if n < 2:\n        return n\n    ", suffix="\n\nprint(fibonacci(10))\n",
    path="fib.py", max_tokens=12,
)  # fmt: skip


@pytest.mark.model
def test_our_server_completes_and_streams(our_server):
    backend = OurServerBackend(our_server, api_key="sekrit")
    done = backend.complete(CODE)
    assert done.finish_reason in ("stop", "length") and done.request_id == CODE.request_id
    assert 0 < done.timings.generated_tokens <= 12 and done.timings.prompt_tokens > 20
    assert "print(fibonacci(10))" not in done.text  # it does not repeat the suffix
    got: list[str] = []
    streamed = backend.complete(CODE, on_text=got.append)
    assert "".join(got) == streamed.text and streamed.timings.generated_tokens > 0


@pytest.mark.model
def test_our_server_cancel_stops_early(our_server):
    backend = OurServerBackend(our_server, api_key="sekrit")
    cancel = CancelToken()

    def on_text(piece: str) -> None:
        cancel.cancel()

    long = CompletionRequest(prefix="# a list of the first 200 prime numbers\nPRIMES = [2, 3, 5, ", raw=True,
                             max_tokens=200)  # fmt: skip
    started = time.monotonic()
    done = backend.complete(long, cancel=cancel, on_text=on_text)
    assert done.finish_reason == "cancelled"
    # 200 tokens take well over a minute on a CPU; a cancel after the first piece returns at once.
    assert time.monotonic() - started < 30


@pytest.mark.model
def test_our_server_wrong_key_is_one_line(our_server):
    with pytest.raises(EngineError, match="answered 401: missing or wrong API key"):
        OurServerBackend(our_server, api_key="wrong").complete(CODE)
