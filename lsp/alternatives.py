"""Alternatives for a manual trigger: the greedy completion and up to n-1 distinct sampled ones.

The sampled requests differ from the greedy one only in temperature, top-p
and seed (seeds 1, 2, ...), so every backend that honours a seed (ours, llama.cpp,
OpenAI-compatible, Ollama) gives the same alternatives for the same prompt.
Texts are compared after the backend's post-processing, with trailing
whitespace ignored; empty ones are dropped. Every request after the first
reuses the prompt the first one read into the backend's cache. (The backend
remembers the last sampled answer as the document's previous completion, so
the next keystroke asks the model instead of typing through the greedy one:
the settings differ in temperature. The client keeps a suggestion the user
types along on its own, so this costs nothing visible.)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from engine.backend import Backend, CancelToken, Completion, CompletionRequest

#: Sampling of the alternatives after the first.
TEMPERATURE = 0.8
TOP_P = 0.95
#: Sampled tries per wanted alternative (duplicates are common on short completions).
TRIES_PER_ALTERNATIVE = 2


def _direct(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def distinct_completions(backend: Backend, request: CompletionRequest, n: int, *, cancel: CancelToken,
                         call: Callable[..., Any] = _direct) -> list[Completion]:  # fmt: skip
    """Up to `n` completions with distinct texts, the greedy one first (when it is not empty).

    Blocks (run it in a worker thread); `call(backend.complete, request, cancel=...)` runs each model call,
    so the caller can measure them. Stops early when `cancel` is set; the result then holds what was finished.
    """
    found = [call(backend.complete, request, cancel=cancel)]
    for seed in range(1, (n - 1) * TRIES_PER_ALTERNATIVE + 1):
        if cancel.cancelled or len(_distinct(found)) >= n:
            break
        attempt = replace(request, temperature=TEMPERATURE, top_p=TOP_P, seed=seed,
                          request_id=f"{request.request_id}-alt{seed}")  # fmt: skip
        found.append(call(backend.complete, attempt, cancel=cancel))
    return _distinct(found)[:n]


def _distinct(completions: list[Completion]) -> list[Completion]:
    seen: set[str] = set()
    out = []
    for completion in completions:
        key = completion.text.rstrip()
        if completion.finish_reason == "cancelled" or not key.strip() or key in seen:
            continue
        seen.add(key)
        out.append(completion)
    return out
