"""Prefill-only requests over HTTP: `max_tokens: 0` and `n_predict: 0` read the prompt into the cache.

llama.vim sends `n_predict: 0` in the background to warm the server's cache;
the answer is empty text, and the next real request for the same client and
file reads only what changed.
"""

from __future__ import annotations

import httpx

PREFIX = "import os\n" + "".join(f"value_{i} = compute({i})\n" for i in range(30)) + "def f():\n    return "


def test_infill_n_predict_zero_warms_the_cache_for_the_next_request(tiny_server):
    base = {"input_prefix": PREFIX, "input_suffix": "\n", "path": "warm.py"}
    warm = httpx.post(f"{tiny_server}/infill", json={**base, "n_predict": 0}, timeout=60).json()
    assert warm["content"] == "" and warm["tokens_predicted"] == 0 and warm["stop_type"] == "limit"
    assert warm["timings"]["prompt_n"] == warm["tokens_evaluated"] > 100
    real = httpx.post(f"{tiny_server}/infill", json={**base, "prompt": "v", "n_predict": 3}, timeout=60).json()
    assert real["tokens_predicted"] == 3
    assert real["timings"]["prompt_n"] <= 8  # only the typed character and what follows it


def test_openai_max_tokens_zero_returns_empty_text_and_warms_the_cache(tiny_server, tiny_backend):
    body = {"prompt": PREFIX, "suffix": "\n"}
    warm = httpx.post(f"{tiny_server}/v1/completions", json={**body, "max_tokens": 0}, timeout=60).json()
    assert warm["choices"][0]["text"] == "" and warm["choices"][0]["finish_reason"] == "length"
    assert warm["usage"]["completion_tokens"] == 0 and warm["usage"]["prompt_tokens"] > 100
    real = httpx.post(f"{tiny_server}/v1/completions", json={**body, "max_tokens": 2}, timeout=60).json()
    assert real["usage"]["completion_tokens"] == 2
    timings = tiny_backend.done[-1].timings
    assert timings.cached_tokens >= timings.prompt_tokens - 1


def test_negative_max_tokens_is_still_refused_by_name(tiny_server):
    answer = httpx.post(f"{tiny_server}/v1/completions", json={"prompt": "x", "max_tokens": -1}, timeout=60)
    assert answer.status_code == 400 and "max_tokens" in answer.json()["error"]["message"]
