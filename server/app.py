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
from contextlib import aclosing
from typing import Any, AsyncIterator, Iterable, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Receive, Scope, Send

from engine.backend import Completion, CompletionRequest, new_request_id
from engine.defaults import VERSION
from server.errors import ServerError
from server.protocol import (
    ErrorResponse,
    Health,
    InfillRequest,
    ModelCard,
    ModelList,
    InfillChunk,
    OpenAIChoice,
    OpenAICompletionChunk,
    OpenAICompletionRequest,
    OpenAICompletionResponse,
    Usage,
    document_key,
    infill_response,
    openai_finish,
)
from server.refusals import BodyLimit, error_body, install_error_handlers
from server.service import CompletionService, Slot

log = logging.getLogger(__name__)


def _refusal(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


#: One server-sent event (OpenAPI 3.1: the stream's schema describes each event): a JSON chunk, or `[DONE]`.
SSE_EVENT = {"type": "object", "required": ["data"], "properties": {"data": {"type": "string"}}}
#: What the completion routes answer besides 200, for the OpenAPI document (FastAPI would list 422).
REFUSALS: dict[int | str, dict[str, Any]] = {
    200: {"description": "the completion, or with `stream: true` a `text/event-stream` of `data:` events",
          "content": {"text/event-stream": {"schema": SSE_EVENT}}},
    400: _refusal("invalid JSON or UTF-8, or a bad field (`param` names it)"),
    401: _refusal("missing or wrong API key (only when the server runs with --api-key)"),
    409: _refusal("superseded: a newer request for the same `document` from this client arrived while it ran"),
    413: _refusal("the input is over --max-input-chars, or the body over the byte limit"),
    503: _refusal("the model is loading, or --max-pending requests are already running (see Retry-After)"),
}  # fmt: skip


def create_app(service: CompletionService, *, api_key: str | None = None, cors_origins: Iterable[str] = ()) -> FastAPI:
    """The HTTP app. `cors_origins` lets browser pages from those origins call it (none by default)."""
    max_body = service.limits.max_body_bytes
    app = FastAPI(title="codegemma-fim", version=VERSION, docs_url="/docs", redoc_url=None)
    app.state.service = service
    install_error_handlers(app, max_body)
    app.add_middleware(BodyLimit, max_bytes=max_body)
    if cors_origins := list(cors_origins):
        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "content-type"])  # fmt: skip

    def openapi() -> dict[str, Any]:
        """FastAPI's document without the 422 it adds to every route: validation errors are answered 400."""
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            for operations in schema["paths"].values():
                for operation in operations.values():
                    operation["responses"].pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    async def require_key(request: Request) -> None:
        if api_key is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), api_key.encode()):
            raise ServerError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'")

    guarded = [Depends(require_key)]

    @app.get("/health", response_model=Health, responses={503: {"model": Health, "description": "loading or failed"}})
    async def health() -> JSONResponse:
        await service.check_upstream()
        body = Health(
            status=service.status,  # type: ignore[arg-type]
            model=service.model_name,
            fim_format=service.fim_format,
            device="cpu",
            dtype=service.dtype,
            error=service.error or service.upstream_error,
            peak_rss_mb=peak_rss_mb(),
            prompt_cache=service.prompt_cache_stats(),
            context_budget=service.context_budget(),
            pending=service.pending,
        )
        return JSONResponse(body.model_dump(), status_code=200 if service.status == "ok" else 503)

    @app.get("/v1/models", dependencies=guarded, responses={401: REFUSALS[401]})
    async def models() -> ModelList:
        names = [service.model_name] if service.model_name else []
        return ModelList(data=[ModelCard(id=n) for n in names])

    @app.post("/v1/completions", dependencies=guarded, response_model=OpenAICompletionResponse, responses=REFUSALS)
    async def completions(body: OpenAICompletionRequest, request: Request) -> Any:
        if body.stream and body.n > 1:
            raise ServerError(400, "n > 1 cannot be streamed; ask for n = 1 or stream = false", param="n")
        model = service.model_name or "unknown"
        fields = body.input_fields
        client = request.client.host if request.client else None
        document = document_key(client, body.document)
        if body.stream:
            req = body.to_request(service.limits.default_max_tokens, client=client)
            slot = service.admit(req, fields, document)  # a place among --max-pending before a stream's 200
            return _sse(_openai_chunks(service, req, slot, model), slot, done="[DONE]")
        choices, prompt_tokens, completion_tokens = [], 0, 0
        request_id = new_request_id()
        for i in range(body.n):
            req = body.to_request(service.limits.default_max_tokens, seed_offset=i, client=client)
            done = await service.complete(req, request.is_disconnected, fields, document)
            _log_done(req, done)
            choices.append(OpenAIChoice(text=done.text, index=i, finish_reason=openai_finish(done)))
            prompt_tokens = done.timings.prompt_tokens
            completion_tokens += done.timings.generated_tokens
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                      total_tokens=prompt_tokens + completion_tokens)  # fmt: skip
        return OpenAICompletionResponse(id=request_id, model=model, choices=choices, usage=usage)

    @app.post("/infill", dependencies=guarded, response_model=dict[str, Any], responses=REFUSALS)
    async def infill(body: InfillRequest, request: Request) -> Any:
        client = request.client.host if request.client else None
        req = body.to_request(service.limits.default_max_tokens, client=client)
        model = service.model_name or "unknown"
        document = document_key(client, body.document)
        if body.stream:
            slot = service.admit(req, body.input_fields, document)
            return _sse(_infill_chunks(service, req, slot, model, body.response_fields), slot)
        done = await service.complete(req, request.is_disconnected, body.input_fields, document)
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


