; JavaScript (and the base of TypeScript/TSX): units, literals and imports.

[
  (expression_statement)
  (lexical_declaration)
  (variable_declaration)
  (return_statement)
  (throw_statement)
  (break_statement)
  (continue_statement)
  (if_statement)
  (for_statement)
  (for_in_statement)
  (while_statement)
  (do_statement)
  (try_statement)
  (switch_statement)
  (function_declaration)
  (generator_function_declaration)
  (class_declaration)
  (method_definition)
] @unit.statement

[
  (statement_block)
  (class_body)
  (switch_body)
] @unit.block

(function_declaration body: (statement_block) @unit.body)
(function_expression body: (statement_block) @unit.body)
(arrow_function body: (statement_block) @unit.body)
(method_definition body: (statement_block) @unit.body)

(arguments) @unit.arguments

[
  (call_expression)
  (binary_expression)
  (ternary_expression)
  (unary_expression)
  (arrow_function)
  (member_expression)
  (subscript_expression)
  (new_expression)
  (await_expression)
  (array)
  (object)
] @unit.expression

[(string) (template_string)] @inside.string
(comment) @inside.comment

(program (import_statement) @import.top)

; Imported modules (anywhere in the file): ES modules, re-exports, require() and dynamic import().

(import_statement source: (string (string_fragment) @import.module)) @import.statement
(export_statement source: (string (string_fragment) @import.module)) @import.statement

((call_expression
   function: (identifier) @_require
   arguments: (arguments . (string (string_fragment) @import.module))) @import.statement
 (#eq? @_require "require"))

(call_expression
  function: (import)
  arguments: (arguments . (string (string_fragment) @import.module))) @import.statement
