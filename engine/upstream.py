"""Upstream engines: our FIM layer in front of llama.cpp, vLLM, SGLang or LM Studio (issue #14).

Those servers batch, shard and scale, but take a prompt as it is. Here we
build it (the upstream's FIM format, the token budget, the other files),
send it raw, and run what streams back through the same rules as the
in-process engine (`engine.prompting`): the moment the unit at the cursor is
complete the upstream's stream is closed, so it stops generating. Typing
through the previous completion (`engine.previous`) answers without asking
the upstream at all. The HTTP side is `engine.transport`, the one client
every remote backend uses: a cancelled request closes its upstream stream,
a request that never reached the upstream is sent once more, and failures
carry the status a server in front answers (503 down, 504 too slow).

  openai     POST /v1/completions with a raw prompt and `stream: true` (vLLM, SGLang, llama.cpp, LM Studio)
  llama.cpp  POST /completion with a raw prompt and `cache_prompt` (llama.cpp's `llama-server`)
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from engine.backend import CancelToken, Completion, CompletionRequest, TextCallback, Timings
from engine.defaults import CONTEXT_TOKENS
from engine.errors import EngineError
from engine.previous import RecentCompletions
from engine.prompting import fitted_prompt, healed_complete, request_filter
from engine.remote import LlamaCppBackend, OpenAIBackend
from engine.specs import _flag, parse_backend_spec
from engine.transport import READ_TIMEOUT_S, HttpBackend, PeerFailure
from engine.wire import LlamaCppCompletion, OpenAICompletion, Tokenize
from fim.budget import TokenCounter
from fim.errors import FimError
from fim.formats import FAMILIES, FimFormat, detect_family, get_format
from fim.postprocess import CompletionFilter

log = logging.getLogger(__name__)

#: `--engine` kinds besides `local`.
KINDS = ("openai", "llama.cpp")
#: Characters per token of ASCII text, and tokens per other character, when no tokenizer can be loaded. The bundled
#: tokenizer gives 3.11 ASCII characters per token at least (median 4.14) over 186 windows of 2000 characters of this
#: repository's Python, TypeScript and Lua, and at most 1.3 tokens per CJK character in commented code. Counting
#: more tokens than there are keeps the prompt inside the upstream's context; dense punctuation (`x=[1,2];`)
#: has fewer characters per token and is undercounted.
ASCII_PER_TOKEN = 3.0
TOKENS_PER_OTHER = 1.5
#: Seconds a `/health` answer about the upstream is reused, and how long the probe may take.
PROBE_TTL_S = 1.0
PROBE_TIMEOUT_S = 2.0
#: Tokens kept free in the upstream's context besides the completion (the estimate's error, bos).
CONTEXT_MARGIN = 16


# --- the wire: raw prompts -----------------------------------------------------
# The request handed to these is the one we built: its `prefix` is the whole prompt.


class RawLlamaCpp(LlamaCppBackend):
    """llama.cpp's native `POST /completion`; `cache_prompt` keeps the slot's KV for the next keystroke."""

    endpoint = "/completion"

    def build(self, request: CompletionRequest, stream: bool) -> dict[str, Any]:
        return LlamaCppCompletion.of(request, stream).json_body()


class RawOpenAI(OpenAIBackend):
    """`POST /v1/completions` with the prompt as it is: no `suffix`, the server applies no FIM template."""

    def build(self, request: CompletionRequest, stream: bool) -> dict[str, Any]:
        return OpenAICompletion.of(request, stream, self.model, fim=False).json_body()


# --- what the upstream serves ----------------------------------------------------


@dataclass(frozen=True)
class Served:
    """The upstream's model as far as our layer needs it."""

    model: str | None
    fim_format: FimFormat
    count: TokenCounter
    #: How the tokens are counted: a tokenizer's name, or `estimate`.
    counted_by: str
    #: The upstream's context per request, when it says.
    context: int | None


def estimate_tokens(text: str) -> int:
    other = sum(1 for ch in text if ord(ch) > 127)
    return int((len(text) - other) / ASCII_PER_TOKEN + other * TOKENS_PER_OTHER) + 1


def family_from_name(model: str | None) -> str | None:
    """A FIM family named in a model id (`Qwen/Qwen2.5-Coder-7B`, `codegemma-2b.gguf`), if one is."""
    squeezed = "".join(ch for ch in (model or "").lower() if ch.isalnum())
    for name in FAMILIES:
        key = "".join(ch for ch in name.lower() if ch.isalnum())
        if key in squeezed or (name == "starcoder2" and "starcoder" in squeezed):
            return name
    return None


