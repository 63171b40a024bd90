"""Wire types of the HTTP server: OpenAI legacy completions and llama.cpp's `/infill`.

Requests ignore fields they do not know (clients send many), validate the
ones they use, and convert themselves into the wire-neutral
`CompletionRequest`; responses and stream chunks are models too, built from
a `Completion`. The bodies our remote backends send are `engine.wire` models
(the engine does not import the server); `tests/engine/test_wire.py` checks
that this server reads them.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from engine.backend import Completion, CompletionRequest
from engine.defaults import MAX_TOKENS_LIMIT
from fim.prompt import ContextFile


class Lenient(BaseModel):
    # JSON has no NaN or Infinity, but Python's parser accepts them; no field here means either. Strict: a
    # field is the JSON type the OpenAPI document says (`raw: 0` or `"temperature": "1"` is a 400, not converted).
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, strict=True)


def _stop_tuple(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    return tuple(s for s in value if s)


def _whole_characters(value: str) -> str:
    """Refuse a lone UTF-16 surrogate (JSON `"\\ud800"`): it is no character, and the tokenizer cannot encode it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"contains a lone surrogate (U+{ord(value[exc.start]):04X} at character {exc.start}), which is not text; "
            "send whole characters (a surrogate pair, or the character itself)"
        ) from None
    return value


#: A string of whole Unicode characters; every string a request carries is one.
Text = Annotated[str, AfterValidator(_whole_characters)]
#: A language id (`python`, `typescript`: an editor's, or a file extension) for the syntax-aware rules when
#: the request has no path to tell it by; an id we have no grammar for is taken and simply not used.
Language = Annotated[Text, Field(max_length=64)]
#: A JSON integer: `1.0` is one (JSON Schema says so), `"1"`, `true` and `1.5` are not.
_WHOLE_FLOAT = BeforeValidator(lambda v: int(v) if isinstance(v, float) and v.is_integer() else v)
Integer = Annotated[int, _WHOLE_FLOAT]


def bounded(ge: int | None = None, le: int | None = None) -> Any:
    """An `Integer` between `ge` and `le`, stated in the OpenAPI document as `minimum`/`maximum`.

    The bounds go on the int before the float conversion wraps it: put after it
    (`Annotated[Integer, Field(ge=...)]`), pydantic still enforces them but
    writes them into the document as `ge`/`le`, which JSON Schema readers ignore.
    """
    return Annotated[int, Field(ge=ge, le=le), _WHOLE_FLOAT]


def _only_false(value: bool) -> bool:
    if value:
        raise ValueError(
            "echo (the prompt repeated before the completion) is not supported; leave it out or send false"
        )
    return value


Temperature = Annotated[float, Field(ge=0.0, le=2.0)]
TopP = Annotated[float, Field(gt=0.0, le=1.0)]
#: What `torch.Generator.manual_seed` accepts: any signed or unsigned 64-bit integer.
Seed = bounded(-(2**63), 2**64 - 1)


def _offset_seed(seed: int | None, offset: int) -> int | None:
    """The seed of the `offset`-th sample: consecutive, wrapping around so the largest seed still works."""
    return None if seed is None else (seed + offset) % 2**64 if offset else seed


#: The `document` extension of both completion routes: the editor document the request completes (a URI or any
#: stable id). A newer request for the same document from the same client supersedes this one while it runs
#: (answered 409), and the prompt cache is the document's.
DocumentId = Annotated[Text, Field(min_length=1, max_length=4096)]


def document_key(client: str | None, document: str | None) -> str | None:
    """The key of `client`'s `document`, or None: requests under one key supersede each other (`server.service`)."""
    return f"{client}#doc:{document}" if client is not None and document else None


# --- OpenAI legacy completions -------------------------------------------------


