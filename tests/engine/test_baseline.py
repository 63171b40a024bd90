"""The plain-`generate` baseline the latency benchmark measures the engine against."""

from __future__ import annotations

from dataclasses import replace

from engine.backend import CancelToken, CompletionRequest
from engine.baseline import PlainGenerateBackend
from engine.local import LocalBackend
from engine.specs import backend_from_spec


def test_baseline_is_float32_whatever_auto_picks(tiny_model_dir):
    backend = backend_from_spec("generate", model=str(tiny_model_dir), dtype="auto")
    assert isinstance(backend, PlainGenerateBackend) and backend.lm.dtype == "float32"


def test_baseline_runs_to_the_limit_and_matches_the_engine_raw(tiny_model):
    never_stops = replace(tiny_model, stop_ids=frozenset({tiny_model.tokenizer.eos_token_id}))
    request = CompletionRequest(prefix="def f(x):\n    return ", suffix="\n", max_tokens=12, raw=True)
    plain = PlainGenerateBackend(never_stops, context_tokens=256).complete(request)
    ours = LocalBackend(never_stops, context_tokens=256, speculate=False).complete(request)
    assert plain.timings.generated_tokens == 12 and plain.finish_reason == "length"
    assert plain.timings.prompt_ms > 0 and plain.timings.generate_ms > 0
    # Same model, same prompt, greedy: the same text as our decode loop's.
    assert plain.text == ours.text


def test_baseline_stops_at_the_next_token_once_cancelled(tiny_model):
    never_stops = replace(tiny_model, stop_ids=frozenset({tiny_model.tokenizer.eos_token_id}))
    request = CompletionRequest(prefix="def f(x):\n    return ", suffix="\n", max_tokens=40, raw=True)
    cancel = CancelToken()
    cancel.cancel()  # e.g. the client went away while the request waited for the model
    done = PlainGenerateBackend(never_stops, context_tokens=256).complete(request, cancel=cancel)
    assert done.finish_reason == "cancelled" and done.stop_type == "none"
    assert done.timings.generated_tokens <= 1
