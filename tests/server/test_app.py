"""Every HTTP endpoint, against a real server on a tiny random model.

Answers are random text; what is checked is the wire shape, validation,
auth, limits, streaming and cancellation that clients rely on.
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from server.service import CompletionService
from tests.server.conftest import ready_service, running_server

SENTINELS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_sep|>", "<|endoftext|>", "<|im_end|>")
FIM = {"prompt": "def add(a, b):\n    return ", "suffix": "\n\nprint(add(1, 2))\n"}


def sse_events(response: httpx.Response) -> list[str]:
    return [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]


def test_health_and_models(tiny_server):
    health = httpx.get(f"{tiny_server}/health").json()
    assert health["status"] == "ok" and health["fim_format"] == "qwen2.5-coder" and health["device"] == "cpu"
    models = httpx.get(f"{tiny_server}/v1/models").json()
    assert models["object"] == "list" and len(models["data"]) == 1


def test_health_reports_memory_and_the_prompt_cache(tiny_server):
    httpx.post(f"{tiny_server}/infill", json={"input_prefix": "x = ", "input_suffix": "\n", "n_predict": 2,
                                              "path": "a.py"}, timeout=60)  # fmt: skip
    health = httpx.get(f"{tiny_server}/health").json()
    assert health["peak_rss_mb"] > 100
    cache = health["prompt_cache"]
    assert cache["entries"] >= 1 and cache["mb"] <= cache["limit_mb"] == 512


def test_openai_completion_shape(tiny_server):
    body = httpx.post(f"{tiny_server}/v1/completions", json={**FIM, "max_tokens": 5}, timeout=60).json()
    assert body["object"] == "text_completion" and body["id"]
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] in ("stop", "length")
    assert not any(s in choice["text"] for s in SENTINELS)
    assert body["usage"]["completion_tokens"] <= 5 and body["usage"]["prompt_tokens"] > 0


def test_openai_n_samples_and_prompt_list(tiny_server):
    body = httpx.post(
        f"{tiny_server}/v1/completions",
        json={
            "prompt": [FIM["prompt"]],
            "suffix": FIM["suffix"],
            "max_tokens": 3,
            "n": 2,
            "temperature": 0.8,
            "seed": 1,
        },
        timeout=60,
    ).json()
    assert [c["index"] for c in body["choices"]] == [0, 1]


def test_openai_stream_matches_the_non_streamed_answer(tiny_server):
    request = {**FIM, "max_tokens": 8}
    plain = httpx.post(f"{tiny_server}/v1/completions", json=request, timeout=60).json()["choices"][0]["text"]
    with httpx.stream("POST", f"{tiny_server}/v1/completions", json={**request, "stream": True}, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
    assert "".join(c["choices"][0]["text"] for c in chunks) == plain


def test_infill_shape_extra_context_and_response_fields(tiny_server):
    base = {"input_prefix": "import util\n\n", "prompt": "x = util.", "input_suffix": "\n", "n_predict": 4}
    plain = httpx.post(f"{tiny_server}/infill", json=base, timeout=60).json()
    for key in (
        "content",
        "stop",
        "stop_type",
        "stopping_word",
        "tokens_cached",
        "tokens_evaluated",
        "truncated",
        "timings",
    ):
        assert key in plain
    assert plain["stop_type"] in ("none", "eos", "limit", "word")
    assert set(plain["timings"]) >= {
        "prompt_n",
        "prompt_ms",
        "prompt_per_second",
        "predicted_n",
        "predicted_ms",
        "predicted_per_second",
    }
    extra = [{"filename": "util.py", "text": "def helper():\n    return 42\n"}]
    with_extra = httpx.post(f"{tiny_server}/infill", json={**base, "input_extra": extra}, timeout=60).json()
    assert with_extra["tokens_evaluated"] > plain["tokens_evaluated"]
    only = httpx.post(f"{tiny_server}/infill", json={**base, "response_fields": ["content"]}, timeout=60).json()
    assert set(only) == {"content"}


def test_infill_stream(tiny_server):
    with httpx.stream(
        "POST", f"{tiny_server}/infill", json={"input_prefix": "x = ", "n_predict": 5, "stream": True}, timeout=60
    ) as r:
        events = [json.loads(e) for e in sse_events(r)]
    assert events[-1]["stop"] is True and "timings" in events[-1]
    assert all(e["stop"] is False for e in events[:-1])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": 3}, "prompt"),
        ({"prompt": "x", "max_tokens": -1}, "max_tokens"),
        ({"prompt": "x", "max_tokens": 10**9}, "max_tokens"),
        ({"prompt": "x", "temperature": "hot"}, "temperature"),
        ({"prompt": ["a", "b"]}, "prompt"),
        ({"suffix": "x"}, "prompt"),
        ({"prompt": "x", "logprobs": 5}, "logprobs"),
    ],
)
def test_validation_errors_name_the_field(tiny_server, body, field):
    r = httpx.post(f"{tiny_server}/v1/completions", json=body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["param"] == field and field in error["message"]


def test_infill_validation_and_bad_json(tiny_server):
    r = httpx.post(f"{tiny_server}/infill", json={"input_prefix": "x", "n_predict": 10**6})
    assert r.status_code == 400 and r.json()["error"]["param"] == "n_predict"
    r = httpx.post(f"{tiny_server}/infill", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]


def test_stream_with_several_samples_is_refused(tiny_server):
    r = httpx.post(f"{tiny_server}/v1/completions", json={"prompt": "x", "n": 2, "stream": True})
    assert r.status_code == 400 and r.json()["error"]["param"] == "n"


def test_oversize_input_is_refused(tiny_backend):
    with running_server(ready_service(tiny_backend, max_input_chars=1000)) as url:
        r = httpx.post(f"{url}/v1/completions", json={"prompt": "x" * 900, "suffix": "y" * 200})
        assert r.status_code == 413 and "at most 1000" in r.json()["error"]["message"]
        r = httpx.post(
            f"{url}/infill",
            json={"input_prefix": "x", "input_extra": [{"filename": "a", "text": "z" * 2000}], "stream": True},
        )
        assert r.status_code == 413


def test_api_key_guards_completion_routes_but_not_health(tiny_backend):
    with running_server(ready_service(tiny_backend), api_key="s3cret") as url:
        assert httpx.get(f"{url}/health").status_code == 200
        assert httpx.post(f"{url}/v1/completions", json={"prompt": "x", "max_tokens": 1}).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert httpx.post(f"{url}/infill", json={"input_prefix": "x"}, headers=wrong).status_code == 401
        assert httpx.get(f"{url}/v1/models", headers=wrong).status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert httpx.post(f"{url}/infill", json={"input_prefix": "x", "n_predict": 1}, headers=good).status_code == 200


def test_overloaded_server_answers_503_instead_of_queueing(tiny_backend):
    with running_server(ready_service(tiny_backend, max_pending=1)) as url:
        tiny_backend.gate.clear()  # the first request is admitted and then held
        held = threading.Thread(
            target=lambda: httpx.post(f"{url}/infill", json={"input_prefix": "x", "n_predict": 2}, timeout=60)
        )
        held.start()
        time.sleep(0.5)
        r = httpx.post(f"{url}/infill", json={"input_prefix": "y", "n_predict": 1})
        assert r.status_code == 503 and "busy" in r.json()["error"]["message"] and r.headers["retry-after"]
        tiny_backend.gate.set()
        held.join()
        assert httpx.post(f"{url}/infill", json={"input_prefix": "y", "n_predict": 1}).status_code == 200


def test_loading_model_is_reported(tiny_backend):
    gate = threading.Event()

    def slow_load():
        gate.wait(10)
        return tiny_backend

    service = CompletionService(slow_load)
    service.start_loading()
    with running_server(service) as url:
        assert httpx.get(f"{url}/health").json()["status"] == "loading"
        r = httpx.post(f"{url}/v1/completions", json={"prompt": "x"})
        assert r.status_code == 503 and "loading" in r.json()["error"]["message"]
        gate.set()
        service.wait_ready(10)
        assert httpx.get(f"{url}/health").json()["status"] == "ok"


def test_failed_load_is_reported_not_fatal():
    def broken():
        from engine.errors import EngineError

        raise EngineError("model file not found: /x.gguf")

    service = CompletionService(broken)
    service.start_loading().join()
    with running_server(service) as url:
        health = httpx.get(f"{url}/health")
        assert health.status_code == 503 and "not found" in health.json()["error"]


@pytest.mark.parametrize("stream", [False, True])
def test_client_disconnect_cancels_generation(tiny_backend, stream):
    """A client that gives up must not leave the model generating for nobody."""
    with running_server(ready_service(tiny_backend)) as url:
        long = {"input_prefix": "x = ", "n_predict": 4096, "stream": stream, "raw": True}
        if stream:
            with httpx.stream("POST", f"{url}/infill", json=long, timeout=60) as r:
                next(r.iter_lines())  # the first piece arrived; now hang up
        else:
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(f"{url}/infill", json=long, timeout=0.5)
        deadline = time.time() + 30
        while len(tiny_backend.done) < 2 and time.time() < deadline:  # warm-up + the long request
            time.sleep(0.05)
        cancelled = tiny_backend.done[-1]
        assert cancelled.finish_reason == "cancelled"
        assert cancelled.timings.generated_tokens < 4096


def test_prompt_cache_key_follows_slot_then_file_then_client():
    from server.protocol import InfillRequest

    assert InfillRequest(input_prefix="x", id_slot=2, path="a.py").cache_key("10.0.0.1") == "10.0.0.1#slot2"
    assert InfillRequest(input_prefix="x", path="a.py").cache_key("10.0.0.1") == "10.0.0.1:a.py"
    assert InfillRequest(input_prefix="x").cache_key("10.0.0.1") == "10.0.0.1"
    assert InfillRequest(input_prefix="x").cache_key(None) is None