class OpenAICompletionRequest(Lenient):
    #: The request field each part of the prompt came from, for errors that name it.
    input_fields: ClassVar[dict[str, str]] = {"prefix": "prompt", "suffix": "suffix", "path": "path"}

    model: Text | None = None
    #: The text before the cursor. A list is accepted when it holds exactly one string.
    prompt: Text | Annotated[list[Text], Field(min_length=1, max_length=1)]
    suffix: Text | None = None
    #: 0 reads the prompt into the prompt cache and generates nothing (warming it for the next request).
    max_tokens: bounded(0, MAX_TOKENS_LIMIT) | None = None
    temperature: Temperature = 0.0
    top_p: TopP = 1.0
    n: bounded(1, 8) = 1
    stop: Text | Annotated[list[Text], Field(max_length=16)] | None = None
    stream: bool = False
    seed: Seed | None = None
    logprobs: None = Field(default=None, description="not supported; must be absent or null")
    echo: Annotated[bool, AfterValidator(_only_false), Field(json_schema_extra={"const": False})] = False
    #: Extensions: path of the file (shown to the model), its language, our post-processing switch, the editor document.
    path: Text | None = None
    language: Language | None = None
    raw: bool = False
    document: DocumentId | None = None

    def to_request(self, default_max_tokens: int, seed_offset: int = 0, client: str | None = None) -> CompletionRequest:
        prompt = self.prompt if isinstance(self.prompt, str) else self.prompt[0]
        return CompletionRequest(
            prefix=prompt,
            suffix=self.suffix or "",
            path=self.path,
            language=self.language,
            max_tokens=default_max_tokens if self.max_tokens is None else self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=_offset_seed(self.seed, seed_offset),
            stop=_stop_tuple(self.stop),
            raw=self.raw,
            cache_key=document_key(client, self.document),
        )


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class OpenAIChoice(BaseModel):
    text: str
    index: int
    logprobs: None = None
    finish_reason: Literal["stop", "length"] | None


class OpenAICompletionChunk(BaseModel):
    """One event of a streamed completion (`choices` holds one piece of text, or the finish reason)."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[OpenAIChoice]


class OpenAICompletionResponse(OpenAICompletionChunk):
    usage: Usage | None = None


def openai_finish(completion: Completion) -> Literal["stop", "length"]:
    return "length" if completion.finish_reason == "length" else "stop"


# --- llama.cpp /infill ---------------------------------------------------------


class ExtraChunk(Lenient):
    filename: Text = ""
    text: Text = ""


class InfillRequest(Lenient):
    input_fields: ClassVar[dict[str, str]] = {"prefix": "input_prefix", "suffix": "input_suffix", "path": "path",
                                              "context": "input_extra"}  # fmt: skip

    input_prefix: Text = ""
    input_suffix: Text = ""
    input_extra: list[ExtraChunk] = Field(default_factory=list, max_length=64)
    #: Text of the cursor line typed so far (llama.vim sends it apart from the prefix).
    prompt: Text = ""
    #: -1: the server's default; 0: read the prompt into the cache only (llama.vim's background warming).
    n_predict: bounded(-1, MAX_TOKENS_LIMIT) = -1
    stop: list[Text] = Field(default_factory=list, max_length=16)
    n_indent: bounded(0, 1000) = 0
    temperature: Temperature = 0.0
    top_k: bounded(0) = 0
    top_p: TopP = 1.0
    seed: Seed | None = None
    stream: bool = False
    cache_prompt: bool = True
    t_max_predict_ms: Annotated[float, Field(ge=0)] = 0
    id_slot: Integer = -1
    response_fields: list[Text] | None = None
    #: Extensions: path of the file, its language, our post-processing switch, and the editor document.
    path: Text | None = None
    language: Language | None = None
    raw: bool = False
    document: DocumentId | None = None

    @field_validator("seed")
    @classmethod
    def _seed(cls, value: int | None) -> int | None:
        # llama.cpp uses -1 (0xFFFFFFFF) for "random".
        return None if value is None or value < 0 or value == 0xFFFFFFFF else value

    def to_request(self, default_max_tokens: int, client: str | None = None) -> CompletionRequest:
        return CompletionRequest(
            prefix=self.input_prefix + self.prompt,
            suffix=self.input_suffix,
            path=self.path,
            language=self.language,
            context=tuple(ContextFile(c.filename, c.text) for c in self.input_extra if c.text),
            max_tokens=self.n_predict if self.n_predict >= 0 else default_max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            seed=self.seed,
            stop=tuple(s for s in self.stop if s),
            raw=self.raw,
            n_indent=self.n_indent,
            time_limit_ms=self.t_max_predict_ms or None,
            cache_key=self.cache_key(client),
        )

    def cache_key(self, client: str | None) -> str | None:
        """Whose prompt cache this request uses: the client's slot, else its document, its file, or the client."""
        if client is None:
            return None
        if self.id_slot >= 0:
            return f"{client}#slot{self.id_slot}"
        if self.document:
            return document_key(client, self.document)
        return f"{client}:{self.path}" if self.path else client


