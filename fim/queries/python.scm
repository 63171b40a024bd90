; Python: units, literals and imports (capture names: see fim/queries/__init__.py).

[
  (expression_statement)
  (return_statement)
  (assert_statement)
  (raise_statement)
  (pass_statement)
  (break_statement)
  (continue_statement)
  (delete_statement)
  (global_statement)
  (nonlocal_statement)
  (import_statement)
  (import_from_statement)
  (if_statement)
  (for_statement)
  (while_statement)
  (try_statement)
  (with_statement)
  (match_statement)
  (function_definition)
  (class_definition)
  (decorated_definition)
] @unit.statement

(block) @unit.block

(function_definition body: (block) @unit.body)

(argument_list) @unit.arguments

[
  (call)
  (binary_operator)
  (comparison_operator)
  (boolean_operator)
  (not_operator)
  (conditional_expression)
  (lambda)
  (list_comprehension)
  (dictionary_comprehension)
  (set_comprehension)
  (generator_expression)
  (subscript)
  (list)
  (dictionary)
  (tuple)
] @unit.expression

(string) @inside.string
(comment) @inside.comment

(block . (string) @doc)

(module [(import_statement) (import_from_statement) (future_import_statement)] @import.top)

; Imported modules (anywhere in the file): `import a.b`, `import a.b as c`, `from .x import y`, `from a import (b, c as d)`.

(import_statement name: (dotted_name) @import.module) @import.statement
(import_statement name: (aliased_import name: (dotted_name) @import.module)) @import.statement

(import_from_statement
  module_name: (_) @import.module
  name: [(dotted_name) @import.member (aliased_import name: (dotted_name) @import.member)]) @import.statement

(import_from_statement module_name: (_) @import.module (wildcard_import)) @import.statement
