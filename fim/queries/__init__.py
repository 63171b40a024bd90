"""Per-language tree-sitter queries (`<language>.scm`), loaded by `fim.syntax` as package resources.

Capture names are the contract with the Python code, which has no
per-language branches:

- `@unit.statement`, `@unit.block`, `@unit.body`, `@unit.expression`,
  `@unit.arguments`: nodes a FIM training middle may be (`fim.splits`);
  `@unit.block` is also what "the cursor is in an empty block" looks for.
- `@inside.string`, `@inside.comment`: literals whose inside is completed
  to the end of the line (or of the literal), not as code.
- `@doc`: a docstring, which does not make a block non-empty.
- `@import.top`: top-level import statements, kept when the prefix is cut
  to the budget (`fim.outline`) and read for names (`lsp.context`).
- `@import.statement`: any import (also nested ones, `require()`, `mod x;`);
  the two captures below belong to the statement whose range holds them
  (`training.imports`, which resolves them to files).
- `@import.module`: text naming a module, package, header or path
  (`a.b.c`, `"./util"`, `crate::config`, `"pkg/util.h"`); quotes and angle
  brackets are stripped by the reader.
- `@import.member`: a name imported from that module that may itself be a
  module (`from pkg import mod`, `use a::{b, c}`); tried before the module.
- Names starting with `_` (`@_require`) serve predicates only.

A first line `; inherits: other` prepends `other.scm` (TypeScript builds on
JavaScript, TSX on TypeScript, C++ on C).
"""
