; C++ includes (as in C) and C++20 module imports.

(preproc_include path: (string_literal (string_content) @import.module)) @import
(preproc_include path: (system_lib_string) @import.module) @import
(import_declaration name: (module_name) @import.module) @import
