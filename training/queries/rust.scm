; Rust: `use` paths, `use a::{b, c}` lists, `mod name;` declarations (a file), `extern crate`.

(use_declaration argument: (scoped_identifier) @import.module) @import
(use_declaration argument: (identifier) @import.module) @import
(use_declaration argument: (use_as_clause path: (_) @import.module)) @import
(use_declaration argument: (use_wildcard [(identifier) (scoped_identifier)] @import.module)) @import
(use_declaration
  argument: (scoped_use_list
    path: (_) @import.module
    list: (use_list [(identifier) @import.member (scoped_identifier) @import.member]))) @import

(mod_item name: (identifier) @import.module !body) @import
