"""Files are ordered dependencies first, cycles broken at their weakest edge, tests beside their subjects."""

from __future__ import annotations

import pytest

from training.ordering import break_cycles, find_subjects, order_repo, topological_order


def langs(*paths: str) -> dict[str, str | None]:
    from fim.syntax import language_for

    return {p: language_for(p) for p in paths}


def test_dependencies_come_first_and_related_files_stay_close():
    edges = {("app.py", "db.py"): 1, ("db.py", "config.py"): 1, ("cli.py", "app.py"): 1,
             ("web.py", "render.py"): 1, ("render.py", "config.py"): 1}  # fmt: skip
    order = order_repo(
        langs("app.py", "cli.py", "config.py", "db.py", "render.py", "web.py", "zz_notes.py"), edges
    ).order
    for a, b in edges:
        assert order.index(b) < order.index(a), f"{b} (imported) must precede {a}"
    # After config.py, both db.py and render.py are ready: the tie is broken alphabetically,
    # then the chain just started (db -> app -> cli) is followed before going back to render.
    assert order == ["config.py", "db.py", "app.py", "cli.py", "render.py", "web.py", "zz_notes.py"]


def test_a_cycle_is_broken_by_dropping_its_weakest_edge():
    edges = {("a.py", "b.py"): 3, ("b.py", "c.py"): 2, ("c.py", "a.py"): 1, ("d.py", "a.py"): 1}
    kept, dropped = break_cycles(edges)
    assert dropped == {("c.py", "a.py")}
    assert kept == set(edges) - dropped
    result = order_repo(langs("a.py", "b.py", "c.py", "d.py"), edges)
    assert result.cycles_broken == 1
    assert result.order == ["c.py", "b.py", "a.py", "d.py"]


def test_mutual_imports_and_long_cycles_always_give_a_complete_valid_order():
    names = [f"m{i:02d}.py" for i in range(30)]
    edges = {(names[i], names[(i + 1) % 30]): 1 + i % 3 for i in range(30)}
    edges.update({(names[i], names[(i + 7) % 30]): 1 for i in range(0, 30, 4)})
    kept, dropped = break_cycles(edges)
    order = topological_order(names, kept)
    assert sorted(order) == names
    assert all(order.index(b) < order.index(a) for a, b in kept)
    assert dropped and len(kept) + len(dropped) == len(edges)


@pytest.mark.parametrize(
    ("test", "subject", "others"),
    [
        ("tests/test_parser.py", "src/pkg/parser.py", ["src/pkg/lexer.py"]),
        ("tests/parser_test.py", "src/pkg/parser.py", ["src/pkg/lexer.py"]),
        ("store/store_test.go", "store/store.go", ["store/cache.go"]),
        ("src/test/java/com/x/ParserTest.java", "src/main/java/com/x/Parser.java", ["src/main/java/com/x/Lexer.java"]),
        ("src/parser.spec.ts", "src/parser.ts", ["src/lexer.ts"]),
        ("src/parser.test.js", "src/parser.js", ["src/lexer.js"]),
    ],
)
def test_unit_tests_are_placed_right_after_the_file_they_test_by_name(test, subject, others):
    files = langs(test, subject, *others)
    order = order_repo(files, {}).order
    assert order.index(test) == order.index(subject) + 1


def test_a_test_without_a_namesake_is_placed_by_what_it_imports():
    files = langs("src/http/cookies.py", "src/http/client.py", "src/util.py", "tests/test_cookie_jar.py")
    edges = {("tests/test_cookie_jar.py", "src/http/cookies.py"): 1, ("tests/test_cookie_jar.py", "src/util.py"): 2,
             ("src/http/client.py", "src/util.py"): 1}  # fmt: skip
    assert find_subjects(files, edges) == {"tests/test_cookie_jar.py": "src/http/cookies.py"}
    order = order_repo(files, edges).order
    assert order.index("tests/test_cookie_jar.py") == order.index("src/http/cookies.py") + 1


def test_files_outside_the_graph_are_alphabetical_after_it():
    files = langs("z.py", "b.py", "a.py", "lib/x.py", "lib/y.py")
    order = order_repo(files, {("lib/y.py", "lib/x.py"): 1}).order
    assert order == ["lib/x.py", "lib/y.py", "a.py", "b.py", "z.py"]
