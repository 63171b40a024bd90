"""Run HumanEval infilling tasks against any backend and judge each completion.

One completion per (task, sample); each is executed in a child process
(`evals.execution`) and its record appended to the results file before the
next request starts, so an interrupted run loses at most the request in
flight and `--resume` carries on from there.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from engine.backend import Backend, CompletionRequest
from evals.errors import EvalError
from evals.execution import DEFAULT_TIMEOUT_S, run_program
from evals.humaneval import InfillTask
from evals.metrics import ks_for, mean_pass_at_k
from evals.results import ResultsFile


@dataclass(frozen=True)
class EvalConfig:
    subset: str = "single-line"
    #: Tasks drawn (with `seed`) from the subset; None runs all of them.
    limit: int | None = None
    seed: int = 0
    #: Completions per task; more than 1 reports the unbiased pass@k.
    samples: int = 1
    #: 0 is greedy; sampling runs default to 0.8.
    temperature: float = 0.0
    top_p: float = 0.95
    max_tokens: int = 128
    #: Switch our post-processing off.
    raw: bool = False
    #: Seconds each task's tests may run.
    timeout: float = DEFAULT_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise EvalError(f"--samples must be at least 1, not {self.samples}")
        if self.samples > 1 and self.temperature <= 0:
            raise EvalError("--samples > 1 needs --temperature > 0: greedy decoding gives the same answer every time")
        if self.max_tokens <= 0:
            raise EvalError(f"--max-tokens must be positive, not {self.max_tokens}")
        if self.timeout <= 0:
            raise EvalError(f"--timeout must be positive, not {self.timeout}")

    def request(self, task: InfillTask, sample: int) -> CompletionRequest:
        greedy = self.temperature <= 0
        return CompletionRequest(
            prefix=task.prefix,
            suffix=task.suffix,
            language="python",
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=1.0 if greedy else self.top_p,
            seed=None if greedy else self.seed * 1000 + sample,
            raw=self.raw,
            # Its own prompt-cache entry per task: shared prompt starts are still reused (copied), but no
            # task is answered from another task's completion (typing through), so order cannot matter.
            cache_key=f"eval:{task.task_id}:{sample}",
        )


def run_tasks(
    backend: Backend,
    tasks: list[InfillTask],
    config: EvalConfig,
    results: ResultsFile,
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Complete and judge every (task, sample) not yet in `results`; returns the summary."""
    from tqdm import tqdm

    done = {(r["task_id"], r["sample"]) for r in results.records}
    todo = [(t, s) for t in tasks for s in range(config.samples) if (t.task_id, s) not in done]
    wanted = {t.task_id for t in tasks}
    kept = [r for r in results.records if r["task_id"] in wanted]
    passed = sum(r["passed"] for r in kept)
    with tqdm(total=len(tasks) * config.samples, initial=len(kept), disable=not progress, unit="task",
              desc=config.subset, dynamic_ncols=True) as bar:  # fmt: skip
        if kept:
            bar.set_postfix_str(f"pass {100 * passed / len(kept):.1f}%")
        for task, sample in todo:
            record = judge(backend, task, sample, config)
            results.append(record)
            kept.append(record)
            passed += record["passed"]
            bar.update(1)
            bar.set_postfix_str(f"pass {100 * passed / len(kept):.1f}%")
    return summarize(kept, config.samples)


def judge(backend: Backend, task: InfillTask, sample: int, config: EvalConfig) -> dict[str, Any]:
    """Ask for one completion of `task` and run the tests on it."""
    request = config.request(task, sample)
    started = time.perf_counter()
    completion = backend.complete(request)
    latency_ms = (time.perf_counter() - started) * 1000
    outcome = run_program(task.program(completion.text), config.timeout)
    return {
        "task_id": task.task_id,
        "sample": sample,
        "passed": outcome.passed,
        "result": outcome.result,
        "completion": completion.text,
        "finish_reason": completion.finish_reason,
        "latency_ms": round(latency_ms, 1),
        "prompt_tokens": completion.timings.prompt_tokens,
        "generated_tokens": completion.timings.generated_tokens,
        "truncated": completion.truncated,
    }


def summarize(records: list[dict[str, Any]], samples: int) -> dict[str, Any]:
    """pass@k over tasks with all their samples done, plus what went wrong and how long it took."""
    per_task: dict[str, list[bool]] = {}
    for r in records:
        per_task.setdefault(r["task_id"], []).append(bool(r["passed"]))
    complete = [(len(v), sum(v)) for v in per_task.values() if len(v) >= samples]
    outcomes = Counter(outcome_kind(r["result"]) for r in records)
    latencies = [r["latency_ms"] for r in records]
    summary: dict[str, Any] = {
        "tasks": len(complete),
        "samples": samples,
        **{f"pass@{k}": 100 * mean_pass_at_k(complete, k) for k in ks_for(samples)},
        "median_latency_ms": statistics.median(latencies) if latencies else None,
        "mean_generated_tokens": statistics.fmean(r["generated_tokens"] for r in records) if records else None,
        "finish_reasons": dict(Counter(r["finish_reason"] for r in records)),
        "outcomes": dict(outcomes.most_common(8)),
    }
    return summary


def outcome_kind(result: str) -> str:
    """`passed`, `timed out`, or the exception type of a failure (`AssertionError`, `SyntaxError`)."""
    if result in ("passed", "timed out"):
        return result
    found = re.match(r"failed: (\w+)", result)
    return found.group(1) if found else "failed"


def config_record(config: EvalConfig, backend_name: str) -> dict[str, Any]:
    """What identifies a run in its results file (checked when resuming)."""
    return {"benchmark": "humaneval-infill", "backend": backend_name, **asdict(config)}
