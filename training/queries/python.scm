; Python imports: `import a.b`, `import a.b as c`, `from .x import y`, `from a import (b, c as d)`.

(import_statement name: (dotted_name) @import.module) @import
(import_statement name: (aliased_import name: (dotted_name) @import.module)) @import

(import_from_statement
  module_name: (_) @import.module
  name: [(dotted_name) @import.member (aliased_import name: (dotted_name) @import.member)]) @import

(import_from_statement module_name: (_) @import.module (wildcard_import)) @import
