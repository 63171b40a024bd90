"""schemathesis against the server's own OpenAPI document (issue #12): the short run of `python -m evals.fuzz_http`."""

from __future__ import annotations

import json

import pytest

from evals.fuzz_http import fuzz, judge_answer


def error(message: str, param: str | None = None, code: int = 400) -> str:
    return json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}})


def test_the_judge_flags_each_broken_promise():
    assert judge_answer(200, "{}") is None
    assert judge_answer(503, error("server busy", code=503)) is None  # refusing load is allowed
    assert judge_answer(500, error("boom", code=500)) == "server error"
    assert judge_answer(500, "Internal Server Error") == "server error"
    assert judge_answer(404, '{"detail": "Not Found"}') == "refusal not shaped {error: ...}"
    assert judge_answer(400, error("n: Input should be a valid integer", "n")) is None
    assert judge_answer(400, error("n: Input should be a valid integer")) == "400 that names no field"
    assert judge_answer(400, error("the request body is not valid JSON: Expecting value")) is None


@pytest.mark.slow
def test_a_short_fuzz_run_finds_no_5xx_unnamed_field_or_hang(tiny_model_dir):
    report = fuzz(60, workers=2, model=tiny_model_dir)
    assert report.cases >= 60
    assert report.server_errors == 0 and report.unshaped_errors == 0 and report.unnamed_fields == 0, report.examples
    assert report.hangs == 0
    assert report.healthy_after and report.pending_after == 0
