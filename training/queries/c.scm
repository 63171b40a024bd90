; C includes: `#include "a/b.h"` and `#include <a/b.h>`.

(preproc_include path: (string_literal (string_content) @import.module)) @import
(preproc_include path: (system_lib_string) @import.module) @import
