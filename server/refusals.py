"""How every refusal becomes `{"error": {"message", "type", "param", "code"}}`.

Clients (and the OpenAPI document) see one shape whatever went wrong: a bad field, invalid JSON or
UTF-8, an unknown route or method, an oversize body, a busy server, or a bug (500). Starlette's and
FastAPI's own refusals (404, 405, 413, undecodable bodies) would otherwise answer `{"detail": ...}`.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.errors import ServerError
from server.protocol import ErrorBody, ErrorResponse


def error_body(status: int, message: str, param: str | None = None) -> ErrorResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 401:
        kind = "authentication_error"
    return ErrorResponse(error=ErrorBody(message=message, type=kind, param=param, code=status))


def error_response(status: int, message: str, *, param: str | None = None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, param).model_dump(), status_code=status, headers=headers)


_TYPE_NAMES = {"str", "int", "float", "bool", "none"}


def describe_validation(exc: RequestValidationError) -> tuple[str, str | None]:
    """One sentence naming the first bad field, and the field."""
    problems = exc.errors()
    if not problems:
        return "invalid request", None
    # A union reports each member's complaint; the deepest one that is not a type mismatch (the list
    # item, the list's length; not "Input should be a valid string") says most.
    same_field = [p for p in problems if p.get("loc", ())[:2] == problems[0].get("loc", ())[:2]]
    first = max(same_field, key=lambda p: (len(p.get("loc", ())), not str(p.get("type", "")).endswith("_type")))
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        return f"the request body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}", None
    if not loc:
        return f"the request body must be a JSON object: {first.get('msg')}", None
    # Union members add their type to the location ("prompt.list[str]"); keep the field path.
    field = ".".join(p for p in loc if p not in _TYPE_NAMES and "[" not in p and "(" not in p)
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return f"{field}: {first.get('msg')}{more}", loc[0]


def describe_http(request: Request, exc: HTTPException, max_body_bytes: int | None) -> str:
    """What the framework's own refusals mean, in words a client can act on."""
    if exc.status_code == 404:
        return f"no route {request.url.path}; the routes are listed at /docs"
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return f"{request.method} is not allowed on {request.url.path}; use {allowed or 'another method'}"
    if exc.status_code == 413:
        return f"the request body is larger than {max_body_bytes} bytes, the most this server reads; send less context"
    if isinstance(exc.__cause__, UnicodeDecodeError):
        return f"the request body is not valid UTF-8: {exc.__cause__}"
    return str(exc.detail)


def install_error_handlers(app: FastAPI, max_body_bytes: int | None) -> None:
    """Answer every refusal, the framework's own and unexpected failures included, as `{"error": {...}}`."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = describe_validation(exc)
        return error_response(400, message, param=param)

    @app.exception_handler(ServerError)
    async def _refused(request: Request, exc: ServerError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return error_response(exc.status, exc.message, param=exc.param, headers=headers)

    @app.exception_handler(HTTPException)
    async def _framework(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, describe_http(request, exc, max_body_bytes), headers=exc.headers)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # The server logs the traceback; the client gets the shape it expects.
        return error_response(500, f"internal error ({type(exc).__name__}); see the server log")


class BodyLimit:
    """Refuse a request body over `max_bytes` before reading it whole: at once when its Content-Length says
    so, else (chunked) as soon as the bytes received pass the limit.

    FastAPI's own `max_body_size` does the same but answers a declared-too-large body in plain text
    whatever the error handlers say; this answers `{"error": ...}` like every other refusal.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            message = f"the request body is {declared} bytes; this server reads at most {self.max_bytes}"
            await error_response(413, message, headers={"Connection": "close"})(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # Raised inside the route's body read; FastAPI passes an HTTPException on to the handlers.
                raise HTTPException(413, headers={"Connection": "close"})
            return message

        await self.app(scope, counted, send)