class InfillChunk(BaseModel):
    """One piece of a streamed `/infill` answer, as llama.cpp sends it."""

    index: int = 0
    content: str
    stop: bool = False
    id_slot: int = 0


class InfillTimings(BaseModel):
    """llama.cpp's `timings`: `prompt_n` counts the prompt tokens evaluated (not taken from the cache)."""

    prompt_n: int
    prompt_ms: float
    prompt_per_token_ms: float
    prompt_per_second: float
    predicted_n: int
    predicted_ms: float
    predicted_per_token_ms: float
    predicted_per_second: float

    @classmethod
    def of(cls, completion: Completion) -> InfillTimings:
        t = completion.timings
        evaluated = t.prompt_tokens - t.cached_tokens
        return cls(
            prompt_n=evaluated,
            prompt_ms=t.prompt_ms,
            prompt_per_token_ms=t.prompt_ms / evaluated if evaluated else 0.0,
            prompt_per_second=evaluated / (t.prompt_ms / 1000) if t.prompt_ms else 0.0,
            predicted_n=t.generated_tokens,
            predicted_ms=t.generate_ms,
            predicted_per_token_ms=t.generate_ms / t.generated_tokens if t.generated_tokens else 0.0,
            predicted_per_second=t.generated_tokens / (t.generate_ms / 1000) if t.generate_ms else 0.0,
        )


class InfillResponse(InfillChunk):
    """llama.cpp's final `/infill` answer (also the last chunk of a stream, its `content` then empty)."""

    stop: bool = True
    model: str
    tokens_predicted: int
    tokens_evaluated: int
    tokens_cached: int
    truncated: bool
    stop_type: str
    stopping_word: str
    timings: InfillTimings

    @classmethod
    def of(cls, completion: Completion, model: str) -> InfillResponse:
        t = completion.timings
        return cls(
            content=completion.text,
            model=model,
            tokens_predicted=t.generated_tokens,
            tokens_evaluated=t.prompt_tokens,
            tokens_cached=t.cached_tokens,
            truncated=completion.truncated,
            stop_type=completion.stop_type,
            stopping_word=completion.stopping_word or "",
            timings=InfillTimings.of(completion),
        )


def infill_response(completion: Completion, model: str, fields: list[str] | None = None) -> dict[str, Any]:
    """The final `/infill` answer as JSON, only `fields` of it when the client asked (`response_fields`)."""
    return InfillResponse.of(completion, model).model_dump(include=set(fields) if fields else None)


# --- health and models ---------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok", "loading", "error"]
    model: str | None = None
    fim_format: str | None = None
    device: str | None = None
    dtype: str | None = None
    error: str | None = None
    #: Peak resident memory of the server process so far (MiB).
    peak_rss_mb: float | None = None
    #: KV caches kept between requests: entries, MiB held and the `--prompt-cache-mb` bound.
    prompt_cache: dict[str, float] | None = None
    #: With `--context-tokens auto`: the prompt budget now, the measured prompt speed and the latency target.
    context_budget: dict[str, Any] | None = None
    #: Requests running or waiting now (at most `--max-pending`); 0 once clients are gone.
    pending: int = 0


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "codegemma-fim"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: int


class ErrorResponse(BaseModel):
    error: ErrorBody