def load_counter(tokenizer: str) -> tuple[TokenCounter, Any]:
    """A token counter from a tokenizer: `bundled`, a directory, a tokenizer.json, or a Hugging Face id."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    try:
        if tokenizer == "bundled":
            from engine.bundled import bundled_model_dir

            tok = AutoTokenizer.from_pretrained(bundled_model_dir())
        elif tokenizer.endswith(".json"):
            tok = PreTrainedTokenizerFast(tokenizer_file=tokenizer)
        else:
            tok = AutoTokenizer.from_pretrained(tokenizer)
    except (OSError, ValueError) as exc:
        raise EngineError(f"cannot load the tokenizer {tokenizer!r}: {exc}") from None
    return (lambda text: len(tok.encode(text, add_special_tokens=False))), tok


# --- the engine ------------------------------------------------------------------


class _UnitStream:
    """The text streamed so far against the request's rules: passes on what is final, and says when to stop."""

    def __init__(self, text_filter: CompletionFilter, caller: CancelToken | None, on_text: TextCallback | None) -> None:
        self.text_filter, self.caller, self.on_text = text_filter, caller, on_text
        self.text, self.shown, self.pieces = "", 0, 0
        self.complete = False
        self.word: str | None = None
        self.first_at: float | None = None

    @property
    def cancelled(self) -> bool:
        """What the transport asks between chunks: stop once the unit is complete or the caller has gone."""
        return self.complete or (self.caller is not None and self.caller.cancelled)

    def take(self, piece: str) -> None:
        if self.first_at is None:
            self.first_at = time.perf_counter()
        self.pieces += 1
        self.text += piece
        verdict = self.text_filter.check(self.text)
        if self.on_text is not None and verdict.stable > self.shown:
            self.on_text(self.text[self.shown : verdict.stable])
            self.shown = verdict.stable
        if verdict.cut is not None:
            self.complete, self.word = True, verdict.word

    def final(self) -> tuple[str, str | None]:
        final, word = self.text_filter.finish(self.text)
        if self.on_text is not None and len(final) > self.shown and final.startswith(self.text[: self.shown]):
            self.on_text(final[self.shown :])
        return final, self.word or word


