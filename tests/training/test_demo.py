"""The demonstration's task construction and metrics (the run itself is recorded in the README)."""

from __future__ import annotations

from tests.training.conftest import write_tree
from training.demo import build_tasks, edit_similarity, masked_lines

SOURCE = '''"""Module docstring
spanning lines."""
import os


def area(width, height):
    """Return the area."""
    # multiply them
    result = width * height
    return result
'''


def test_edit_similarity_is_one_minus_normalised_levenshtein():
    assert edit_similarity("return x", "return x") == 1.0
    assert edit_similarity("", "") == 1.0
    assert edit_similarity("abcd", "abed") == 0.75
    assert edit_similarity("", "abc") == 0.0


def test_only_code_lines_are_masked_never_docstrings_or_comments():
    lines = SOURCE.split("\n")
    chosen = [lines[i].strip() for i in masked_lines(SOURCE, "python")]
    assert chosen == ["import os", "def area(width, height):", "result = width * height", "return result"]


def test_tasks_mask_a_line_after_its_indentation_and_keep_everything_else(tmp_path):
    write_tree(tmp_path, {"geo.py": SOURCE})
    manifest = [{"path": "geo.py", "language": "python", "split": "validation"}]
    tasks = build_tasks(tmp_path, manifest, 10, seed=0)
    assert [t.target for t in tasks] == ["import os", "def area(width, height):", "result = width * height",
                                         "return result"]  # fmt: skip
    for task in tasks:
        assert task.prefix + task.target + task.suffix == SOURCE
    assert tasks[2].prefix.endswith("\n    ") and tasks[2].line == 9
    assert build_tasks(tmp_path, [{**manifest[0], "split": "train"}], 10, seed=0) == []
