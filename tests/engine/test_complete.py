"""`codegemma complete FILE --line L --column C`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from engine.complete import split_at_cursor
from engine.errors import EngineError

TEXT = "def f():\n    return 1\n\nprint(f())\n"


def test_split_at_line_and_column():
    assert split_at_cursor(TEXT, 2, 5) == ("def f():\n    ", "return 1\n\nprint(f())\n")
    assert split_at_cursor(TEXT, 2, None) == ("def f():\n    return 1", "\n\nprint(f())\n")
    assert split_at_cursor(TEXT, 5, 1) == (TEXT, "")


def test_columns_count_characters_not_bytes():
    assert split_at_cursor("s = 'é👋x'\n", 1, 8) == ("s = 'é👋", "x'\n")


@pytest.mark.parametrize(
    ("line", "column", "message"), [(0, 1, "outside the file"), (9, 1, "outside the file"), (2, 99, "outside line 2")]
)
def test_cursor_outside_the_file(line, column, message):
    with pytest.raises(EngineError, match=message):
        split_at_cursor(TEXT, line, column)


@pytest.mark.model
def test_complete_prints_a_completion(tmp_path):
    source = tmp_path / "area.py"
    source.write_text("import math\n\n\ndef circle_area(r):\n    \n\n\nprint(circle_area(2.0))\n")
    out = subprocess.run(
        [sys.executable, "-m", "cli", "complete", str(source), "--line", "5", "--max-tokens", "24"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() and "<|" not in out.stdout
    assert "prompt tokens" in out.stderr
