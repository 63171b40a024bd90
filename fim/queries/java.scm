; Java: units, literals and imports.

[
  (expression_statement)
  (local_variable_declaration)
  (return_statement)
  (throw_statement)
  (break_statement)
  (continue_statement)
  (yield_statement)
  (if_statement)
  (for_statement)
  (enhanced_for_statement)
  (while_statement)
  (do_statement)
  (try_statement)
  (try_with_resources_statement)
  (switch_expression)
  (synchronized_statement)
  (assert_statement)
  (method_declaration)
  (constructor_declaration)
  (field_declaration)
  (class_declaration)
  (interface_declaration)
  (enum_declaration)
  (record_declaration)
] @unit.statement

[
  (block)
  (constructor_body)
  (class_body)
  (interface_body)
  (enum_body)
  (switch_block)
] @unit.block

(method_declaration body: (block) @unit.body)
(constructor_declaration body: (constructor_body) @unit.body)
(lambda_expression body: (block) @unit.body)

(argument_list) @unit.arguments

[
  (method_invocation)
  (object_creation_expression)
  (binary_expression)
  (unary_expression)
  (ternary_expression)
  (lambda_expression)
  (field_access)
  (array_access)
  (cast_expression)
  (instanceof_expression)
] @unit.expression

[(string_literal) (character_literal)] @inside.string
[(line_comment) (block_comment)] @inside.comment

(program (import_declaration) @import.top)
(program (package_declaration) @import.top)

; Imported modules (anywhere in the file): `import a.b.C;`, `import static a.b.C.m;`, `import a.b.*;`.

(import_declaration (scoped_identifier) @import.module) @import.statement
