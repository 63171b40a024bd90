"""Repository context: the code from other files of the workspace that a completion needs.

`workspace` indexes a directory in a background thread (definitions, imports, BM25 windows); `assemble`
picks, for one cursor, the snippets that fit a token budget in a stable order; `ring` remembers what the
user recently viewed and edited. `fim/` stays pure: this package does the I/O and threading.
"""
