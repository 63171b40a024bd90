"""`--context-tokens auto`: the budget follows the timed prompt reads and the latency target, in coarse steps."""

from __future__ import annotations

import pytest

from engine.auto_budget import MIN_TOKENS, STEP, AutoBudget, parse_context_tokens
from engine.backend import CompletionRequest
from engine.errors import EngineError
from engine.local import LocalBackend


def test_budget_is_prompt_speed_times_target_clamped_and_in_steps():
    budget = AutoBudget(target_ms=1000, max_tokens=4096)
    budget.observe(1000, 500)  # 2000 tokens/s: 2000 tokens in the target
    assert budget.tokens == 2000 // STEP * STEP and budget.tokens_per_s == 2000
    budget.observe(1000, 100)  # very fast: clamped to the model's context
    budget.observe(1000, 100)
    budget.observe(1000, 100)
    assert budget.tokens <= 4096
    slow = AutoBudget(target_ms=1000)
    slow.observe(100, 10_000)  # 10 tokens/s
    assert slow.tokens == MIN_TOKENS


def test_small_changes_and_short_reads_leave_the_budget_alone():
    budget = AutoBudget(target_ms=1000, tokens=1024)
    budget.observe(1024, 1000)  # 1024 tokens/s: the budget it has
    assert budget.tokens == 1024
    budget.observe(1100, 1000)  # a few percent faster: not worth losing the prompt cache
    assert budget.tokens == 1024
    budget.observe(10, 1)  # a short (mostly cached) read says little about the speed
    assert budget.tokens == 1024
    assert budget.to_json()["mode"] == "auto" and budget.to_json()["tokens"] == 1024


def test_context_tokens_values():
    assert parse_context_tokens("512") == 512
    assert isinstance(parse_context_tokens("auto"), AutoBudget)
    assert parse_context_tokens("auto:1500").target_ms == 1500
    for bad in ("0", "-3", "lots", "auto:soon", "auto:-5"):
        with pytest.raises(EngineError, match="context-tokens|latency target"):
            parse_context_tokens(bad)


def test_local_backend_times_its_prompt_reads(tiny_model):
    budget = AutoBudget(target_ms=1000, tokens=512)
    backend = LocalBackend(tiny_model, context_tokens=budget, speculate=False, reuse=False)
    assert backend.context_tokens == 512 and budget.max_tokens <= tiny_model.model.config.max_position_embeddings
    prefix = "".join(f"value_{i} = compute({i}, scale={i * 3})\n" for i in range(200))
    completion = backend.complete(CompletionRequest(prefix=prefix, suffix="\n", max_tokens=2, cache_key="a"))
    assert completion.truncated and completion.timings.prompt_tokens <= 512 + 16
    assert budget.tokens_per_s is not None and budget.tokens_per_s > 0
    expected = min(max(int(budget.tokens_per_s) // STEP * STEP, MIN_TOKENS), budget.max_tokens)
    assert backend.context_tokens in (512, expected)  # moved to the measured speed, or close enough already


def test_health_shows_the_budget(tiny_model):
    import httpx

    from tests.server.conftest import ready_service, running_server

    backend = LocalBackend(tiny_model, context_tokens=AutoBudget(tokens=512), speculate=False)
    try:
        with running_server(ready_service(backend)) as url:
            before = httpx.get(f"{url}/health").json()["context_budget"]
            assert before["mode"] == "auto" and before["tokens"] == 512 and before["prompt_tokens_per_s"] is None
            prompt = "".join(f"item_{i} = load({i})\n" for i in range(120))
            reply = httpx.post(f"{url}/v1/completions", json={"prompt": prompt, "suffix": "\n", "max_tokens": 2},
                               timeout=60)  # fmt: skip
            assert reply.status_code == 200, reply.text
            after = httpx.get(f"{url}/health").json()["context_budget"]
            assert after["prompt_tokens_per_s"] > 0 and after["tokens"] == backend.context_tokens
    finally:
        backend.close()
