"""The hint guard lets tutoring prose through and stops anything that parses as code."""

from __future__ import annotations

import pytest

from lsp.guard import code_runs, find_code, is_allowed, parses_as_code

PROSE = [
    "What should the function return when the list is empty?",
    "Hint: Think about the base case first.",
    "Can you do it in O(n) time, or is O(n log n) enough?",
    "Would `sorted()` or a `set` make the comparison easier?",
    "Which data structure, e.g. a dictionary (or a set), remembers what you have seen?",
    "How does str.join help when the pieces are in a list?",
    "Could you track seen_values as you go?",
    "Is the input 1-indexed, and does index 0 matter here?",
    "Consider the list - then compare neighbouring items.",
    "What happens if n is 0 or negative?",
]

CODE = [
    ("```python\nreturn sum(xs)\n```", "```"),
    ("Use `sorted(nums, reverse=True)` first.", "sorted(nums, reverse=True)"),
    ("Try comparing each pair: is nums[i] > nums[j]?", "nums[i] > nums[j]"),
    ("Loop with for i in range(len(nums)): and compare.", "range(len(nums))"),
    ("What if i < n fails?", "i < n"),
    ("Check if x % 2 == 0 for each x.", "x % 2 == 0"),
    ("return total", "return total"),
    ("What is n-1 here?", "n-1"),
    ("Call helper(x) (with x) now.", "helper(x)"),
    ("Set count = 0 before the loop.", "count = 0"),
]


@pytest.mark.parametrize("hint", PROSE)
def test_prose_passes(hint):
    assert find_code(hint, "python") is None


@pytest.mark.parametrize(("hint", "found"), CODE)
def test_code_is_caught(hint, found):
    leaked = find_code(hint, "python")
    assert leaked is not None and found in leaked


@pytest.mark.parametrize(
    ("language", "hint", "found"),
    [
        ("c", "Start with int i = 0 and count up.", "i = 0"),
        ("java", "Is a[i] < b?", "a[i] < b"),
        ("rust", "Try v.iter().map(|x| x * 2) here.", "v.iter().map(|x|"),
        ("go", "Use make(map[string]int) for counts.", "make(map[string]int)"),
        ("javascript", "Would arr.filter(x => x > 0) work?", "arr.filter(x"),
    ],
)
def test_code_is_caught_in_the_files_language(language, hint, found):
    leaked = find_code(hint, language)
    assert leaked is not None and leaked.startswith(found.split()[0][:6])


@pytest.mark.parametrize("language", ["c", "cpp", "java", "go", "rust", "typescript"])
def test_english_is_not_code_in_any_grammar(language):
    for hint in PROSE:
        assert find_code(hint, language) is None, hint


def test_short_names_numbers_and_big_o_are_allowed():
    for ok in ("total", "str.join", "sorted()", "std::vector", "42", "O(n log n)", "(dictionary)"):
        assert is_allowed(ok), ok
    for not_ok in ("sorted(xs)", "a = 1", "x" * 40):
        assert not is_allowed(not_ok), not_ok


def test_statements_parse_inside_a_function_body_for_c_like_grammars():
    assert parses_as_code("int total = 0;", "c")
    assert parses_as_code("total += x", "java")
    assert not parses_as_code("Consider the edge cases", "rust")


def test_code_runs_join_operands_of_operators():
    assert code_runs("What if i < n fails?") == ["i < n"]
    assert code_runs("Think about the empty list.") == []
