"""HTTP routes: thin wrappers that parse, call the `CompletionService`, and answer.

  GET  /health            model loaded?, FIM format, device (no key needed)
  GET  /v1/models         OpenAI-style model list
  POST /v1/completions    OpenAI legacy completions (`prompt` = prefix, `suffix`)
  POST /infill            llama.cpp's infill (llama.vim, llama.vscode)
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from typing import Any, AsyncIterator

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse

from engine.backend import Completion, CompletionRequest, new_request_id
from server.errors import ServerError
from server.protocol import (
    ErrorBody,
    ErrorResponse,
    Health,
    InfillRequest,
    ModelCard,
    ModelList,
    OpenAIChoice,
    OpenAICompletionRequest,
    OpenAICompletionResponse,
    Usage,
    infill_response,
    openai_finish,
)
from server.service import CompletionService

log = logging.getLogger(__name__)


def error_response(status: int, message: str, *, param: str | None = None, headers: dict | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 401:
        kind = "authentication_error"
    body = ErrorResponse(error=ErrorBody(message=message, type=kind, param=param, code=status))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


_TYPE_NAMES = {"str", "int", "float", "bool", "none"}


def _describe_validation(exc: RequestValidationError) -> tuple[str, str | None]:
    """One sentence naming the first bad field."""
    problems = exc.errors()
    if not problems:
        return "invalid request", None
    first = problems[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        return f"the request body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}", None
    if not loc:
        return f"the request body must be a JSON object: {first.get('msg')}", None
    # Union members add their type to the location ("prompt.list[str]"); keep the field path.
    field = ".".join(p for p in loc if p not in _TYPE_NAMES and "[" not in p and "(" not in p)
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return f"{field}: {first.get('msg')}{more}", loc[0]


def create_app(service: CompletionService, *, api_key: str | None = None) -> FastAPI:
    app = FastAPI(title="codegemma-fim", version="0.1.0", docs_url="/docs", redoc_url=None)
    app.state.service = service

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _describe_validation(exc)
        return error_response(400, message, param=param)

    @app.exception_handler(ServerError)
    async def _refused(request: Request, exc: ServerError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return error_response(exc.status, exc.message, param=exc.param, headers=headers)

    async def require_key(request: Request) -> None:
        if api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), api_key.encode()):
            raise ServerError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'")

    guarded = [Depends(require_key)]

    @app.get("/health", response_model=Health)
    async def health() -> JSONResponse:
        body = Health(
            status=service.status,  # type: ignore[arg-type]
            model=service.model_name,
            fim_format=service.fim_format,
            device="cpu",
            dtype=service.dtype,
            error=service.error,
            peak_rss_mb=peak_rss_mb(),
            prompt_cache=service.prompt_cache_stats(),
        )
        return JSONResponse(body.model_dump(), status_code=200 if service.status == "ok" else 503)

    @app.get("/v1/models", dependencies=guarded)
    async def models() -> ModelList:
        names = [service.model_name] if service.model_name else []
        return ModelList(data=[ModelCard(id=n) for n in names])

    @app.post("/v1/completions", dependencies=guarded)
    async def completions(body: OpenAICompletionRequest, request: Request) -> Any:
        if body.stream and body.n > 1:
            raise ServerError(400, "n > 1 cannot be streamed; ask for n = 1 or stream = false", param="n")
        model = service.model_name or "unknown"
        if body.stream:
            req = body.to_request(service.limits.default_max_tokens)
            service.check(req)  # refuse before the 200 of a stream is sent
            return _sse(_openai_chunks(service, req, model))
        choices, prompt_tokens, completion_tokens = [], 0, 0
        request_id = new_request_id()
        for i in range(body.n):
            req = body.to_request(service.limits.default_max_tokens, seed_offset=i)
            done = await service.complete(req, request.is_disconnected)
            _log_done(req, done)
            choices.append(OpenAIChoice(text=done.text, index=i, finish_reason=openai_finish(done)))
            prompt_tokens = done.timings.prompt_tokens
            completion_tokens += done.timings.generated_tokens
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                      total_tokens=prompt_tokens + completion_tokens)  # fmt: skip
        return OpenAICompletionResponse(id=request_id, model=model, choices=choices, usage=usage)

    @app.post("/infill", dependencies=guarded)
    async def infill(body: InfillRequest, request: Request) -> Any:
        client = request.client.host if request.client else None
        req = body.to_request(service.limits.default_max_tokens, client=client)
        model = service.model_name or "unknown"
        if body.stream:
            service.check(req)
            return _sse(_infill_chunks(service, req, model, body.response_fields))
        done = await service.complete(req, request.is_disconnected)
        _log_done(req, done)
        return infill_response(done, model, body.response_fields)

    return app


def peak_rss_mb() -> float | None:
    """The process's peak resident set size (Linux and macOS report it in different units)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def _log_done(req: CompletionRequest, done: Completion) -> None:
    log.info("%s: done in %.0f ms (%s, %d chars)", req.request_id, done.timings.total_ms,
             done.finish_reason, len(done.text))  # fmt: skip


def _sse(chunks: AsyncIterator[dict[str, Any] | str]) -> StreamingResponse:
    async def encode() -> AsyncIterator[str]:
        async for chunk in chunks:
            payload = chunk if isinstance(chunk, str) else json.dumps(chunk, ensure_ascii=False)
            yield f"data: {payload}\n\n"

    return StreamingResponse(encode(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _openai_chunks(service: CompletionService, req: CompletionRequest, model: str) -> AsyncIterator[Any]:
    created = int(time.time())

    def chunk(text: str, finish: str | None) -> dict[str, Any]:
        choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
        return {"id": req.request_id, "object": "text_completion", "created": created, "model": model,
                "choices": [choice]}  # fmt: skip

    async for item in service.stream(req):
        if isinstance(item, Completion):
            _log_done(req, item)
            yield chunk("", openai_finish(item))
        elif item:
            yield chunk(item, None)
    yield "[DONE]"


async def _infill_chunks(
    service: CompletionService, req: CompletionRequest, model: str, fields: list[str] | None
) -> AsyncIterator[Any]:
    async for item in service.stream(req):
        if isinstance(item, Completion):
            _log_done(req, item)
            final = infill_response(item, model, fields)
            final["content"] = ""  # already streamed piece by piece, as llama.cpp does
            yield final
        elif item:
            yield {"index": 0, "content": item, "stop": False, "id_slot": 0}
