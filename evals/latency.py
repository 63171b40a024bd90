"""Replay a latency request set against backends and summarise what the clients saw.

Serial mode alternates backends job by job (a job is one file request or
one whole typing sequence), rotating which backend goes first, so machine
noise lands on every backend alike. Concurrent mode replays the set from N
client threads at once, one backend after the other (two backends loaded at
once on one machine would measure each other). Latency is end to end, as
the client sees it; token rates come from the backend's own timings.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

from engine.backend import Backend, CompletionRequest
from engine.errors import EngineError
from evals.metrics import percentile, rate
from evals.sources import BenchRequest


@dataclass(frozen=True)
class Sample:
    backend: str
    kind: str
    sequence: int
    step: int
    source: str
    latency_ms: float
    #: Time until the first piece of text reached the client (None if none came).
    first_text_ms: float | None = None
    prompt_tokens: int = 0
    cached_tokens: int = 0
    prompt_ms: float = 0.0
    generated_tokens: int = 0
    generate_ms: float = 0.0
    finish_reason: str = ""
    error: str | None = None
    #: Client threads replaying at once when this was measured.
    concurrency: int = 1
    #: Answered with the rest of the previous completion (typed through), no model call.
    reused: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def measure(backend: Backend, label: str, request: BenchRequest, *, max_tokens: int, raw: bool,
            concurrency: int = 1) -> Sample:  # fmt: skip
    """One request, timed from the call to the last byte; an `EngineError` is recorded, not raised."""
    req = CompletionRequest(prefix=request.prefix, suffix=request.suffix, path=request.path, max_tokens=max_tokens,
                            raw=raw, cache_key=f"bench-{request.kind}-{request.sequence}")  # fmt: skip
    first: list[float] = []
    started = time.perf_counter()

    def on_text(piece: str) -> None:
        if not first and piece:
            first.append(time.perf_counter())

    base = dict(backend=label, kind=request.kind, sequence=request.sequence, step=request.step,
                source=request.source, concurrency=concurrency)  # fmt: skip
    try:
        done = backend.complete(req, on_text=on_text)
    except EngineError as exc:
        return Sample(**base, latency_ms=(time.perf_counter() - started) * 1000, error=str(exc))
    latency = (time.perf_counter() - started) * 1000
    t = done.timings
    return Sample(
        **base,
        latency_ms=latency,
        first_text_ms=(first[0] - started) * 1000 if first else None,
        prompt_tokens=t.prompt_tokens,
        cached_tokens=t.cached_tokens,
        prompt_ms=t.prompt_ms,
        generated_tokens=t.generated_tokens,
        generate_ms=t.generate_ms,
        finish_reason=done.finish_reason,
        # Over HTTP a reused answer shows as one that read no prompt.
        reused=done.reused or (t.prompt_tokens == 0 and bool(done.text)),
    )


Job = list[BenchRequest]
Record = Callable[[Sample], None]


def replay_serial(backends: dict[str, Backend], jobs: list[Job], record: Record, *, max_tokens: int,
                  raw: bool) -> None:  # fmt: skip
    """Every job on every backend, alternating, rotating who goes first."""
    labels = list(backends)
    for i, job in enumerate(jobs):
        shift = i % len(labels)
        for label in labels[shift:] + labels[:shift]:
            for request in job:
                record(measure(backends[label], label, request, max_tokens=max_tokens, raw=raw))


def replay_concurrent(label: str, backend: Backend, jobs: list[Job], record: Record, *, concurrency: int,
                      max_tokens: int, raw: bool) -> float:  # fmt: skip
    """Every job on `backend` from `concurrency` client threads; returns the wall time in ms."""
    todo: queue.Queue[Job] = queue.Queue()
    for job in jobs:
        todo.put(job)
    lock = threading.Lock()
    failures: list[BaseException] = []

    def client() -> None:
        while not failures:
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            for request in job:
                try:
                    sample = measure(backend, label, request, max_tokens=max_tokens, raw=raw, concurrency=concurrency)
                except BaseException as exc:  # re-raised in the caller's thread
                    failures.append(exc)
                    return
                with lock:
                    record(sample)

    started = time.perf_counter()
    threads = [threading.Thread(target=client, name=f"bench-client-{n}", daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return (time.perf_counter() - started) * 1000


def summarize(samples: Iterable[Sample], wall_ms: float | None = None) -> dict[str, Any]:
    """What one backend's samples say: latency percentiles, token rates, typing behaviour, errors."""
    samples = list(samples)
    ok = [s for s in samples if s.error is None]
    files = [s.latency_ms for s in ok if s.kind == "file"]
    typing_first = [s.latency_ms for s in ok if s.kind == "typing" and s.step == 0]
    typing_later = [s.latency_ms for s in ok if s.kind == "typing" and s.step > 0]
    typing_later_model = [s.latency_ms for s in ok if s.kind == "typing" and s.step > 0 and not s.reused]
    all_ms = [s.latency_ms for s in ok]
    first_text = [s.first_text_ms for s in ok if s.first_text_ms is not None]
    timed_prompt = [s for s in ok if s.prompt_ms > 0]
    timed_gen = [s for s in ok if s.generate_ms > 0]
    summary = {
        "requests": len(samples),
        "errors": len(samples) - len(ok),
        "median_ms": percentile(all_ms, 50),
        "p90_ms": percentile(all_ms, 90),
        "file_median_ms": percentile(files, 50),
        "file_p90_ms": percentile(files, 90),
        "first_text_median_ms": percentile(first_text, 50),
        "typing_first_median_ms": percentile(typing_first, 50),
        "typing_after_first_median_ms": percentile(typing_later, 50),
        "typing_after_first_p90_ms": percentile(typing_later, 90),
        # Later keystrokes answered from the previous completion, and the median of the others.
        "typing_after_first_reused_share": (len(typing_later) - len(typing_later_model)) / len(typing_later)
        if typing_later
        else float("nan"),
        "typing_after_first_model_median_ms": percentile(typing_later_model, 50),
        # Prompt tokens the server actually computed (cache hits excluded) per second of prompt time.
        "prompt_tokens_per_s": rate(
            sum(s.prompt_tokens - s.cached_tokens for s in timed_prompt), sum(s.prompt_ms for s in timed_prompt)
        ),  # fmt: skip
        "generated_tokens_per_s": rate(
            sum(s.generated_tokens for s in timed_gen), sum(s.generate_ms for s in timed_gen)
        ),  # fmt: skip
        "mean_prompt_tokens": sum(s.prompt_tokens for s in ok) / len(ok) if ok else float("nan"),
        "mean_generated_tokens": sum(s.generated_tokens for s in ok) / len(ok) if ok else float("nan"),
        "cache_hit_share": sum(s.cached_tokens for s in ok) / max(1, sum(s.prompt_tokens for s in ok)),
        "first_error": next((s.error for s in samples if s.error), None),
    }
    if wall_ms:
        summary["wall_ms"] = wall_ms
        summary["requests_per_min"] = 60_000 * len(ok) / wall_ms
    return summary
