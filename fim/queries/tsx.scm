; inherits: typescript
; TSX: TypeScript plus JSX expressions.

(jsx_element) @unit.expression
