; Go: units, literals and imports.

[
  (expression_statement)
  (assignment_statement)
  (short_var_declaration)
  (var_declaration)
  (const_declaration)
  (return_statement)
  (if_statement)
  (for_statement)
  (expression_switch_statement)
  (type_switch_statement)
  (select_statement)
  (defer_statement)
  (go_statement)
  (inc_statement)
  (dec_statement)
  (send_statement)
  (break_statement)
  (continue_statement)
  (function_declaration)
  (method_declaration)
  (type_declaration)
] @unit.statement

(block) @unit.block

(function_declaration body: (block) @unit.body)
(method_declaration body: (block) @unit.body)
(func_literal body: (block) @unit.body)

(argument_list) @unit.arguments

[
  (call_expression)
  (binary_expression)
  (unary_expression)
  (selector_expression)
  (index_expression)
  (slice_expression)
  (composite_literal)
  (func_literal)
] @unit.expression

[(interpreted_string_literal) (raw_string_literal)] @inside.string
(comment) @inside.comment

(source_file (import_declaration) @import.top)

; Imported modules (anywhere in the file): every import spec names a package directory.

(import_spec path: (interpreted_string_literal (interpreted_string_literal_content) @import.module)) @import.statement
(import_spec path: (raw_string_literal (raw_string_literal_content) @import.module)) @import.statement
