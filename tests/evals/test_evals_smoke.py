"""CI smoke: the real commands, end to end, on a few tasks and requests with the bundled model.

Both go through our HTTP server around the session's model (one model in
memory for the whole test session); the backend choice itself is covered by
tests/engine/test_remote.py.
"""

from __future__ import annotations

import json

import pytest

from cli.main import main
from engine.cpu import describe_cpu

pytestmark = pytest.mark.model


def test_eval_runs_judges_and_resumes(bundled_server, tmp_path, capsys):
    out = tmp_path / "single.jsonl"
    args = ["eval", "humaneval-infill", "--limit", "2", "--max-tokens", "8", "--no-progress",
            "--backend", "http", "--url", bundled_server, "--output", str(out)]  # fmt: skip
    assert main(args) == 0
    lines = out.read_text().splitlines()
    config, records = json.loads(lines[0])["config"], [json.loads(x) for x in lines[1:]]
    assert config["subset"] == "single-line" and config["backend"] == f"http:{bundled_server}"
    assert len(records) == 2
    for r in records:
        assert r["result"] == "passed" or r["result"].startswith(("failed", "timed out"))
        assert 0 <= r["generated_tokens"] <= 8 and r["latency_ms"] > 0
    report = json.loads(out.with_suffix(".summary.json").read_text())
    summary = report["summary"]
    assert summary["tasks"] == 2 and 0 <= summary["pass@1"] <= 100
    assert report["machine"]["cpu"] == describe_cpu()
    printed = capsys.readouterr().out
    assert "| pass@1 |" in printed and f"machine: {describe_cpu()}" in printed
    assert main(args + ["--resume"]) == 0  # nothing left to do: no new records
    assert len(out.read_text().splitlines()) == 3
    assert main(args) == 2  # refuses to overwrite


def test_bench_measures_two_backends_side_by_side(bundled_server, tmp_path, capsys):
    out = tmp_path / "latency.json"
    args = ["bench", "latency", "--requests", "1", "--typing", "1", "--typing-chars", "2", "--max-tokens", "4",
            "--prefix-chars", "300", "--suffix-chars", "100", "--no-warmup", "--no-progress",
            "--backend", "http", "--url", bundled_server, "--compare", f"http={bundled_server}",
            "--output", str(out)]  # fmt: skip
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert list(report["backends"]) == [f"http:{bundled_server}", f"http:{bundled_server}#2"]
    for summary in report["backends"].values():
        assert summary["requests"] == 3 and summary["errors"] == 0
        assert summary["median_ms"] > 0 and summary["typing_after_first_median_ms"] > 0
        assert summary["mean_generated_tokens"] <= 4
    assert len(out.with_suffix(".samples.jsonl").read_text().splitlines()) == 6
    assert report["machine"]["cpu"] == describe_cpu() and report["machine"]["cores"] > 0
    printed = capsys.readouterr().out
    assert "median vs 1st row" in printed and f"machine: {describe_cpu()}" in printed
