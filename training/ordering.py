"""Order a repository's files the way CodeGemma's training data was ordered.

A model sees a repository as one long document, so a file's dependencies
should come before it and related files should sit close together: then
what a completion needs is already in its context. Following the CodeGemma
report: imports give edges; cycles are broken by dropping the least
important edges; the files are linearised by a topological sort that
always takes, among the files whose dependencies are all placed, the one
nearest the files just placed (ties alphabetical). Files without edges
follow alphabetically, and each unit test sits right after the file it
tests, found by its name (`test_foo.py`, `foo_test.go`, `FooTest.java`,
`foo.spec.ts`) or, failing that, by what it imports.
"""

from __future__ import annotations

import difflib
import heapq
import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Mapping

from training.resolve import rules, split_ext

#: (importer, imported) -> importance (how many import references join them).
Edges = Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class Ordering:
    """A repository's files in training order, and what it took to get there."""

    order: list[str]
    #: Edges used (after dropping self-imports), and how many were dropped to break cycles.
    edges: int = 0
    cycles_broken: int = 0
    #: test file -> the file it was placed after.
    tests: dict[str, str] = field(default_factory=dict)


def order_repo(languages: Mapping[str, str | None], edges: Edges) -> Ordering:
    """Order the files of one repository (`path -> language`) given its import edges."""
    files = sorted(languages)
    tests = find_subjects(languages, edges)
    graph = {(a, b): w for (a, b), w in edges.items() if a != b and a not in tests and b not in tests}
    kept, dropped = break_cycles(graph)
    nodes = sorted({n for edge in graph for n in edge})
    ordered = topological_order(nodes, kept)
    in_graph = set(nodes)
    ordered += [f for f in files if f not in in_graph and f not in tests]
    by_subject: dict[str, list[str]] = defaultdict(list)
    for test, subject in sorted(tests.items()):
        by_subject[subject].append(test)
    final: list[str] = []
    for path in ordered:
        final.append(path)
        final.extend(by_subject.get(path, ()))
    return Ordering(final, edges=len(graph), cycles_broken=len(dropped), tests=tests)


def test_subject_stem(path: str, language: str | None) -> str | None:
    """The stem of the file `path` tests, if its name says it is a unit test."""
    lang = rules().get(language or "")
    if lang is None:
        return None
    stem = split_ext(posixpath.basename(path))[0]
    for pattern in lang.tests:
        match = re.match(pattern, stem)
        if match and match.group("subject"):
            return match.group("subject")
    return None


def find_subjects(languages: Mapping[str, str | None], edges: Edges) -> dict[str, str]:
    """test file -> the file it tests.

    A file of the subject's name wins (one the test imports first, then the
    nearest); otherwise the imported file whose name is most like the
    subject's, then the most imported. A test that imports nothing of the
    repository and names no file of it stays where the order puts it.
    """
    table = rules()
    stems: dict[tuple[str, str], list[str]] = defaultdict(list)
    subject_stems = {p: test_subject_stem(p, lang) for p, lang in languages.items()}
    for path, lang in languages.items():
        if subject_stems[path] is None and lang in table:
            stem = split_ext(posixpath.basename(path))[0].lower()
            stems[(table[lang].group, stem)].append(path)
    imports: dict[str, dict[str, int]] = defaultdict(dict)
    for (a, b), w in edges.items():
        imports[a][b] = w
    found: dict[str, str] = {}
    for path, subject in sorted(subject_stems.items()):
        if subject is None:
            continue
        group = table[languages[path]].group  # type: ignore[index]
        named = stems.get((group, subject.lower()), [])
        test_dir = path.split("/")[:-1]
        if named:
            found[path] = min(named, key=lambda p: (-imports[path].get(p, 0), -_shared(test_dir, p), p))
        else:
            imported = [p for p in imports[path] if subject_stems.get(p) is None]
            if imported:
                found[path] = min(imported, key=lambda p: (-_likeness(subject, p), -imports[path][p], p))
    return found


def _likeness(subject: str, path: str) -> float:
    """How much a file's name looks like a test's subject (`test_http_cookies` vs `cookies.py`)."""
    stem = split_ext(posixpath.basename(path))[0].lower()
    return difflib.SequenceMatcher(None, subject.lower(), stem).ratio()


def _shared(directory: list[str], path: str) -> int:
    other = path.split("/")[:-1]
    n = 0
    while n < len(directory) and n < len(other) and directory[n] == other[n]:
        n += 1
    return n


def break_cycles(edges: Edges) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """Split `edges` into a cycle-free set to keep and the dropped rest.

    Inside each strongly connected component, edges are taken from most to
    least important (references, then how often the target is imported,
    then by name), and an edge that would close a cycle with those already
    taken is dropped: the weakest links of every cycle go.
    """
    indegree: dict[str, int] = defaultdict(int)
    for _, b in edges:
        indegree[b] += 1
    component = strongly_connected(edges)
    kept = {e for e in edges if component[e[0]] != component[e[1]]}
    inner = sorted((e for e in edges if component[e[0]] == component[e[1]]),
                   key=lambda e: (-edges[e], -indegree[e[1]], e))  # fmt: skip
    adjacency: dict[str, set[str]] = defaultdict(set)
    dropped = set()
    for a, b in inner:
        if _reaches(adjacency, b, a):
            dropped.add((a, b))
        else:
            adjacency[a].add(b)
            kept.add((a, b))
    return kept, dropped


def _reaches(adjacency: Mapping[str, set[str]], start: str, goal: str) -> bool:
    stack, seen = [start], {start}
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in adjacency.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def strongly_connected(edges: Edges) -> dict[str, int]:
    """Component number of every node (Tarjan's algorithm, iterative: import graphs can be deep)."""
    adjacency: dict[str, list[str]] = defaultdict(list)
    nodes: set[str] = set()
    for a, b in sorted(edges):
        adjacency[a].append(b)
        nodes.update((a, b))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    component: dict[str, int] = {}
    counter = components = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = adjacency[node]
            if child < len(succ):
                work.append((node, child + 1))
                nxt = succ[child]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = components
                    if member == node:
                        break
                components += 1
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return component


def topological_order(nodes: list[str], edges: set[tuple[str, str]]) -> list[str]:
    """Dependencies first; next is the ready file nearest the placed ones (ties alphabetical).

    "Nearest" is the most recently placed file it shares an edge with, in
    either direction, so a module's dependants follow it while it is fresh.
    """
    deps: dict[str, int] = {n: 0 for n in nodes}
    dependants: dict[str, list[str]] = defaultdict(list)
    neighbours: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:  # a imports b: b first
        deps[a] += 1
        dependants[b].append(a)
        neighbours[a].add(b)
        neighbours[b].add(a)
    score = {n: -1 for n in nodes}
    heap = [(1, n) for n in nodes if deps[n] == 0]
    heapq.heapify(heap)
    placed: set[str] = set()
    order: list[str] = []
    while heap:
        neg, node = heapq.heappop(heap)
        if node in placed or -neg != score[node]:
            continue
        placed.add(node)
        position = len(order)
        order.append(node)
        for dependant in dependants[node]:
            deps[dependant] -= 1
        for other in neighbours[node]:
            if other not in placed:
                score[other] = position
                if deps[other] == 0:
                    heapq.heappush(heap, (-position, other))
    return order
