"""The one error type of the `training` package."""


class TrainingError(RuntimeError):
    """Bad packing or training input; the message says what to change."""