class UpstreamEngine:
    """A `Backend` whose model runs on another server that takes raw prompts; see the module docstring.

    `fim_format` names the upstream model's format; without it the format is
    read from the model id the upstream publishes, or (llama.cpp) from which
    FIM sentinels its vocabulary holds as single tokens. `tokenizer` counts
    prompt tokens exactly; without it the tokenizer of the model id is used
    when it is on this machine, else `estimate_tokens`. The upstream is first
    asked at the first request (or `/health`), so it may start after us.
    """

    def __init__(self, wire: HttpBackend, *, fim_format: str | None = None, tokenizer: str | None = None,
                 context_tokens: int = CONTEXT_TOKENS, reuse: bool = True) -> None:  # fmt: skip
        if context_tokens <= 0:
            raise EngineError(f"context tokens must be positive, not {context_tokens}")
        try:
            self._forced = get_format(fim_format) if fim_format else None
        except FimError as exc:
            raise EngineError(str(exc)) from None
        self.wire = wire
        self.name = wire.name
        self.context_tokens = context_tokens
        self.reuse = reuse
        self._tokenizer = tokenizer
        if tokenizer:  # a bad path fails at start-up, not at the first request
            self._counter: tuple[TokenCounter, Any] | None = load_counter(tokenizer)
        else:
            self._counter = None
        self._served: Served | None = None
        self._lock = threading.Lock()
        self._previous = RecentCompletions()
        self._probed: tuple[float, str | None] = (0.0, None)

    # --- what the upstream serves --------------------------------------------

    @property
    def fim_format(self) -> FimFormat | None:
        return self._served.fim_format if self._served else self._forced

    def served(self) -> Served:
        """What the upstream serves, asked once (a down upstream raises `PeerFailure` and is asked again later)."""
        with self._lock:
            if self._served is None:
                self._served = self._ask()
                log.info("%s serves %s: FIM format %s, tokens counted by %s, context %s", self.name,
                         self._served.model or "an unnamed model", self._served.fim_format.name,
                         self._served.counted_by, self._served.context or "not published")  # fmt: skip
                if self._served.model and isinstance(self.wire, OpenAIBackend) and not self.wire.model:
                    self.wire.model = self._served.model  # vLLM wants the model named in every request
            return self._served

    def _ask(self) -> Served:
        under = self.wire.base[len(self.wire.url) :] if isinstance(self.wire, OpenAIBackend) else "/v1"
        listing = self.wire.call_json(under + "/models", timeout=PROBE_TIMEOUT_S)
        card = (listing.get("data") or [{}])[0] if isinstance(listing, dict) else {}
        model = getattr(self.wire, "model", None) or card.get("id")
        context = card.get("max_model_len") or (card.get("meta") or {}).get("n_ctx")  # vLLM, llama.cpp
        if isinstance(self.wire, LlamaCppBackend):
            props = self.wire.call_json("/props", timeout=PROBE_TIMEOUT_S)
            context = (props.get("default_generation_settings") or {}).get("n_ctx") or context
        counter, tok = self._counter or self._model_tokenizer(model)
        fmt = self._forced or self._detect(model, tok)
        counted_by = self._tokenizer or (model if tok is not None else "estimate")
        return Served(model, fmt, counter, counted_by, int(context) if context else None)

    def _model_tokenizer(self, model: str | None) -> tuple[TokenCounter, Any]:
        """The model id's own tokenizer if it is on this machine (no download), else the estimate."""
        if model and "/" in model and not model.startswith(("/", ".")):
            try:
                from transformers import AutoTokenizer

                tok = AutoTokenizer.from_pretrained(model, local_files_only=True)
                return (lambda text: len(tok.encode(text, add_special_tokens=False))), tok
            except (OSError, ValueError):
                pass
        return estimate_tokens, None

    def _detect(self, model: str | None, tok: Any) -> FimFormat:
        try:
            if tok is not None:
                return get_format(detect_family(tok.get_vocab()).name)
            named = family_from_name(model)
            if named:
                return get_format(named)
            return get_format(detect_family(self._single_tokens(model)).name)
        except FimError:
            pass
        raise EngineError(f"cannot tell the FIM format of the model at {self.wire.url} ({model or 'unnamed'}); "
                          f"add fim_format=NAME to --engine (one of: {', '.join(FAMILIES)})")  # fmt: skip

    def _single_tokens(self, model: str | None) -> set[str]:
        """The FIM sentinels the upstream's vocabulary holds as one token each, asked of its `/tokenize`.

        llama.cpp reads `content`, vLLM and SGLang `prompt`; a server without the route tells nothing.
        """
        wanted = {token for family in FAMILIES.values() for group in family.detect for token in group}
        found = set()
        for token in sorted(wanted):
            body = Tokenize(content=token, prompt=token, model=model or None).json_body()
            try:
                answer = self.wire.call_json("/tokenize", body, timeout=PROBE_TIMEOUT_S)
            except PeerFailure as exc:
                if exc.status != 502:  # down or slow: not an answer about the vocabulary
                    raise
                return set()
            tokens = answer.get("tokens", []) if isinstance(answer, dict) else []
            if len(tokens) == 1:
                found.add(token)
        return found

    def probe(self) -> str | None:
        """None when the upstream answers, else why not (for `/health`); asked at most once per `PROBE_TTL_S`."""
        at, said = self._probed
        if time.monotonic() - at < PROBE_TTL_S:
            return said
        try:
            self.served()
            said = None
        except EngineError as exc:
            said = f"upstream {self.name}: {exc}"
        self._probed = (time.monotonic(), said)
        return said

    # --- completions ---------------------------------------------------------

    def complete(
        self,
        request: CompletionRequest,
        *,
        cancel: CancelToken | None = None,
        on_text: TextCallback | None = None,
    ) -> Completion:
        fmt = self.fim_format or self.served().fim_format
        return healed_complete(fmt, request, self._complete, cancel=cancel, on_text=on_text)

    def _complete(self, request: CompletionRequest, *, cancel: CancelToken | None,
                  on_text: TextCallback | None) -> Completion:  # fmt: skip
        key = request.cache_key or ""
        if self.reuse and (answer := self._previous.answer(key, request, on_text)) is not None:
            return answer
        served = self.served()
        started = time.perf_counter()
        budget = self.context_tokens
        if served.context:
            budget = min(budget, served.context - request.max_tokens - CONTEXT_MARGIN)
        if budget <= 0:
            raise EngineError(f"max_tokens {request.max_tokens} leaves no room for a prompt in the upstream's "
                              f"context of {served.context} tokens")  # fmt: skip
        prompt, truncated = fitted_prompt(served.fim_format, request, budget, served.count)
        unit = _UnitStream(request_filter(served.fim_format, request), cancel, on_text)
        raw = replace(request, prefix=prompt, suffix="", path=None, context=())
        built = time.perf_counter()
        answer = self.wire.complete(raw, cancel=unit, on_text=unit.take)
        text, word = unit.final()
        if unit.complete:
            finish, stop_type = "stop", "word" if word else "eos"
        elif answer.finish_reason == "cancelled":
            finish, stop_type = "cancelled", "none"
        else:
            finish, stop_type = answer.finish_reason, answer.stop_type
        timings = answer.timings
        if unit.complete or finish == "cancelled":  # the upstream's own counts never came: ours
            ended = time.perf_counter()
            first = unit.first_at or ended
            timings = Timings(prompt_tokens=served.count(prompt), prompt_ms=(first - built) * 1000,
                              generated_tokens=unit.pieces, generate_ms=(ended - first) * 1000)  # fmt: skip
        if finish != "cancelled":
            self._previous.remember(key, request, text, finish)
        log.info("%s: %s: prompt built in %.1f ms, %d tokens generated upstream, %s%s", request.request_id,
                 self.name, (built - started) * 1000, timings.generated_tokens, finish,
                 " (closed the upstream stream at the end of the unit)" if unit.complete else "")  # fmt: skip
        return Completion(text=text, finish_reason=finish, stop_type=stop_type,  # type: ignore[arg-type]
                          timings=timings,
                          stopping_word=word or answer.stopping_word, truncated=truncated or answer.truncated,
                          request_id=request.request_id)  # fmt: skip

    def close(self) -> None:
        self.wire.close()
        self._previous.clear()


