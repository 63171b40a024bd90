"""Only the open files a document imports go into its prompt, the imported module itself last (nearest the cursor)."""

from __future__ import annotations

import pytest
from lsprotocol import types

from lsp.context import IMPORT_HEAD_CHARS, imported_names, related_files
from lsp.documents import DocumentStore


def store_with(files: dict[str, tuple[str, str]]) -> DocumentStore:
    store = DocumentStore("utf-16", root="/w")
    for path, (language_id, text) in files.items():
        store.open(f"file:///w/{path}", text, language_id)
    return store


@pytest.mark.parametrize(
    ("path", "language_id", "source", "imported"),
    [
        ("app.py", "python", "from pkg.helpers import parse\nimport os\n", "pkg/helpers.py"),
        ("app.py", "python", "from . import utils\n", "utils.py"),
        ("main.ts", "typescript", 'import { parse } from "./lib/util";\n', "lib/util.ts"),
        ("main.go", "go", 'package main\nimport (\n  "fmt"\n  "example.com/m/store"\n)\n', "store/db.go"),
        ("main.rs", "rust", "use crate::tokens::Token;\n", "tokens.rs"),
        ("Main.java", "java", "import com.acme.Parser;\n", "com/acme/Parser.java"),
        ("main.c", "c", '#include "vec.h"\n', "vec.h"),
    ],
)
def test_only_the_imported_file_is_context(path, language_id, source, imported):
    ext = path.rsplit(".", 1)[1]
    store = store_with({
        path: (language_id, source + "\n"),
        imported: (language_id, "// the imported file\n"),
        f"zzz_unrelated.{ext}": (language_id, "// same language, not imported\n"),
        "README.md": ("markdown", "# other language\n"),
    })  # fmt: skip
    current = store.get(f"file:///w/{path}")
    context = related_files(current, store, store.display_path)
    assert [c.path for c in context] == [imported]


def test_recently_edited_imported_files_come_later():
    store = store_with({"a.py": ("python", "import new, old\n"), "new.py": ("python", "n\n"), "old.py": ("python", "o\n"),
                        "other.py": ("python", "unrelated\n")})  # fmt: skip
    store.change("file:///w/new.py", 2, [types.TextDocumentContentChangeWholeDocument(text="n = 2\n")])
    context = related_files(store.get("file:///w/a.py"), store, store.display_path)
    assert [c.path for c in context] == ["old.py", "new.py"]


def test_a_file_of_the_imported_package_comes_before_the_imported_module():
    store = store_with({"app.py": ("python", "from pkg.helpers import parse\n"), "pkg/helpers.py": ("python", "h\n"),
                        "pkg/other.py": ("python", "o\n"), "lib/other.py": ("python", "l\n")})  # fmt: skip
    context = related_files(store.get("file:///w/app.py"), store, store.display_path)
    assert [c.path for c in context] == ["pkg/other.py", "pkg/helpers.py"]


def test_empty_and_unrelated_files_are_left_out():
    store = store_with({"a.py": ("python", "import b\n"), "b.py": ("python", "   \n"), "c.rs": ("rust", "fn c() {}\n")})
    assert related_files(store.get("file:///w/a.py"), store, store.display_path) == ()


def test_imported_names_without_a_grammar_are_empty():
    store = store_with({"notes.txt": ("plaintext", "import b\n")})
    assert imported_names(store.get("file:///w/notes.txt")) == set()


def test_imports_are_read_from_the_head_of_a_file():
    """A 10 MB file is not parsed whole on the event loop for its import list: only its head is."""
    late = "x = 1\n" * (IMPORT_HEAD_CHARS // 6 + 1) + "import late\n"
    store = store_with({"big.py": ("python", "import early\n" + late)})
    assert imported_names(store.get("file:///w/big.py")) == {"import", "early"}
