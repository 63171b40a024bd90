"""The one error type of the `server` package."""

from __future__ import annotations


class ServerError(Exception):
    """A request the server will not serve, with the HTTP status to answer."""

    def __init__(self, status: int, message: str, *, param: str | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.retry_after = retry_after
