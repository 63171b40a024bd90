"""The one error type of the `lsp` package."""


class LspError(ValueError):
    """A setting or request the language server cannot act on; the message says what to change."""
