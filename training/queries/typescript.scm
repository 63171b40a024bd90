; TypeScript imports: JavaScript's forms plus `import x = require("...")`.

(import_statement source: (string (string_fragment) @import.module)) @import
(import_statement (import_require_clause source: (string (string_fragment) @import.module))) @import
(export_statement source: (string (string_fragment) @import.module)) @import

((call_expression
   function: (identifier) @_require
   arguments: (arguments . (string (string_fragment) @import.module))) @import
 (#eq? @_require "require"))

(call_expression
  function: (import)
  arguments: (arguments . (string (string_fragment) @import.module))) @import
