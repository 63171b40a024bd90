"""The one error type of the `evals` package."""


class EvalError(RuntimeError):
    """A benchmark cannot run as asked; the message says what to change."""
