"""Latency request sets: real code, cursors in function bodies, deterministic for a seed."""

from __future__ import annotations

import ast

import pytest

from evals.errors import EvalError
from evals.sources import body_lines, file_requests, source_files, typing_sequences

MODULE = '''"""A module."""

import os


def walk(root):
    """Docstring, not a cursor position."""
    total = 0
    for name in os.listdir(root):
        total += len(name)
    return total


class Box:
    def size(self):
        return self.width * self.height
'''


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "walker.py").write_text(MODULE)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_walker.py").write_text(MODULE)
    (tmp_path / "broken.py").write_text("def f(:\n")
    return tmp_path


def test_cursor_lines_are_statements_inside_functions():
    lines = MODULE.split("\n")
    assert [lines[i].strip() for i in body_lines(ast.parse(MODULE))] == [
        "total = 0", "for name in os.listdir(root):", "return total", "return self.width * self.height"]  # fmt: skip


def test_requests_come_from_function_bodies_and_skip_tests(tree):
    assert [p.name for p in source_files(tree)] == ["broken.py", "walker.py"]
    requests = file_requests(6, seed=1, root=tree)
    assert len(requests) == 6
    for r in requests:
        assert r.path == "pkg/walker.py" and r.kind == "file"
        assert r.prefix + r.suffix == MODULE  # small file: the whole text around the cursor
        line = r.prefix.split("\n")[-1]
        assert line.startswith("    ") and line.strip() + r.suffix.split("\n")[0] in MODULE
    assert any(r.prefix.endswith("    ") for r in requests)  # start of a statement
    assert any(not r.prefix.endswith(" ") for r in requests)  # mid-line
    assert requests == file_requests(6, seed=1, root=tree)


def test_typing_sequences_grow_one_character_at_a_time(tree):
    (sequence,) = typing_sequences(1, 5, seed=0, root=tree)
    assert [r.step for r in sequence] == [0, 1, 2, 3, 4]
    for before, after in zip(sequence, sequence[1:]):
        assert after.prefix[:-1] == before.prefix and after.suffix == before.suffix
    typed_line = sequence[0].prefix.split("\n")[-1]
    assert typed_line.strip() == "" and sequence[0].suffix.startswith("\n")
    with pytest.raises(EvalError, match="at least 1 character"):
        typing_sequences(1, 0, root=tree)


def test_windows_are_cut_at_line_boundaries():
    requests = file_requests(5, seed=2, prefix_chars=300, suffix_chars=120)
    for r in requests:
        assert len(r.prefix) <= 300 and len(r.suffix) <= 120
        assert r.suffix.endswith("\n") or not r.suffix
    assert requests == file_requests(5, seed=2, prefix_chars=300, suffix_chars=120)
    assert requests != file_requests(5, seed=3, prefix_chars=300, suffix_chars=120)
