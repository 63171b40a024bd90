"""Imports are found with tree-sitter and resolved to repository files, per language."""

from __future__ import annotations

import pytest

from training.imports import ImportRef, extract_imports
from training.resolve import import_edges


def edges_of(files: dict[str, str]) -> set[tuple[str, str]]:
    from fim.syntax import language_for

    return set(import_edges({p: (language_for(p), text) for p, text in files.items()}))


def test_python_absolute_relative_member_and_package_imports():
    repo = {
        "src/app/__init__.py": "from .core import run\n",
        "src/app/core.py": "import os\nfrom app import util\nfrom . import models\n",
        "src/app/util.py": "from app.models import User\n",
        "src/app/models.py": "import json\nimport numpy.linalg\n",
        "src/app/sub/deep.py": "from ..util import helper\nfrom .. import core\n",
        "tests/test_core.py": "import app.core\nfrom app import Thing\n\ndef test():\n    import app.util\n",
    }  # fmt: skip
    assert edges_of(repo) == {
        ("src/app/__init__.py", "src/app/core.py"),
        ("src/app/core.py", "src/app/util.py"),
        ("src/app/core.py", "src/app/models.py"),
        ("src/app/util.py", "src/app/models.py"),
        ("src/app/sub/deep.py", "src/app/util.py"),
        ("src/app/sub/deep.py", "src/app/core.py"),
        ("tests/test_core.py", "src/app/core.py"),
        ("tests/test_core.py", "src/app/__init__.py"),  # `Thing` is not a module: the package
        ("tests/test_core.py", "src/app/util.py"),  # function-level imports count too
    }


def test_javascript_and_typescript_relative_imports_with_extensions_index_files_and_require():
    repo = {
        "web/src/main.ts": "import { a } from './lib';\nimport React from 'react';\nexport * from './types.js';\n",
        "web/src/lib/index.ts": "const b = require('../util/b');\n",
        "web/src/types.ts": "export type T = number;\n",
        "web/src/util/b.js": "module.exports = await import('./c.mjs');\n",
        "web/src/util/c.mjs": "export const c = 1;\n",
        "web/src/view.tsx": "import { a } from './lib/index';\nexport const V = () => <div>{a}</div>;\n",
    }  # fmt: skip
    assert edges_of(repo) == {
        ("web/src/main.ts", "web/src/lib/index.ts"),
        ("web/src/main.ts", "web/src/types.ts"),
        ("web/src/lib/index.ts", "web/src/util/b.js"),
        ("web/src/util/b.js", "web/src/util/c.mjs"),
        ("web/src/view.tsx", "web/src/lib/index.ts"),
    }


def test_go_imports_name_package_directories_under_the_module_path():
    repo = {
        "go.mod": "module github.com/acme/tool\n",
        "cmd/tool/main.go": 'package main\n\nimport (\n\t"fmt"\n\t"github.com/acme/tool/internal/store"\n)\n',
        "internal/store/store.go": 'package store\n\nimport "github.com/acme/tool/util"\n',
        "internal/store/cache.go": "package store\n",
        "util/util.go": "package util\n",
    }  # fmt: skip
    assert edges_of(repo) == {
        ("cmd/tool/main.go", "internal/store/cache.go"),
        ("cmd/tool/main.go", "internal/store/store.go"),
        ("internal/store/store.go", "util/util.go"),
    }


def test_rust_use_paths_use_lists_and_mod_declarations():
    repo = {
        "src/main.rs": "mod config;\nmod net;\nuse crate::config::Settings;\nuse std::io;\n",
        "src/config.rs": "use super::net::{client, Server};\n",
        "src/net/mod.rs": "pub mod client;\n",
        "src/net/client.rs": "use crate::config::Settings;\n",
    }  # fmt: skip
    assert edges_of(repo) == {
        ("src/main.rs", "src/config.rs"),
        ("src/main.rs", "src/net/mod.rs"),
        ("src/config.rs", "src/net/client.rs"),
        ("src/config.rs", "src/net/mod.rs"),
        ("src/net/mod.rs", "src/net/client.rs"),
        ("src/net/client.rs", "src/config.rs"),
    }


def test_java_imports_resolve_under_any_source_root_including_static_imports():
    repo = {
        "src/main/java/com/acme/App.java": "package com.acme;\nimport com.acme.util.Strings;\nimport java.util.List;\n",
        "src/main/java/com/acme/util/Strings.java": "package com.acme.util;\nimport static com.acme.util.Chars.isBlank;\n",
        "src/main/java/com/acme/util/Chars.java": "package com.acme.util;\n",
    }  # fmt: skip
    assert edges_of(repo) == {
        ("src/main/java/com/acme/App.java", "src/main/java/com/acme/util/Strings.java"),
        ("src/main/java/com/acme/util/Strings.java", "src/main/java/com/acme/util/Chars.java"),
    }


def test_c_and_cpp_includes_resolve_by_path_suffix_and_system_headers_do_not():
    repo = {
        "src/main.c": '#include <stdio.h>\n#include "net/socket.h"\n#include "util.h"\n',
        "include/net/socket.h": "int open_socket(void);\n",
        "src/util.h": "int helper(int);\n",
        "lib/other/util.h": "int other(int);\n",
        "src/engine.cpp": '#include "../include/net/socket.h"\n#include <vector>\n',
    }  # fmt: skip
    assert edges_of(repo) == {
        ("src/main.c", "include/net/socket.h"),
        ("src/main.c", "src/util.h"),  # the nearer of two util.h
        ("src/engine.cpp", "include/net/socket.h"),
    }


@pytest.mark.parametrize(
    ("language", "text", "expected"),
    [
        ("python", "from a.b import (c, d as e)\n", [ImportRef("a.b", "c"), ImportRef("a.b", "d")]),
        ("rust", "use a::b::{c, d};\n", [ImportRef("a::b", "c"), ImportRef("a::b", "d")]),
        ("go", 'import x "a/b"\n', [ImportRef("a/b")]),
        ("cpp", "#include <map>\n", [ImportRef("map")]),
        ("python", "def broken(:\n  import os\n", [ImportRef("os")]),
        (None, "import os\n", []),
    ],
)
def test_extraction_keeps_members_and_survives_syntax_errors(language, text, expected):
    assert extract_imports(text, language) == expected
