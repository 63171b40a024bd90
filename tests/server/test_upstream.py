"""`codegemma serve --engine llama.cpp=URL`: our FIM layer in front of a real `llama-server` (issue #14).

One llama-server for the module (the bundled GGUF, 2 slots, 1 thread); our server runs in a thread in
front of it. What the upstream did is read from its own `/metrics` and `/slots`, never from our side.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from engine.bundled import assemble, bundled_parts
from engine.upstream import upstream_from_spec
from tests.peers import UPSTREAM_KEY, LlamaServer, start_llama_server, stop
from tests.server.conftest import free_port, ready_service, running_server

#: The bundled model's format (Qwen2.5-Coder), spelled out: what llama-server must be sent.
PREFIX = "def add(a, b):\n    return "
SUFFIX = "\n"
FIM_PROMPT = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory) -> LlamaServer:
    where = tmp_path_factory.mktemp("llama-server")
    gguf = assemble(bundled_parts(), where / "bundled.gguf")
    server = start_llama_server(gguf, free_port(), where / "llama-server.log")
    yield server
    stop(server)


def front_for(spec: str):
    """Our server in front of the upstream that `spec` (`--engine`) names."""
    return running_server(ready_service(upstream_from_spec(spec)))


@pytest.fixture(scope="module")
def front(upstream) -> str:
    # No fim_format: it is read from the upstream's vocabulary.
    with front_for(f"llama.cpp={upstream.url},api_key={UPSTREAM_KEY},tokenizer=bundled") as url:
        yield url


def direct(upstream: LlamaServer, prompt: str, n_predict: int) -> str:
    body = {"prompt": prompt, "n_predict": n_predict, "temperature": 0, "cache_prompt": True}
    answer = httpx.post(upstream.url + "/completion", json=body, headers=upstream.headers, timeout=120)
    assert answer.status_code == 200, answer.text
    return answer.json()["content"]


def infill(front: str, **body) -> httpx.Response:
    return httpx.post(front + "/infill", json=body, timeout=120)


def test_the_upstream_is_sent_its_models_fim_prompt(upstream, front):
    health = httpx.get(front + "/health").json()
    assert health["status"] == "ok" and health["fim_format"] == "qwen2.5-coder"
    # raw: only the sentinels end it, so the front's text is the upstream's greedy text for the prompt it got.
    ours = infill(front, input_prefix=PREFIX, input_suffix=SUFFIX, n_predict=8, raw=True).json()["content"]
    assert ours and ours == direct(upstream, FIM_PROMPT, 8)
    # Other files and the path go in the format's multi-file form.
    ours = infill(front, input_prefix="total = price * (1 + ", input_suffix=")\n", path="shop/cart.py",
                  input_extra=[{"filename": "shop/tax.py", "text": "VAT = 0.2\n"}], n_predict=6, raw=True)  # fmt: skip
    expected = ("<|file_sep|>shop/tax.py\nVAT = 0.2\n\n<|file_sep|>shop/cart.py\n"
                "<|fim_prefix|>total = price * (1 + <|fim_suffix|>)\n<|fim_middle|>")  # fmt: skip
    assert ours.json()["content"] == direct(upstream, expected, 6)


def test_the_upstream_stops_generating_when_the_unit_is_complete(upstream, front):
    before = upstream.metric("tokens_predicted_total")
    done = infill(front, input_prefix=PREFIX, input_suffix=SUFFIX, n_predict=48).json()
    through_us = upstream.metric("tokens_predicted_total") - before
    assert done["content"].strip() and "\n" not in done["content"].strip()  # the return line, nothing after
    before = upstream.metric("tokens_predicted_total")
    direct(upstream, FIM_PROMPT, 48)  # the model goes on past the unit (`def subtract(...)`, ...)
    straight = upstream.metric("tokens_predicted_total") - before
    assert through_us <= 0.3 * straight, (through_us, straight)


def test_a_client_that_leaves_closes_the_upstream_request(upstream, front):
    before = upstream.metric("tokens_predicted_total")
    body = {"input_prefix": "numbers = [\n    1,\n    2,\n    3,\n", "input_suffix": "", "n_predict": 400,
            "raw": True, "stream": True}  # fmt: skip
    with httpx.stream("POST", front + "/infill", json=body, timeout=60) as response:
        for line in response.iter_lines():
            if line.startswith("data:") and json.loads(line[5:])["content"]:
                break
        assert upstream.busy()  # still generating when we leave
    assert upstream.idle_within(3)
    assert upstream.metric("tokens_predicted_total") - before < 100


def test_streamed_and_whole_answers_agree(front):
    body = {"input_prefix": "def mean(values):\n    ", "input_suffix": "\n\nprint(mean([1, 2]))\n", "n_predict": 32}
    whole = infill(front, **body).json()["content"]
    pieces = []
    with httpx.stream("POST", front + "/infill", json={**body, "stream": True}, timeout=120) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                pieces.append(json.loads(line[5:])["content"])
    assert whole.strip() and "".join(pieces) == whole
    openai = {"prompt": body["input_prefix"], "suffix": body["input_suffix"], "max_tokens": 32}
    assert httpx.post(front + "/v1/completions", json=openai, timeout=120).json()["choices"][0]["text"] == whole


def test_typing_through_the_previous_completion_asks_the_upstream_nothing(upstream, front):
    body = {"input_prefix": "def area(width, height):\n    return ", "input_suffix": "\n", "n_predict": 16}
    first = infill(front, **body).json()["content"]
    assert len(first.strip()) >= 2
    before = upstream.metric("prompt_tokens_total"), upstream.metric("tokens_predicted_total")
    typed = infill(front, **{**body, "input_prefix": body["input_prefix"] + first[0]}).json()["content"]
    assert typed == first[1:]
    assert (upstream.metric("prompt_tokens_total"), upstream.metric("tokens_predicted_total")) == before


def test_an_upstream_that_is_down_is_named_in_the_503_and_on_health():
    nobody = f"http://127.0.0.1:{free_port()}"
    with front_for(f"llama.cpp={nobody},fim_format=qwen2.5-coder") as url:
        health = httpx.get(url + "/health")
        assert health.status_code == 503 and nobody in health.json()["error"]
        refused = infill(url, input_prefix=PREFIX, input_suffix=SUFFIX, n_predict=8)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert nobody in refused.json()["error"]["message"]
        with httpx.stream("POST", url + "/infill", json={"input_prefix": PREFIX, "stream": True}) as response:
            events = [json.loads(line[5:]) for line in response.iter_lines() if line.startswith("data:")]
        assert events[-1]["error"]["code"] == 503 and nobody in events[-1]["error"]["message"]


def test_an_upstream_slower_than_the_timeout_gives_504(upstream):
    with front_for(f"llama.cpp={upstream.url},api_key={UPSTREAM_KEY},tokenizer=bundled,timeout=1") as url:
        upstream.process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            refused = infill(url, input_prefix=PREFIX, input_suffix=SUFFIX, n_predict=8)
            assert time.monotonic() - started < 5
        finally:
            upstream.process.send_signal(signal.SIGCONT)
        assert refused.status_code == 504 and upstream.url in refused.json()["error"]["message"]
        assert upstream.idle_within(30)


def test_the_upstreams_key_is_sent_and_never_logged(upstream, front, caplog):
    caplog.set_level(logging.DEBUG)
    assert infill(front, input_prefix="x = ", input_suffix="\n", n_predict=4).status_code == 200
    with front_for(f"llama.cpp={upstream.url},api_key=wrong-{UPSTREAM_KEY},tokenizer=bundled") as url:
        refused = infill(url, input_prefix=PREFIX, input_suffix=SUFFIX, n_predict=4)
        health = httpx.get(url + "/health").text
    assert refused.status_code == 502 and "401" in refused.json()["error"]["message"]
    assert UPSTREAM_KEY not in caplog.text + refused.text + health


def test_codegemma_serve_engine_runs_in_front_of_llama_server(upstream, tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "cli", "--log-level", "DEBUG", "serve", "--port", str(port),
               "--engine", f"llama.cpp={upstream.url},tokenizer=bundled"]  # fmt: skip
    env = {**os.environ, "CODEGEMMA_ENGINE_KEY": UPSTREAM_KEY}
    with open(log, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        done = infill(url, input_prefix=PREFIX, input_suffix=SUFFIX, n_predict=16).json()
        assert done["content"].strip()
    finally:
        process.terminate()
        process.wait(20)
    assert UPSTREAM_KEY not in log.read_text()
