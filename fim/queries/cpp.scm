; inherits: c
; C++ additions on top of c.scm.

[
  (namespace_definition)
  (template_declaration)
  (class_specifier)
  (try_statement)
  (throw_statement)
  (alias_declaration)
  (using_declaration)
] @unit.statement

(declaration_list) @unit.block

(lambda_expression body: (compound_statement) @unit.body)

[
  (lambda_expression)
  (new_expression)
  (template_function)
] @unit.expression

(raw_string_literal) @inside.string

(translation_unit (using_declaration) @import.top)

; Imported modules (anywhere in the file): C's includes plus C++20 module imports.

(import_declaration name: (module_name) @import.module) @import.statement
