"""Replaying requests: alternation, concurrency, errors, and the summary's arithmetic."""

from __future__ import annotations

import pytest

from engine.errors import EngineError
from evals.latency import Sample, replay_concurrent, replay_serial, summarize
from evals.sources import BenchRequest

from .conftest import ScriptedBackend


def job(kind: str, sequence: int, steps: int = 1) -> list[BenchRequest]:
    return [BenchRequest(kind, sequence, k, f"x.py:{sequence}", "x.py", f"p{sequence}-{k}", "s")  # type: ignore
            for k in range(steps)]  # fmt: skip


def test_serial_replay_alternates_and_rotates():
    order: list[tuple[str, str]] = []
    a = ScriptedBackend(lambda r: (order.append(("a", r.prefix)), "x")[1], name="a")
    b = ScriptedBackend(lambda r: (order.append(("b", r.prefix)), "x")[1], name="b")
    samples: list[Sample] = []
    replay_serial({"a": a, "b": b}, [job("file", 0), job("typing", 1, steps=2)], samples.append, max_tokens=8,
                  raw=True)  # fmt: skip
    # The second job starts with b, and a typing sequence stays together per backend.
    assert order == [("a", "p0-0"), ("b", "p0-0"), ("b", "p1-0"), ("b", "p1-1"), ("a", "p1-0"), ("a", "p1-1")]
    assert all(r.max_tokens == 8 and r.raw for r in a.requests)
    assert len(samples) == 6 and samples[0].first_text_ms is not None and samples[0].prompt_tokens == 100


def test_concurrent_replay_runs_clients_at_once():
    backend = ScriptedBackend(lambda r: "x", delay=0.2)
    samples: list[Sample] = []
    wall = replay_concurrent("s", backend, [job("file", n) for n in range(8)], samples.append, concurrency=4,
                             max_tokens=8, raw=False)  # fmt: skip
    assert len(samples) == 8 and backend.most_at_once == 4
    assert wall < 8 * 200  # not one after another
    assert all(s.concurrency == 4 for s in samples)


def test_engine_errors_are_counted_not_fatal():
    def answer(r):
        if r.prefix.startswith("p1"):
            raise EngineError("http://h/infill answered 503: server busy")
        return "x"

    samples: list[Sample] = []
    replay_serial({"s": ScriptedBackend(answer)}, [job("file", 0), job("file", 1)], samples.append, max_tokens=4,
                  raw=False)  # fmt: skip
    summary = summarize(samples)
    assert summary["requests"] == 2 and summary["errors"] == 1 and "503" in summary["first_error"]


def test_summary_numbers():
    def sample(kind, step, latency, **timings):
        return Sample("b", kind, 0, step, "x", latency, **timings)

    samples = [
        sample("file", 0, 1000.0, prompt_tokens=500, prompt_ms=2000.0, generated_tokens=20, generate_ms=4000.0),
        sample("file", 0, 3000.0, prompt_tokens=500, prompt_ms=2000.0, generated_tokens=20, generate_ms=4000.0),
        sample("typing", 0, 5000.0),
        sample("typing", 1, 400.0, prompt_tokens=500, cached_tokens=480, prompt_ms=100.0),
        sample("typing", 2, 600.0),
    ]
    s = summarize(samples, wall_ms=60_000.0)
    assert s["median_ms"] == 1000.0 and s["file_median_ms"] == 2000.0
    assert s["typing_first_median_ms"] == 5000.0 and s["typing_after_first_median_ms"] == 500.0
    assert s["prompt_tokens_per_s"] == pytest.approx((500 + 500 + 20) / 4.1)  # cache hits are not computed
    assert s["generated_tokens_per_s"] == pytest.approx(5.0)
    assert s["requests_per_min"] == 5.0 and s["errors"] == 0
