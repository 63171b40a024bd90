"""Backends that ask a completion server over HTTP: ours, llama.cpp, OpenAI-compatible, Ollama.

Each provider is one build/parse pair: `build` turns a `CompletionRequest`
into that server's JSON (an `engine.wire` model), `parse` turns one answer (or one streamed chunk)
back into wire-neutral `Parsed` facts, which `engine.transport` turns into a
`Completion`. Nothing outside these two modules sees provider JSON, so the
language server and the evaluation harness treat a peer exactly like the
in-process engine. `backend_from_spec` (and the `--backend` flags in `cli.options`) choose one.
"""

from __future__ import annotations

from typing import Any

from engine.backend import Backend, CompletionRequest, Timings
from engine.errors import EngineError
from engine.transport import READ_TIMEOUT_S, HttpBackend, Parsed, finish_from_reason, finish_from_stop_type
from engine.wire import LlamaCppInfill, OllamaGenerate, OpenAICompletion

__all__ = ["LlamaCppBackend", "OurServerBackend", "OpenAIBackend", "OllamaBackend", "HttpBackend",
           "backend_from_spec", "parse_backend_spec", "KINDS", "DEFAULT_URLS"]


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
    """Our own `codegemma serve`: llama.cpp's `/infill` plus the `path`, `raw` and `document` extensions.

    `document` is the request's `cache_key` (the language server's document URI): the server keeps that
    document's prompt cache and lets a newer request for it supersede the one still running.
    """

    kind = "http"

    def build(self, request: CompletionRequest, stream: bool) -> dict[str, Any]:
        extensions = {"raw": request.raw, "path": request.path or None, "document": request.cache_key or None}
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


# --- choosing a backend --------------------------------------------------------

#: `--backend` kinds.
KINDS = ("local", "generate", "http", "llama.cpp", "openai", "ollama")
DEFAULT_URLS = {
    "http": "http://127.0.0.1:8012",
    "llama.cpp": "http://127.0.0.1:8080",
    "openai": "http://127.0.0.1:8000",
    "ollama": "http://127.0.0.1:11434",
}


def backend_from_spec(kind: str, url: str | None = None, **options: Any) -> Backend:
    """Build a backend by kind; `options` are the kind's keyword arguments.

    local: model, adapter, fim_format, dtype, context_tokens, prompt_cache_mb, speculate, reuse, cache_reuse;
    generate (the plain-`generate` baseline): model, adapter, fim_format, dtype, context_tokens; http/llama.cpp:
    api_key, timeout; openai: model, api_key, timeout; ollama: model, timeout.
    Options that are None are ignored, so argparse namespaces pass straight through.
    """
    options = {k: v for k, v in options.items() if v is not None}
    if kind in ("local", "generate"):
        if url:
            raise EngineError(f"the {kind} backend runs the model in this process; it takes no URL")
        from engine.defaults import CONTEXT_TOKENS, DTYPE
        from engine.local import DEFAULT_CACHE_REUSE, DEFAULT_PROMPT_CACHE_MB, LocalBackend
        from engine.loading import load_model

        context_tokens = int(options.pop("context_tokens", CONTEXT_TOKENS))
        if context_tokens <= 0:
            raise EngineError(f"context tokens must be positive, not {context_tokens}")
        known = {k: options[k] for k in ("adapter", "fim_format", "dtype") if k in options}
        known.setdefault("dtype", DTYPE)
        if kind == "generate":
            from engine.baseline import PlainGenerateBackend

            # The baseline is float32 unless a type is named, whatever the engine's `auto` picks.
            if known["dtype"] == "auto":
                known["dtype"] = "float32"
            return PlainGenerateBackend(load_model(options.get("model"), **known), context_tokens=context_tokens)
        lm = load_model(options.get("model"), **known)
        return LocalBackend(lm, context_tokens=context_tokens,
                            prompt_cache_mb=float(options.get("prompt_cache_mb", DEFAULT_PROMPT_CACHE_MB)),
                            speculate=_flag(options.get("speculate", True)),
                            reuse=_flag(options.get("reuse", True)),
                            cache_reuse=_cache_reuse(options.get("cache_reuse", DEFAULT_CACHE_REUSE)))  # fmt: skip
    if kind not in DEFAULT_URLS:
        raise EngineError(f"unknown backend {kind!r}; choose one of {', '.join(KINDS)}")
    url = url or DEFAULT_URLS[kind]
    timeout = float(options.get("timeout", READ_TIMEOUT_S))
    if kind == "http":
        return OurServerBackend(url, api_key=options.get("api_key"), timeout=timeout)
    if kind == "llama.cpp":
        return LlamaCppBackend(url, api_key=options.get("api_key"), timeout=timeout)
    if kind == "openai":
        return OpenAIBackend(url, model=options.get("model"), api_key=options.get("api_key"), timeout=timeout)
    return OllamaBackend(url, model=options.get("model", ""), timeout=timeout)


def _cache_reuse(value: Any) -> int:
    """A `cache_reuse` option: the shortest run reused at a shifted position, 0 for off."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise EngineError(f"cache_reuse must be a whole number of tokens, not {value!r}") from None
    if n < 0:
        raise EngineError(f"cache_reuse cannot be negative, not {n}")
    return n


def _flag(value: Any) -> bool:
    """A boolean option that may come as text from a `--compare` spec."""
    if isinstance(value, str):
        if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise EngineError(f"expected true or false, not {value!r}")
        return value.lower() in ("1", "true", "yes", "on")
    return bool(value)


def parse_backend_spec(spec: str) -> tuple[str, str | None, dict[str, str]]:
    """`KIND[=URL][,key=value...]` (as in `--compare ollama=http://h:11434,model=codegemma:2b`)."""
    head, *pairs = spec.split(",")
    kind, _, url = head.partition("=")
    kind = kind.strip()
    if kind not in KINDS:
        raise EngineError(f"unknown backend {kind!r} in {head!r}; choose one of {', '.join(KINDS)}")
    options: dict[str, str] = {}
    for n, pair in enumerate(pairs, start=1):
        key, eq, value = pair.partition("=")
        if not eq or not key.strip():  # the part is not quoted: it may be a key (a secret) without its name
            raise EngineError(f"{head!r}: expected key=value after the URL, got part {n} without a name and '='")
        options[key.strip().replace("-", "_")] = value.strip()
    return kind, url.strip() or None, options
