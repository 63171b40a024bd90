"""Request bodies the remote backends send: llama.cpp, OpenAI-compatible servers, Ollama and ours.

One pydantic model per body, built from a `CompletionRequest` by its `of`
classmethod; `json_body()` is the JSON that goes out. A field left None is
not sent (llama.cpp takes no `seed: null`), so which fields are optional is
written once, here, not as `if` statements in each backend. The answers and
stream chunks that come back are read leniently in `engine.remote`: peers
add fields from release to release. Our own server's answers are models in
`server.protocol`, which the engine does not import.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from engine.backend import CompletionRequest


class Body(BaseModel):
    """A request body; every field is named here, and None means "leave it out"."""

    model_config = ConfigDict(extra="forbid")

    def json_body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


# --- llama.cpp (and our server's /infill) ---------------------------------------


class LlamaCppGeneration(Body):
    """How llama.cpp is to generate: the fields `/infill` and `/completion` share."""

    n_predict: int
    temperature: float
    top_p: float
    top_k: int
    stop: list[str]
    stream: bool
    cache_prompt: bool = True
    seed: int | None = None
    #: Once a newline is out, stop after this many milliseconds.
    t_max_predict_ms: float | None = None

    @staticmethod
    def fields(request: CompletionRequest, stream: bool) -> dict[str, Any]:
        return {
            "n_predict": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "top_k": request.top_k,
            "stop": list(request.stop),
            "stream": stream,
            "seed": request.seed,
            "t_max_predict_ms": request.time_limit_ms or None,
        }


class InputExtra(Body):
    """One context file of `/infill`'s `input_extra`."""

    filename: str
    text: str


class LlamaCppInfill(LlamaCppGeneration):
    """llama.cpp's `POST /infill`; `raw`, `path`, `language` and `document` are our server's extensions (not sent to llama.cpp)."""

    input_prefix: str
    input_suffix: str
    input_extra: list[InputExtra]
    #: The cursor line typed so far; we send it inside `input_prefix`.
    prompt: str = ""
    n_indent: int = 0
    raw: bool | None = None
    path: str | None = None
    language: str | None = None
    document: str | None = None

    @classmethod
    def of(cls, request: CompletionRequest, stream: bool, **extensions: Any) -> LlamaCppInfill:
        return cls(
            input_prefix=request.prefix,
            input_suffix=request.suffix,
            input_extra=[InputExtra(filename=c.path, text=c.content) for c in request.context],
            n_indent=request.n_indent,
            **cls.fields(request, stream),
            **extensions,
        )


class LlamaCppCompletion(LlamaCppGeneration):
    """llama.cpp's native `POST /completion`: the prompt as it is, no FIM template applied."""

    prompt: str

    @classmethod
    def of(cls, request: CompletionRequest, stream: bool) -> LlamaCppCompletion:
        return cls(prompt=request.prefix, **cls.fields(request, stream))


# --- OpenAI legacy completions ----------------------------------------------------


class StreamOptions(Body):
    include_usage: bool = True


class OpenAICompletion(Body):
    """`POST /v1/completions`; without `suffix` the server applies no FIM template (a raw prompt)."""

    model: str | None = None
    prompt: str
    suffix: str | None = None
    max_tokens: int
    temperature: float
    top_p: float
    n: int = 1
    stream: bool
    stop: list[str] | None = None
    seed: int | None = None
    #: Asked for when streaming, so the last chunk carries the token counts.
    stream_options: StreamOptions | None = None

    @classmethod
    def of(cls, request: CompletionRequest, stream: bool, model: str | None, *, fim: bool = True) -> OpenAICompletion:
        return cls(
            model=model or None,
            prompt=request.prefix,
            suffix=request.suffix if fim else None,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            stream=stream,
            stop=list(request.stop) or None,
            seed=request.seed,
            stream_options=StreamOptions() if stream else None,
        )


# --- Ollama ---------------------------------------------------------------------------


class OllamaOptions(Body):
    num_predict: int
    temperature: float
    top_p: float
    top_k: int | None = None
    seed: int | None = None
    stop: list[str] | None = None


class OllamaGenerate(Body):
    """Ollama's `POST /api/generate` with `suffix`; `raw` False: its model template makes the FIM prompt."""

    model: str
    prompt: str
    suffix: str
    raw: bool = False
    stream: bool
    options: OllamaOptions

    @classmethod
    def of(cls, request: CompletionRequest, stream: bool, model: str) -> OllamaGenerate:
        options = OllamaOptions(
            num_predict=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            top_k=request.top_k or None,
            seed=request.seed,
            stop=list(request.stop) or None,
        )
        return cls(model=model, prompt=request.prefix, suffix=request.suffix, stream=stream, options=options)


# --- vocabulary probe -------------------------------------------------------------------


class Tokenize(Body):
    """`POST /tokenize`: llama.cpp reads `content`, vLLM and SGLang `prompt`; both are sent."""

    content: str
    prompt: str
    add_special_tokens: bool = False
    model: str | None = None
