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
