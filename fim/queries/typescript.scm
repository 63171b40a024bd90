; inherits: javascript
; TypeScript additions on top of javascript.scm.

[
  (interface_declaration)
  (type_alias_declaration)
  (enum_declaration)
  (abstract_class_declaration)
] @unit.statement

[
  (interface_body)
  (enum_body)
] @unit.block

(as_expression) @unit.expression

; Imported modules (anywhere in the file): JavaScript's forms plus `import x = require("...")`.

(import_statement (import_require_clause source: (string (string_fragment) @import.module))) @import.statement
