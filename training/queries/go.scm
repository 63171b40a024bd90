; Go imports: every import spec names a package directory.

(import_spec path: (interpreted_string_literal (interpreted_string_literal_content) @import.module)) @import
(import_spec path: (raw_string_literal (raw_string_literal_content) @import.module)) @import