class _SlotStream(StreamingResponse):
    """A stream that gives its `--max-pending` place back when the response ends, however it ends.

    A client that hangs up before the first chunk leaves the body generator unstarted, so its own
    cleanup never runs; closing it here also cancels a generation still running for nobody.
    """

    def __init__(self, content: AsyncIterator[str], slot: Slot) -> None:
        super().__init__(content, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        self.slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[union-attr]
            self.slot.release()


def _sse(chunks: AsyncIterator[dict[str, Any]], slot: Slot, *, done: str | None = None) -> StreamingResponse:
    """Server-sent events; a failure after the 200 is sent ends the stream with an `error` event (then `done`)."""

    async def encode() -> AsyncIterator[str]:
        try:
            async with aclosing(chunks):  # closed at once when the client leaves: generation stops
                async for chunk in chunks:
                    yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
        except ServerError as exc:  # superseded, or the upstream failed: the message says it all
            log.info("stream ended with %d: %s", exc.status, exc.message)
            yield f"data: {error_body(exc.status, exc.message, exc.param).model_dump_json()}\n\n"
        except Exception as exc:
            log.exception("stream failed after it started")
            yield f"data: {error_body(500, f'the completion failed ({type(exc).__name__})').model_dump_json()}\n\n"
        if done is not None:
            yield f"data: {done}\n\n"

    return _SlotStream(encode(), slot)


async def _openai_chunks(service: CompletionService, req: CompletionRequest, slot: Slot,
                         model: str) -> AsyncIterator[Any]:  # fmt: skip
    created = int(time.time())

    def chunk(text: str, finish: Literal["stop", "length"] | None) -> dict[str, Any]:
        choice = OpenAIChoice(text=text, index=0, finish_reason=finish)
        return OpenAICompletionChunk(id=req.request_id, created=created, model=model, choices=[choice]).model_dump()

    async with aclosing(service.stream(req, slot)) as items:
        async for item in items:
            if isinstance(item, Completion):
                _log_done(req, item)
                yield chunk("", openai_finish(item))
            elif item:
                yield chunk(item, None)


async def _infill_chunks(
    service: CompletionService, req: CompletionRequest, slot: Slot, model: str, fields: list[str] | None
) -> AsyncIterator[Any]:
    async with aclosing(service.stream(req, slot)) as items:
        async for item in items:
            if isinstance(item, Completion):
                _log_done(req, item)
                final = infill_response(item, model, fields)
                final["content"] = ""  # already streamed piece by piece, as llama.cpp does
                yield final
            elif item:
                yield InfillChunk(content=item).model_dump()
