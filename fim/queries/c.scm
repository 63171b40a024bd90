; C (and the base of C++): units, literals and includes.

[
  (expression_statement)
  (declaration)
  (return_statement)
  (break_statement)
  (continue_statement)
  (goto_statement)
  (if_statement)
  (for_statement)
  (while_statement)
  (do_statement)
  (switch_statement)
  (case_statement)
  (function_definition)
  (type_definition)
  (struct_specifier)
] @unit.statement

[
  (compound_statement)
  (field_declaration_list)
  (enumerator_list)
] @unit.block

(function_definition body: (compound_statement) @unit.body)

(argument_list) @unit.arguments

[
  (call_expression)
  (binary_expression)
  (unary_expression)
  (conditional_expression)
  (assignment_expression)
  (field_expression)
  (subscript_expression)
  (cast_expression)
  (pointer_expression)
  (initializer_list)
] @unit.expression

[(string_literal) (char_literal) (system_lib_string)] @inside.string
(comment) @inside.comment

(translation_unit (preproc_include) @import.top)

; Imported modules (anywhere in the file): `#include "a/b.h"` and `#include <a/b.h>`.

(preproc_include path: (string_literal (string_content) @import.module)) @import.statement
(preproc_include path: (system_lib_string) @import.module) @import.statement
