"""A newer request for the same editor document supersedes the one still running (issue #14).

Against a real `llama-server` behind `codegemma serve --engine llama.cpp=URL`: the older request is
answered 409 (a stream ends with a 409 error event) as soon as the newer one arrives, and the upstream
stops generating for it, read from the upstream's own `/slots` and `/metrics`.
"""

from __future__ import annotations

import json
import threading
import time

import httpx

from tests.peers import LlamaServer
from tests.server.test_upstream import front, upstream  # noqa: F401  (module fixtures: one llama-server here)

#: Raw, so only a sentinel ends it: a list the model goes on with for hundreds of tokens.
LONG = {"input_prefix": "numbers = [\n    1,\n    2,\n    3,\n", "input_suffix": "", "n_predict": 400, "raw": True}
SHORT = {"input_prefix": "def add(a, b):\n    return ", "input_suffix": "\n", "n_predict": 8}


def generating(upstream: LlamaServer, within: float = 30) -> bool:
    """True once the upstream has decoded a few tokens of some request."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        slots = httpx.get(upstream.url + "/slots", headers=upstream.headers, timeout=10).json()
        if any(slot["is_processing"] and slot.get("next_token", [{}])[0].get("n_decoded", 0) >= 4 for slot in slots):
            return True
        time.sleep(0.02)
    return False


def in_background(call) -> tuple[threading.Thread, list]:
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(call()), daemon=True)
    thread.start()
    return thread, answers


def test_a_newer_request_for_the_document_supersedes_the_running_one(upstream, front):
    before = upstream.metric("tokens_predicted_total")
    older, answers = in_background(lambda: httpx.post(front + "/infill", json={**LONG, "document": "file:///a.py"},
                                                      timeout=120))  # fmt: skip
    assert generating(upstream)
    superseded_at = time.monotonic()
    newer = httpx.post(front + "/infill", json={**SHORT, "document": "file:///a.py"}, timeout=120)
    older.join(30)
    assert newer.status_code == 200 and newer.json()["content"].strip()
    [answer] = answers
    assert answer.status_code == 409 and "superseded" in answer.json()["error"]["message"]
    assert upstream.idle_within(3) and time.monotonic() - superseded_at < 10
    # Both requests together: far fewer than the 400 the older one asked for.
    assert upstream.metric("tokens_predicted_total") - before < 150


def test_a_superseded_stream_ends_with_a_409_event(upstream, front):
    def stream() -> list[dict]:
        body = {"prompt": LONG["input_prefix"], "max_tokens": 400, "raw": True, "stream": True, "document": "b"}
        with httpx.stream("POST", front + "/v1/completions", json=body, timeout=120) as response:
            return [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data: {")]

    older, answers = in_background(stream)
    assert generating(upstream)
    newer = httpx.post(front + "/v1/completions", json={"prompt": SHORT["input_prefix"], "suffix": "\n",
                                                       "max_tokens": 8, "document": "b"}, timeout=120)  # fmt: skip
    older.join(30)
    assert newer.status_code == 200
    [events] = answers
    assert events[-1]["error"]["code"] == 409
    assert upstream.idle_within(3)


def test_other_documents_and_cache_warming_supersede_nothing(upstream, front):
    body = {**LONG, "n_predict": 24, "document": "c"}
    older, answers = in_background(lambda: httpx.post(front + "/infill", json=body, timeout=120))
    assert generating(upstream)
    other = httpx.post(front + "/infill", json={**SHORT, "document": "d"}, timeout=120)
    warming = httpx.post(front + "/infill", json={**SHORT, "n_predict": 0, "document": "c"}, timeout=120)
    older.join(60)
    assert other.status_code == 200 and warming.status_code == 200
    assert answers[0].status_code == 200 and answers[0].json()["tokens_predicted"] == 24


def test_the_document_keys_the_prompt_cache_and_is_sent_by_our_http_backend():
    from engine.backend import CompletionRequest
    from engine.remote import OurServerBackend
    from server.protocol import InfillRequest, OpenAICompletionRequest

    assert InfillRequest(input_prefix="x", document="file:///a.py", path="a.py").cache_key("10.0.0.1") == \
        "10.0.0.1#doc:file:///a.py"  # fmt: skip
    assert InfillRequest(input_prefix="x", document="d", id_slot=1).cache_key("10.0.0.1") == "10.0.0.1#slot1"
    assert OpenAICompletionRequest(prompt="x", document="d").to_request(8, client="h").cache_key == "h#doc:d"
    assert OpenAICompletionRequest(prompt="x").to_request(8, client="h").cache_key is None  # as before
    body = OurServerBackend("http://127.0.0.1:1").build(CompletionRequest(prefix="x", cache_key="file:///a.py"), False)
    assert body["document"] == "file:///a.py"
