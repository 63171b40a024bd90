"""Cross-file hole construction and the context each mode sends (no model: a backend that reads the prompt)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from engine.backend import Completion
from evals.cross_file import build_holes, package_holes
from evals.cross_file_cli import complete_hole, parse_modes, summarize
from evals.errors import EvalError
from repo_context.workspace import Workspace

UTIL = "def make_thing(size):\n    return [0] * size\n\n\nLIMIT = 3\n"
MAIN = (
    "from .util import make_thing, LIMIT\n\n\ndef local_helper():\n    return 1\n\n\n"
    "def run():\n    value = local_helper()\n    things = make_thing(LIMIT)\n    return things\n"
)


@pytest.fixture
def snapshot(tmp_path: Path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "util.py").write_text(UTIL)
    (tmp_path / "pkg" / "main.py").write_text(MAIN)
    return Workspace(tmp_path / "pkg").refresh()


def test_holes_are_lines_using_names_from_imported_files(snapshot):
    holes = package_holes("pkg", snapshot)
    assert [(h.path, h.target, h.names) for h in holes] == [
        ("main.py", "things = make_thing(LIMIT)", ("make_thing", "LIMIT"))
    ]  # not the import line, not the line using the file's own local_helper
    hole = holes[0]
    assert hole.prefix.endswith("value = local_helper()\n    ") and hole.suffix.startswith("\n    return things")


def test_installed_packages_give_the_same_holes_for_the_same_seed():
    first, _ = build_holes(["click"], 5, seed=3)
    again, _ = build_holes(["click"], 5, seed=3)
    other, _ = build_holes(["click"], 5, seed=4)
    assert len(first) == 5 and first == again and first != other
    with pytest.raises(EvalError, match="not installed"):
        build_holes(["no_such_package_here"], 5, seed=0)


class EchoIfShown:
    """Completes the hole's line exactly when a context file shows the definition of its name."""

    name = "echo"

    def complete(self, request, **_):
        shown = any("def make_thing" in c.content for c in request.context)
        return Completion("things = make_thing(LIMIT)" if shown else "things = []", "stop", "eos")


def test_only_repository_context_shows_the_definition(snapshot):
    hole = package_holes("pkg", snapshot)[0]
    args = argparse.Namespace(context_tokens=1024, max_tokens=16)
    rows = [complete_hole(EchoIfShown(), hole, snapshot, mode, sources, args)
            for mode, sources in parse_modes("none,imports,full,outlines,bm25", "defs,outlines,bm25").items()]  # fmt: skip
    exact = {r["mode"]: r["exact"] for r in rows}
    assert exact == {"none": False, "imports": True, "full": True, "outlines": True, "bm25": True}
    summary = summarize(rows, ["none", "full"])
    assert summary["none"]["exact_match"] == 0.0 and summary["full"]["exact_match"] == 100.0
    assert 0 < summary["none"]["edit_similarity"] < 100


def test_modes_are_checked():
    assert parse_modes("none,defs+bm25", "defs") == {"none": None, "defs+bm25": ("bm25", "defs")}
    with pytest.raises(EvalError, match="unknown context source grep"):
        parse_modes("full", "grep")
