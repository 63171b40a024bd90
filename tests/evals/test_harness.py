"""The eval loop judges what a backend writes, resumes, and computes pass@k correctly."""

from __future__ import annotations

import pytest

from evals.errors import EvalError
from evals.harness import EvalConfig, config_record, run_tasks
from evals.humaneval import build, choose, load_problems
from evals.results import ResultsFile

from .conftest import ScriptedBackend


@pytest.fixture(scope="module")
def tasks():
    return choose(build("single-line", load_problems()[:20]), 6, seed=0)


def oracle(tasks):
    answers = {(t.prefix, t.suffix): t.middle for t in tasks}
    return ScriptedBackend(lambda r: answers[(r.prefix, r.suffix)])


def run(backend, tasks, config, path, resume=False):
    with ResultsFile(path, config_record(config, backend.name), resume=resume) as results:
        return run_tasks(backend, tasks, config, results, progress=False), results.records


def test_right_answers_pass_and_wrong_ones_fail(tasks, tmp_path):
    summary, records = run(oracle(tasks), tasks, EvalConfig(), tmp_path / "a.jsonl")
    assert summary["pass@1"] == 100.0 and summary["tasks"] == 6 and summary["outcomes"] == {"passed": 6}
    summary, _ = run(ScriptedBackend(lambda r: "    pass\n"), tasks, EvalConfig(), tmp_path / "b.jsonl")
    assert summary["pass@1"] < 50.0


def test_requests_carry_the_config(tasks, tmp_path):
    backend = oracle(tasks)
    run(backend, tasks[:1], EvalConfig(max_tokens=17, raw=True), tmp_path / "r.jsonl")
    sent = backend.requests[0]
    assert (sent.max_tokens, sent.raw, sent.temperature, sent.language) == (17, True, 0.0, "python")
    assert sent.prefix == tasks[0].prefix and sent.suffix == tasks[0].suffix


def test_resume_skips_what_is_done(tasks, tmp_path):
    path = tmp_path / "r.jsonl"
    run(oracle(tasks), tasks[:4], EvalConfig(), path)
    again = oracle(tasks)
    summary, records = run(again, tasks, EvalConfig(), path, resume=True)
    assert len(again.requests) == 2 and len(records) == 6 and summary["tasks"] == 6


def test_samples_give_unbiased_pass_at_k(tasks, tmp_path):
    answers = {(t.prefix, t.suffix): t.middle for t in tasks}
    # Right for even seeds only: each task passes 5 of its 10 samples.
    backend = ScriptedBackend(lambda r: answers[(r.prefix, r.suffix)] if r.seed % 2 == 0 else "    pass\n")
    config = EvalConfig(samples=10, temperature=0.8)
    summary, records = run(backend, tasks[:2], config, tmp_path / "r.jsonl")
    assert len(records) == 20 and len({r.seed for r in backend.requests}) == 10
    assert summary["pass@1"] == pytest.approx(50.0) and summary["pass@10"] == 100.0


def test_config_is_checked():
    with pytest.raises(EvalError, match="needs --temperature > 0"):
        EvalConfig(samples=5)
    with pytest.raises(EvalError, match="--max-tokens must be positive"):
        EvalConfig(max_tokens=0)
