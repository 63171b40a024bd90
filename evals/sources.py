"""Latency request sets cut from real source files: the Python standard library on this machine.

Two kinds of requests, both deterministic for a seed (on one Python version):

- file requests: a cursor inside a function body, either at the start of a
  statement or in the middle of a line, with up to `prefix_chars` before it
  and `suffix_chars` after it, cut at line boundaries as an editor plugin
  that sends a window of the file would;
- typing sequences: the cursor at the start of a statement, then the prefix
  grows one character per request while the rest of that line is "typed",
  as when a user types and the editor asks again after every keystroke.
  Their later requests share almost all of the prompt with the first one,
  which is what a prompt cache is for.
"""

from __future__ import annotations

import ast
import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from evals.errors import EvalError

#: Defaults near the requests of REFERENCE.md (~465 prompt tokens).
PREFIX_CHARS = 1500
SUFFIX_CHARS = 400
#: Directories of the standard library that are not ordinary library code.
SKIPPED_DIRS = {
    "test",
    "tests",
    "idle_test",
    "site-packages",
    "dist-packages",
    "__pycache__",
    "lib2to3",
    "ensurepip",
    "encodings",
}  # ~120 near-identical generated codec tables would crowd the sample


@dataclass(frozen=True)
class BenchRequest:
    kind: Literal["file", "typing"]
    #: Which file request or typing sequence this belongs to.
    sequence: int
    #: Position within a typing sequence (0 for file requests).
    step: int
    #: `json/decoder.py:123:9` (1-based line and column of the cursor).
    source: str
    path: str
    prefix: str
    suffix: str


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def source_files(root: Path | None = None) -> list[Path]:
    """Python files under `root` (default: the standard library), sorted, tests left out."""
    root = root or stdlib_root()
    files = [p for p in root.rglob("*.py") if not SKIPPED_DIRS.intersection(p.relative_to(root).parts[:-1])]
    if not files:
        raise EvalError(f"no Python source files under {root}")
    return sorted(files)


def body_lines(tree: ast.AST) -> list[int]:
    """0-based numbers of lines that hold statements inside function bodies (docstrings left out)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
            body = body[1:]  # the docstring
        for stmt in body:
            if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                lines.add(stmt.lineno - 1)
    return sorted(lines)


def _window(text: str, offset: int, prefix_chars: int, suffix_chars: int) -> tuple[str, str]:
    """Prefix and suffix around `offset`, each cut to its budget at a line boundary."""
    prefix, suffix = text[:offset], text[offset:]
    if len(prefix) > prefix_chars:
        prefix = prefix[prefix.find("\n", len(prefix) - prefix_chars) + 1 :]
    if len(suffix) > suffix_chars:
        suffix = suffix[: suffix.rfind("\n", 0, suffix_chars) + 1]
    return prefix, suffix


class _Picker:
    """Seeded choice of (file, statement line), skipping files that do not parse."""

    def __init__(self, seed: int, root: Path | None) -> None:
        self.rng = random.Random(seed)
        self.root = root or stdlib_root()
        self.files = source_files(self.root)

    def pick(self, min_line_chars: int = 1) -> tuple[str, str, list[str], int]:
        """(relative path, text, lines, 0-based line) of a statement with at least `min_line_chars`."""
        for _ in range(1000):
            path = self.rng.choice(self.files)
            try:
                text = path.read_text(encoding="utf-8")
                candidates = body_lines(ast.parse(text))
            except (UnicodeDecodeError, SyntaxError, ValueError, RecursionError):
                continue
            lines = text.split("\n")
            candidates = [i for i in candidates if len(lines[i].strip()) >= min_line_chars]
            if candidates:
                return str(path.relative_to(self.root)), text, lines, self.rng.choice(candidates)
        raise EvalError(f"found no function bodies to complete in {self.root}")


def _offset(lines: list[str], line: int, column: int) -> int:
    return sum(len(x) + 1 for x in lines[:line]) + column


def file_requests(count: int, seed: int = 0, *, prefix_chars: int = PREFIX_CHARS, suffix_chars: int = SUFFIX_CHARS,
                  root: Path | None = None) -> list[BenchRequest]:  # fmt: skip
    """`count` cursors inside function bodies, half at a statement's start and half mid-line."""
    picker = _Picker(seed, root)
    requests = []
    for n in range(count):
        rel, text, lines, line = picker.pick(min_line_chars=4)
        indent = len(lines[line]) - len(lines[line].lstrip())
        end = len(lines[line].rstrip())
        column = indent if n % 2 == 0 else picker.rng.randrange(indent + 1, end)
        prefix, suffix = _window(text, _offset(lines, line, column), prefix_chars, suffix_chars)
        requests.append(BenchRequest("file", n, 0, f"{rel}:{line + 1}:{column + 1}", rel, prefix, suffix))
    return requests


def typing_sequences(
    count: int,
    chars: int,
    seed: int = 0,
    *,
    prefix_chars: int = PREFIX_CHARS,
    suffix_chars: int = SUFFIX_CHARS,
    root: Path | None = None,
) -> list[list[BenchRequest]]:
    """`count` sequences of `chars` requests each: a statement typed one character at a time.

    The line being typed is gone from the suffix (it does not exist yet);
    the prefix window is fixed at the first request, so it stays put while
    the user types, as a cache-friendly client keeps it.
    """
    if chars < 1:
        raise EvalError(f"typing sequences need at least 1 character, not {chars}")
    picker = _Picker(seed + 1_000_003, root)  # not the same cursors as the file requests
    sequences = []
    for n in range(count):
        rel, text, lines, line = picker.pick(min_line_chars=chars)
        indent = len(lines[line]) - len(lines[line].lstrip())
        start = _offset(lines, line, indent)
        prefix, _ = _window(text, start, prefix_chars, 0)
        _, suffix = _window(text, _offset(lines, line, len(lines[line])), 0, suffix_chars)
        typed = lines[line][indent:]
        sequences.append([
            BenchRequest("typing", n, k, f"{rel}:{line + 1}:{indent + k + 1}", rel, prefix + typed[:k], suffix)
            for k in range(chars)
        ])  # fmt: skip
    return sequences
