"""Backends that ask a completion server over HTTP: ours, llama.cpp, OpenAI-compatible, Ollama.

Each provider is one build/parse pair: `build` turns a `CompletionRequest`
into that server's JSON (an `engine.wire` model), `parse` turns one answer (or one streamed chunk)
back into wire-neutral `Parsed` facts, which `engine.transport` turns into a
`Completion`. Nothing outside these two modules sees provider JSON, so the
language server and the evaluation harness treat a peer exactly like the
in-process engine. `engine.specs.backend_from_spec` (and the `--backend` flags) choose one.
"""

from __future__ import annotations

from typing import Any

from engine.backend import CompletionRequest, Timings
from engine.errors import EngineError
from engine.transport import READ_TIMEOUT_S, HttpBackend, Parsed, finish_from_reason, finish_from_stop_type
from engine.wire import LlamaCppInfill, OllamaGenerate, OpenAICompletion

__all__ = ["LlamaCppBackend", "OurServerBackend", "OpenAIBackend", "OllamaBackend", "HttpBackend"]


# --- llama.cpp /infill and our server ----------------------------------------


class LlamaCppBackend(HttpBackend):
    """llama.cpp's `llama-server` `POST /infill` (the endpoint llama.vim and llama.vscode use)."""

    endpoint = "/infill"
    kind = "llama.cpp"

    def build(self, request: CompletionRequest, stream: bool) -> dict[str, Any]:
        return LlamaCppInfill.of(request, stream).json_body()

    def parse(self, body: dict[str, Any]) -> Parsed:
        done = bool(body.get("stop", False))
        finish, stop_type = finish_from_stop_type(str(body.get("stop_type", "none")))
        timings = None
        if "timings" in body or "tokens_evaluated" in body:
            t = body.get("timings") or {}
            prompt_tokens = int(body.get("tokens_evaluated", 0))
            evaluated = int(t.get("prompt_n", prompt_tokens))
            timings = Timings(
                prompt_tokens=prompt_tokens,
                # llama.cpp's own `tokens_cached` also counts generated tokens; this does not.
                cached_tokens=max(0, prompt_tokens - evaluated),
                prompt_ms=float(t.get("prompt_ms", 0.0)),
                generated_tokens=int(t.get("predicted_n", body.get("tokens_predicted", 0))),
                generate_ms=float(t.get("predicted_ms", 0.0)),
            )
        return Parsed(
            text=str(body.get("content", "")),
            done=done,
            finish_reason=finish,
            stop_type=stop_type,
            stopping_word=body.get("stopping_word") or None,
            truncated=bool(body.get("truncated", False)),
            timings=timings,
        )


class OurServerBackend(LlamaCppBackend):
    """Our own `codegemma serve`: llama.cpp's `/infill` plus the `path`, `language`, `raw` and `document` extensions.

    `document` is the request's `cache_key` (the language server's document URI): the server keeps that
    document's prompt cache and lets a newer request for it supersede the one still running.
    """

    kind = "http"

    def build(self, request: CompletionRequest, stream: bool) -> dict[str, Any]:
        extensions = {"raw": request.raw, "path": request.path or None, "language": request.language or None,
                      "document": request.cache_key or None}  # fmt: skip
        return LlamaCppInfill.of(request, stream, **extensions).json_body()


# --- OpenAI legacy completions -------------------------------------------------


class OpenAIBackend(HttpBackend):
    """Any OpenAI-compatible `POST /v1/completions` that takes `suffix` (vLLM, llama.cpp, ours, ...).

    The server builds the FIM prompt from `prompt` and `suffix`; context files
    and the path have no field here and are not sent.
    """

    kind = "openai"

    def __init__(self, url: str, model: str | None = None, api_key: str | None = None,
                 *, timeout: float = READ_TIMEOUT_S) -> None:  # fmt: skip
        super().__init__(url, api_key=api_key, timeout=timeout)
        self.model = model
        self.base = self.url if self.url.endswith("/v1") else self.url + "/v1"
        if model:
            self.name += f"#{model}"

    @property
    def target(self) -> str:
        return self.base + "/completions"

    def build(self, request: CompletionRequest, stream: bool) -> dict[str, Any]:
        return OpenAICompletion.of(request, stream, self.model).json_body()

    def parse(self, body: dict[str, Any]) -> Parsed:
        choices = body.get("choices") or []
        choice = choices[0] if choices else {}
        reason = choice.get("finish_reason")
        finish, stop_type = finish_from_reason(reason)
        usage = body.get("usage") or None
        timings = None
        if usage:
            timings = Timings(prompt_tokens=int(usage.get("prompt_tokens", 0)),
                              generated_tokens=int(usage.get("completion_tokens", 0)))  # fmt: skip
        return Parsed(text=str(choice.get("text") or ""), done=reason is not None, finish_reason=finish,
                      stop_type=stop_type, timings=timings)  # fmt: skip


# --- Ollama ------------------------------------------------------------------


class OllamaBackend(HttpBackend):
    """Ollama's `POST /api/generate` with `suffix` (its model template supplies the FIM format)."""

    endpoint = "/api/generate"
    kind = "ollama"
    framing = "ndjson"

    def __init__(self, url: str, model: str, *, timeout: float = READ_TIMEOUT_S) -> None:
        if not model:
            raise EngineError("the ollama backend needs a model name (e.g. --model codegemma:2b-code)")
        super().__init__(url, timeout=timeout)
        self.model = model
        self.name += f"#{model}"

    def build(self, request: CompletionRequest, stream: bool) -> dict[str, Any]:
        return OllamaGenerate.of(request, stream, self.model).json_body()

    def parse(self, body: dict[str, Any]) -> Parsed:
        if "error" in body:
            raise EngineError(f"{self.target}: {body['error']}")
        done = bool(body.get("done", False))
        finish, stop_type = finish_from_reason(body.get("done_reason"))
        timings = None
        if done:
            timings = Timings(
                prompt_tokens=int(body.get("prompt_eval_count", 0)),
                prompt_ms=int(body.get("prompt_eval_duration", 0)) / 1e6,
                generated_tokens=int(body.get("eval_count", 0)),
                generate_ms=int(body.get("eval_duration", 0)) / 1e6,
            )
        return Parsed(text=str(body.get("response", "")), done=done, finish_reason=finish, stop_type=stop_type,
                      timings=timings)  # fmt: skip
