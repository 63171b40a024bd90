"""Tag queries: where each language defines the names other files use (aider's `@name.definition.*` convention)."""
