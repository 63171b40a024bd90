; Python definitions other files use. Capture names: @definition.KIND is the whole definition,
; @name.definition.KIND its name, @body.definition.KIND the part a signature leaves out.

(module (function_definition name: (identifier) @name.definition.function body: (block) @body.definition.function) @definition.function)
(module (decorated_definition definition: (function_definition name: (identifier) @name.definition.function body: (block) @body.definition.function)) @definition.function)

(module (class_definition name: (identifier) @name.definition.class body: (block) @body.definition.class) @definition.class)
(module (decorated_definition definition: (class_definition name: (identifier) @name.definition.class body: (block) @body.definition.class)) @definition.class)

(module (assignment left: (identifier) @name.definition.constant) @definition.constant)

(class_definition body: (block (function_definition name: (identifier) @name.definition.method body: (block) @body.definition.method) @definition.method))
(class_definition body: (block (decorated_definition definition: (function_definition name: (identifier) @name.definition.method body: (block) @body.definition.method)) @definition.method))
