; Rust: units, literals and imports.

[
  (expression_statement)
  (let_declaration)
  (function_item)
  (struct_item)
  (enum_item)
  (impl_item)
  (trait_item)
  (mod_item)
  (const_item)
  (static_item)
  (use_declaration)
  (macro_definition)
] @unit.statement

[
  (block)
  (declaration_list)
  (match_block)
  (field_declaration_list)
] @unit.block

(function_item body: (block) @unit.body)
(closure_expression body: (block) @unit.body)

(arguments) @unit.arguments

[
  (call_expression)
  (macro_invocation)
  (binary_expression)
  (unary_expression)
  (field_expression)
  (index_expression)
  (if_expression)
  (match_expression)
  (closure_expression)
  (struct_expression)
  (try_expression)
  (reference_expression)
  (array_expression)
] @unit.expression

[(string_literal) (raw_string_literal) (char_literal)] @inside.string
[(line_comment) (block_comment)] @inside.comment

(source_file (use_declaration) @import.top)
(source_file (extern_crate_declaration) @import.top)

; Imported modules (anywhere in the file): `use` paths, `use a::{b, c}` lists, `mod name;` declarations (a file), `extern crate`.

(use_declaration argument: (scoped_identifier) @import.module) @import.statement
(use_declaration argument: (identifier) @import.module) @import.statement
(use_declaration argument: (use_as_clause path: (_) @import.module)) @import.statement
(use_declaration argument: (use_wildcard [(identifier) (scoped_identifier)] @import.module)) @import.statement
(use_declaration
  argument: (scoped_use_list
    path: (_) @import.module
    list: (use_list [(identifier) @import.member (scoped_identifier) @import.member]))) @import.statement

(mod_item name: (identifier) @import.module !body) @import.statement
