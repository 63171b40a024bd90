"""The three HumanEval infilling subsets are built exactly as the papers describe."""

from __future__ import annotations

import pytest

from evals.errors import EvalError
from evals.humaneval import EXPECTED_COUNTS, SUBSETS, build, choose, load_problems


@pytest.fixture(scope="module")
def problems():
    return load_problems()


@pytest.fixture(scope="module")
def subsets(problems):
    return {s: build(s, problems) for s in SUBSETS}


def test_counts_match_the_published_benchmarks(subsets):
    assert {s: len(t) for s, t in subsets.items()} == EXPECTED_COUNTS == {
        "single-line": 1033, "multi-line": 5815, "random-span": 1640}  # fmt: skip
    for tasks in subsets.values():
        assert len({t.task_id for t in tasks}) == len(tasks)


def test_every_task_puts_the_solution_back_together(problems, subsets):
    solutions = {p["task_id"]: p["prompt"] + p["canonical_solution"].rstrip() for p in problems}
    for tasks in subsets.values():
        for t in tasks:
            assert t.middle, t.task_id
            assert (t.prefix + t.middle + t.suffix).rstrip("\n") == solutions[t.problem_id], t.task_id


def test_line_tasks_start_and_end_on_text(subsets):
    for subset in ("single-line", "multi-line"):
        for t in subsets[subset]:
            lines = t.middle.split("\n")
            assert t.middle.endswith("\n") and lines[0].strip() and lines[-2].strip(), t.task_id
            assert t.prefix.endswith("\n")
    assert all(t.middle.count("\n") == 1 for t in subsets["single-line"])


def test_known_tasks(subsets):
    first = subsets["single-line"][0]
    assert first.task_id == "HumanEval/0/single-line/0"
    assert first.middle == "    for idx, elem in enumerate(numbers):\n"
    assert first.suffix.startswith("        for idx2, elem2 in enumerate(numbers):\n")
    assert first.entry_point == "has_close_elements" and first.prefix.endswith('    """\n')
    # HumanEval/0's solution: 8 lines, one blank: 7 single-line and 7 * 8 / 2 = 28 multi-line tasks.
    assert sum(t.problem_id == "HumanEval/0" for t in subsets["single-line"]) == 7
    assert sum(t.problem_id == "HumanEval/0" for t in subsets["multi-line"]) == 28
    whole = subsets["multi-line"][6]  # from the first line to the last: the whole body, blank line inside
    assert whole.task_id == "HumanEval/0/multi-line/6" and whole.suffix == ""
    assert whole.middle.endswith("return True\n\n    return False\n")
    # No run may start or end on the blank line.
    assert not any(t.middle.startswith("\n") for t in subsets["multi-line"] if t.problem_id == "HumanEval/0")


def test_random_spans_are_fixed_across_runs(problems, subsets):
    again = build("random-span", problems)
    assert [(t.prefix, t.middle) for t in again] == [(t.prefix, t.middle) for t in subsets["random-span"]]
    assert all(sum(t.problem_id == p["task_id"] for t in again) == 10 for p in problems[:5])


def test_choose_draws_a_seeded_sample_that_grows(subsets):
    tasks = subsets["single-line"]
    ten, twenty = choose(tasks, 10, seed=3), choose(tasks, 20, seed=3)
    assert len(ten) == 10 and set(t.task_id for t in ten) <= set(t.task_id for t in twenty)
    assert ten == choose(tasks, 10, seed=3) and ten != choose(tasks, 10, seed=4)
    assert len({t.problem_id for t in ten}) > 5  # spread over problems, not the first few
    assert choose(tasks, None, 0) == tasks and choose(tasks, 5000, 0) == tasks
    with pytest.raises(EvalError, match="--limit must be positive"):
        choose(tasks, 0, 0)
    with pytest.raises(EvalError, match="unknown subset"):
        build("two-line")
