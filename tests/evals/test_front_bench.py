"""The front-layer view of `codegemma bench latency --front`: pairing, the upstream's counter, refusals."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest

from evals.errors import EvalError
from evals.front_bench import added_latency, check_front
from evals.latency import Sample
from tests.server.test_upstream import upstream  # noqa: F401  (a real llama-server for this module)


def sample(backend: str, kind: str, sequence: int, step: int, latency: float, first: float | None = None,
           error: str | None = None, clients: int = 1) -> Sample:  # fmt: skip
    return Sample(backend=backend, kind=kind, sequence=sequence, step=step, source="x.py", latency_ms=latency,
                  first_text_ms=first, error=error, concurrency=clients)  # fmt: skip


def test_added_latency_pairs_the_same_requests_and_skips_failures():
    samples = [
        sample("direct", "file", 0, 0, 100, 40), sample("front", "file", 0, 0, 103, 45),
        sample("direct", "file", 1, 0, 200, 50), sample("front", "file", 1, 0, 150, 52),
        sample("direct", "typing", 0, 1, 90), sample("front", "typing", 0, 1, 5),
        sample("direct", "file", 2, 0, 100), sample("front", "file", 2, 0, 1, error="refused"),
        sample("front", "file", 0, 0, 999, clients=4),  # another level
    ]  # fmt: skip
    got = added_latency(samples, "direct", "front", 1)
    assert got["pairs"] == 3
    assert got["added_median_ms"] == -50  # of 3, -50, -85
    assert got["added_file_median_ms"] == pytest.approx(-23.5)  # of 3 and -50
    assert got["added_first_text_median_ms"] == pytest.approx(3.5)  # of 5 and 2


def test_the_layers_own_cost_leaves_out_the_upstreams_compute():
    """Prompts a few tokens apart and a noisy upstream must not count as the layer's cost.

    The front's first pair took 300 ms longer end to end, all of it in the upstream's own prompt time;
    its layer added 4 ms. The second pair the front closed early (fewer tokens: its own clock), and the
    third it typed through (no prompt): neither has the upstream's timings, so neither counts.
    """

    def timed(backend, seq, latency, first, prompt_ms, generate_ms, tokens):
        return replace(sample(backend, "file", seq, 0, latency, first), prompt_ms=prompt_ms, generate_ms=generate_ms,
                       generated_tokens=tokens)  # fmt: skip

    samples = [
        timed("direct", 0, 2000, 1005, 1000, 990, 64), timed("front", 0, 2304, 1310, 1300, 990, 64),
        timed("direct", 1, 2000, 1005, 1000, 990, 64), timed("front", 1, 900, 850, 840, 40, 3),
        timed("direct", 2, 2000, 1005, 1000, 990, 64), timed("front", 2, 3, 2, 0, 0, 0),
    ]  # fmt: skip
    got = added_latency(samples, "direct", "front", 1)
    assert got["upstream_timed_pairs"] == 1
    assert got["added_outside_upstream_median_ms"] == pytest.approx(4)  # (2304-1300-990) - (2000-1000-990)
    assert got["added_first_text_outside_upstream_median_ms"] == pytest.approx(5)  # (1310-1300) - (1005-1000)


@pytest.mark.parametrize("backend, compare, front, problem", [
    ("http", [], "http://h:8012", "--backend llama.cpp"),
    ("llama.cpp", ["openai"], "http://h:8012", "cannot be combined"),
    ("llama.cpp", [], "h:8012", "must be the URL"),
])  # fmt: skip
def test_front_refuses_what_it_cannot_compare(backend, compare, front, problem):
    with pytest.raises(EvalError, match=problem):
        check_front(argparse.Namespace(backend=backend, compare=compare, front=front))


def test_the_upstream_counter_is_read_from_a_real_llama_server(upstream):
    import httpx

    from engine.remote import LlamaCppBackend
    from evals.front_bench import upstream_tokens

    direct = LlamaCppBackend(upstream.url, api_key=upstream.key)
    before = upstream_tokens(direct)
    body = {"prompt": "def add(a, b):\n", "n_predict": 5, "temperature": 0}
    assert httpx.post(upstream.url + "/completion", json=body, headers=upstream.headers, timeout=120).status_code == 200
    assert upstream_tokens(direct) - before == 5 == upstream.metric("tokens_predicted_total") - before


def prompt_read(server, prompt: str) -> int:
    import httpx

    body = {"prompt": prompt, "n_predict": 1, "temperature": 0, "cache_prompt": True, "id_slot": 0}
    answer = httpx.post(server.url + "/completion", json=body, headers=server.headers, timeout=120).json()
    return answer["timings"]["prompt_n"]


def test_a_pass_does_not_find_the_prompts_of_the_pass_before(tmp_path):
    # Both passes replay the same requests: llama-server must forget the first pass's prompts.
    from engine.bundled import assemble, bundled_parts
    from engine.remote import LlamaCppBackend
    from evals.front_bench import forget_prompts
    from tests.peers import start_llama_server, stop
    from tests.servers import free_port

    gguf = assemble(bundled_parts(), tmp_path / "bundled.gguf")
    (tmp_path / "slots").mkdir()
    server = start_llama_server(gguf, free_port(), tmp_path / "llama-server.log",
                                extra=("--slot-save-path", str(tmp_path / "slots")))  # fmt: skip
    try:
        prompt = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
        full = prompt_read(server, prompt)
        assert prompt_read(server, prompt) < full  # cached: the pass after would not read it
        assert forget_prompts(LlamaCppBackend(server.url, api_key=server.key))
        assert prompt_read(server, prompt) == full
    finally:
        stop(server)


def test_an_upstream_that_cannot_forget_is_named_in_the_report(upstream):  # noqa: F811
    from engine.remote import LlamaCppBackend
    from evals.front_bench import FrontRun, forget_prompts, front_table

    assert not forget_prompts(LlamaCppBackend(upstream.url, api_key=upstream.key))  # no --slot-save-path
    assert "--slot-save-path" in front_table(FrontRun(fresh_passes=False))
    assert "--slot-save-path" not in front_table(FrontRun())
