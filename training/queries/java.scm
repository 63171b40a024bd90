; Java imports: `import a.b.C;`, `import static a.b.C.m;`, `import a.b.*;`.

(import_declaration (scoped_identifier) @import.module) @import
