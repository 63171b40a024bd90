"""The one error type of the `fim` package."""


class FimError(ValueError):
    """Bad FIM input or configuration; the message says what to change."""
