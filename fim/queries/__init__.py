"""Per-language tree-sitter queries (`<language>.scm`), loaded by `fim.syntax` as package resources.

Capture names are the contract with the Python code, which has no
per-language branches:

- `@unit.statement`, `@unit.block`, `@unit.body`, `@unit.expression`,
  `@unit.arguments`: nodes a FIM training middle may be (`fim.splits`);
  `@unit.block` is also what "the cursor is in an empty block" looks for.
- `@inside.string`, `@inside.comment`: literals whose inside is completed
  to the end of the line (or of the literal), not as code.
- `@doc`: a docstring, which does not make a block non-empty.
- `@top.import`: top-level imports, kept when the prefix is cut to the budget.

A first line `; inherits: other` prepends `other.scm` (TypeScript builds on
JavaScript, TSX on TypeScript, C++ on C).
"""
