"""The one error type of the `engine` package."""


class EngineError(RuntimeError):
    """A model cannot be loaded or run; the message says what to do about it."""