# --- choosing one ----------------------------------------------------------------


def upstream_from_spec(spec: str, *, fim_format: str | None = None,
                       context_tokens: int = CONTEXT_TOKENS) -> UpstreamEngine:  # fmt: skip
    """`KIND=URL[,key=value...]` for `codegemma serve --engine`.

    Options: fim_format, tokenizer, model (the served model's name for openai), api_key (the upstream's
    key; also $CODEGEMMA_ENGINE_KEY), timeout (seconds), context_tokens, reuse. `fim_format` and
    `context_tokens` default to the command line's `--fim-format` and `--context-tokens`.
    """
    import os

    kind, url, options = parse_backend_spec(spec)
    if kind not in KINDS:
        raise EngineError(f"--engine {kind}: choose local or one of {', '.join(KINDS)} (KIND=URL)")
    if not url:
        raise EngineError(f"--engine {kind} needs the upstream's URL: --engine {kind}=http://HOST:PORT")
    known = {"fim_format", "tokenizer", "model", "api_key", "timeout", "context_tokens", "reuse"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise EngineError(f"--engine {kind}: unknown option {unknown[0]!r}; known: {', '.join(sorted(known))}")
    api_key = options.get("api_key") or os.environ.get("CODEGEMMA_ENGINE_KEY") or None
    try:
        timeout = float(options.get("timeout", READ_TIMEOUT_S))
        context = int(options.get("context_tokens", context_tokens))
    except ValueError as exc:
        raise EngineError(f"--engine {kind}: timeout and context_tokens must be numbers ({exc})") from None
    if timeout <= 0:
        raise EngineError(f"--engine {kind}: timeout must be positive, not {timeout:g}")
    wire: HttpBackend
    if kind == "llama.cpp":
        wire = RawLlamaCpp(url, api_key=api_key, timeout=timeout)
    else:
        wire = RawOpenAI(url, model=options.get("model"), api_key=api_key, timeout=timeout)
    return UpstreamEngine(wire, fim_format=options.get("fim_format") or fim_format, tokenizer=options.get("tokenizer"),
                          context_tokens=context, reuse=_flag(options.get("reuse", True)))  # fmt: skip


__all__ = ["UpstreamEngine", "RawLlamaCpp", "RawOpenAI", "upstream_from_spec", "PeerFailure", "KINDS"]
