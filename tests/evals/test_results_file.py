"""Result files: written as results come, resumable after a crash, never silently overwritten."""

from __future__ import annotations

import json

import pytest

from evals.errors import EvalError
from evals.results import ResultsFile, read_results, write_json_atomic

CONFIG = {"benchmark": "humaneval-infill", "subset": "single-line", "raw": False, "limit": 5}


def test_records_are_on_disk_before_close(tmp_path):
    path = tmp_path / "r.jsonl"
    results = ResultsFile(path, CONFIG, resume=False)
    results.append({"task_id": "a", "sample": 0, "passed": True})
    config, records = read_results(path)  # another reader, while the run is still open
    assert config == CONFIG and records == [{"task_id": "a", "sample": 0, "passed": True}]
    results.close()


def test_resume_drops_a_half_written_line(tmp_path):
    path = tmp_path / "r.jsonl"
    with ResultsFile(path, CONFIG, resume=False) as results:
        results.append({"task_id": "a", "sample": 0})
    with path.open("a") as f:
        f.write('{"task_id": "b", "sam')  # killed mid-write
    with ResultsFile(path, CONFIG, resume=True) as results:
        assert [r["task_id"] for r in results.records] == ["a"]
        results.append({"task_id": "b", "sample": 0})
    lines = path.read_text().splitlines()
    assert [json.loads(x).get("task_id") for x in lines[1:]] == ["a", "b"]


def test_refuses_to_overwrite_without_resume(tmp_path):
    path = tmp_path / "r.jsonl"
    with ResultsFile(path, CONFIG, resume=False) as results:
        results.append({"task_id": "a", "sample": 0})
    with pytest.raises(EvalError, match="already holds 1 results; pass --resume"):
        ResultsFile(path, CONFIG, resume=False)


def test_resume_checks_the_run_is_the_same(tmp_path):
    path = tmp_path / "r.jsonl"
    with ResultsFile(path, CONFIG, resume=False) as results:
        results.append({"task_id": "a", "sample": 0})
    with pytest.raises(EvalError, match="it was run with raw=False, now raw=True"):
        ResultsFile(path, {**CONFIG, "raw": True}, resume=True)
    with ResultsFile(path, {**CONFIG, "limit": 50}, resume=True, may_change=("limit",)) as results:
        assert len(results.records) == 1


def test_atomic_json_and_foreign_files(tmp_path):
    write_json_atomic(tmp_path / "s.json", {"a": 1})
    assert json.loads((tmp_path / "s.json").read_text()) == {"a": 1}
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / "other.jsonl").write_text('{"x": 1}\n')
    with pytest.raises(EvalError, match="not a results file"):
        ResultsFile(tmp_path / "other.jsonl", CONFIG, resume=True)
