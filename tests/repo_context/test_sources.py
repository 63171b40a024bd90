"""Each context source on small workspaces: tags, ring, BM25, assembly order and budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from repo_context.assemble import check_sources, gather
from repo_context.lexical import LexicalIndex, windows, words
from repo_context.ring import ChunkRing, similarity
from repo_context.tags import definitions, names_near
from repo_context.workspace import Workspace

UTIL = '''"""Helpers."""
import os

LIMIT = 10


def parse_header(line: str, strict: bool = False) -> tuple[str, str]:
    """Split a header line."""
    name, _, value = line.partition(":")
    return name.strip(), value.strip()


class Store:
    size: int = 0

    def put(self, key: str, value: bytes) -> None:
        self.size += len(value)
'''
MAIN = """from .util import parse_header, Store

def handle(lines):
    store = Store()
    for line in lines:
"""
OTHER = "def unrelated_function():\n    return 'nothing about headers'\n"


def count(text: str) -> int:
    return len(text.split())


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "util.py").write_text(UTIL)
    (tmp_path / "pkg" / "main.py").write_text(MAIN)
    (tmp_path / "pkg" / "other.py").write_text(OTHER)
    ws = Workspace(tmp_path)
    ws.refresh()
    return ws


def test_definitions_give_signatures_without_bodies_and_classes_without_method_bodies():
    found = {d.name: d for d in definitions(UTIL, "python", "util.py")}
    assert set(found) == {"LIMIT", "parse_header", "Store", "put"}
    assert (
        found["parse_header"].signature == "def parse_header(line: str, strict: bool = False) -> tuple[str, str]: ..."
    )
    assert "partition" in found["parse_header"].body
    assert (
        found["Store"].signature
        == "class Store:\n    size: int = 0\n\n    def put(self, key: str, value: bytes) -> None: ..."
    )
    assert found["LIMIT"].signature == "LIMIT = 10"
    assert definitions("x = 1", None, "a.txt") == [] and definitions("int x;", "c", "a.c") == []


def test_names_near_the_cursor_come_nearest_first():
    assert names_near("a = 1\nb = first(a)\nc = second(", "d)\n")[:4] == ["second", "c", "a", "first"]


def test_ring_keeps_the_latest_chunks_and_evicts_near_copies():
    ring = ChunkRing(size=3, chunk_lines=4)
    text = "\n".join(f"line {i}" for i in range(40))
    ring.add("a.py", text, 10)
    ring.add("a.py", text, 10)  # the same view again replaces, never duplicates
    assert len(ring.chunks()) == 1
    for line in (20, 30, 38):
        ring.add("a.py", text, line)
    assert [c.line for c in ring.chunks()] == [18, 28, 36]
    assert [c.line for c in ring.chunks("a.py", (27, 40))] == [18]
    assert similarity("a\nb", "a\nb") == 1.0 and similarity("a\nb", "c\nd") == 0.0


def test_bm25_finds_the_window_sharing_identifier_pieces():
    assert "header" in words("parseHeader") and "parse_header" in words("parse_header(x)")
    index = LexicalIndex(windows("util.py", UTIL) + windows("other.py", OTHER))
    best = index.search("name, value = parseHeader(line)", 2)
    assert best and best[0][1].path == "util.py"
    assert all(w.path != "util.py" for _, w in index.search("parse_header", 2, exclude_path="util.py"))
    assert LexicalIndex([]).search("anything", 3) == []


def test_gather_shows_definitions_used_near_the_cursor_last(workspace: Workspace):
    snapshot = workspace.snapshot
    assert snapshot.imported("pkg/main.py") == ["pkg/util.py"]
    prefix = MAIN + "        name, value = "
    out = gather(snapshot, "pkg/main.py", prefix, "\n", 400, count, sources=("defs", "outlines", "bm25"))
    assert out[-1].path == "pkg/util.py" and "def parse_header" in out[-1].content
    assert "partition" in out[-1].content  # the budget allowed bodies
    assert not any("unrelated" in c.content for c in out[1:])
    tight = gather(snapshot, "pkg/main.py", prefix, "\n", 40, count, sources=("defs",))
    assert "def parse_header" in tight[-1].content and "partition" not in tight[-1].content  # signatures first
    assert sum(count(c.content) + 2 for c in tight) <= 40


def test_gather_order_is_stable_while_typing(workspace: Workspace):
    prefix = MAIN + "        name, value = parse_header(line)\n        store.put(name, "
    shown = [
        gather(workspace.snapshot, "pkg/main.py", prefix + typed, "\n", 400, count) for typed in ("v", "va", "val")
    ]
    assert shown[0] == shown[1] == shown[2]


def test_check_sources_rejects_unknown_names_and_orders_the_rest():
    assert check_sources(["defs", "bm25"]) == ("bm25", "defs")
    with pytest.raises(ValueError, match="unknown context source grep"):
        check_sources(["grep"])
