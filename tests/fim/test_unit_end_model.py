"""With the bundled model: syntax-aware post-processing stops generation at the end of the unit.

Properties that hold for any sane model: the completion stops before the
token limit, is a whole line for a whole-line hole, does not retype the line
below the cursor, and leaves the file parseable.
"""

from __future__ import annotations

import pytest

from engine.backend import CompletionRequest
from fim import syntax

pytestmark = pytest.mark.model

PREFIX = '''def average(numbers: list[float]) -> float:
    """Return the mean of `numbers` (0.0 for an empty list)."""
    if not numbers:
        return 0.0
'''
SUFFIX = """    return total / len(numbers)


def median(numbers: list[float]) -> float:
    ordered = sorted(numbers)
    return ordered[len(ordered) // 2]
"""


def test_whole_line_hole_stops_after_the_statement(bundled_backend):
    request = CompletionRequest(prefix=PREFIX, suffix=SUFFIX, path="stats.py", max_tokens=48)
    done = bundled_backend.complete(request)
    assert done.timings.generated_tokens < 48
    assert done.finish_reason == "stop"
    assert done.text.strip() and done.text.endswith("\n")
    assert "return total / len(numbers)" not in done.text
    tree = syntax.parse(PREFIX + done.text + SUFFIX, "python")
    assert not syntax.has_error(tree.root_node)
