"""The language server: inline completions and hints in any LSP editor (`codegemma lsp`).

State lives on one `LanguageServer` subclass (`lsp.server`); handlers fetch
the document, call plain functions (`lsp.context`, `lsp.hints`) and hand
model work to worker threads (`lsp.work`), so the event loop only ever moves
messages and edits text.
"""
