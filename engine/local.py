"""The in-process backend: a loaded model behind the `Backend` interface."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from engine.backend import CancelToken, Completion, CompletionRequest, TextCallback, Timings
from engine.generation import Sampling, generate
from engine.loading import LoadedModel
from engine.prompt_cache import DEFAULT_PROMPT_CACHE_MB, PromptCache
from engine.speculation import Drafter, continuation_after_edit
from fim.budget import fit
from fim.postprocess import completion_filter
from fim.prompt import FimInput, build_prompt
from fim.syntax import language_for

log = logging.getLogger(__name__)

#: Default token budget for prefix + suffix + context files.
DEFAULT_CONTEXT_TOKENS = 1024


def request_language(request: CompletionRequest) -> str | None:
    """The grammar for the request: its language id if we know it, else its path's extension."""
    return language_for(request.language) or language_for(request.path)


def fitted_prompt_ids(lm: LoadedModel, request: CompletionRequest, context_tokens: int) -> tuple[list[int], bool]:
    """Token ids of the request's prompt after fitting it to the budget, and whether it was cut."""
    fim = FimInput(prefix=request.prefix, suffix=request.suffix, path=request.path, context=request.context)
    fitted = fit(fim, context_tokens, lm.count_tokens, language=request_language(request))
    prompt = build_prompt(lm.fim_format, fitted.fim)
    # add_special_tokens puts bos first for the families that want it (Gemma, Llama).
    return lm.tokenizer.encode(prompt, add_special_tokens=True), fitted.truncated


@dataclass(frozen=True)
class _Previous:
    """The last completion for a cache key: where it was asked and what came back."""

    prefix: str
    suffix: str
    text: str


class LocalBackend:
    """Runs completions on a `LoadedModel`, one at a time, with a prompt cache per client and speculation.

    `prompt_cache_mb` bounds the KV caches kept between requests (LRU, one per
    `cache_key`); `speculate` turns draft tokens from the previous completion
    and the prompt on (greedy requests only).
    """

    def __init__(self, lm: LoadedModel, *, context_tokens: int = DEFAULT_CONTEXT_TOKENS,
                 prompt_cache_mb: float = DEFAULT_PROMPT_CACHE_MB, speculate: bool = True) -> None:  # fmt: skip
        from transformers import DynamicCache

        self.lm = lm
        self.context_tokens = context_tokens
        self.speculate = speculate
        self.name = f"local:{lm.name}"
        self._lock = threading.Lock()
        self.prompt_cache = PromptCache(lambda: DynamicCache(config=lm.model.config), int(prompt_cache_mb * 2**20))
        self._previous: dict[str, _Previous] = {}

    def prompt_ids(self, request: CompletionRequest) -> tuple[list[int], bool]:
        return fitted_prompt_ids(self.lm, request, self.context_tokens)

    def drafter(self, request: CompletionRequest, key: str, ids: list[int]) -> Drafter | None:
        """Draft sources for `request`: what the key's previous completion says comes next, and the prompt."""
        if not self.speculate:
            return None
        previous = self._previous.get(key)
        continuation = ""
        if previous is not None:
            continuation = continuation_after_edit(previous.prefix, previous.suffix, previous.text,
                                                   request.prefix, request.suffix)  # fmt: skip
        return Drafter(continuation=self.lm.encode(continuation) if continuation else [], sources=(ids,))

    def complete(
        self,
        request: CompletionRequest,
        *,
        cancel: CancelToken | None = None,
        on_text: TextCallback | None = None,
    ) -> Completion:
        ids, truncated = self.prompt_ids(request)
        key = request.cache_key or ""
        stops = (*self.lm.fim_format.family.stop_strings, *request.stop)
        text_filter = completion_filter(
            stop_words=stops, prefix=request.prefix, suffix=request.suffix, raw=request.raw, n_indent=request.n_indent,
            language=request_language(request))
        sampling = Sampling(request.temperature, request.top_p, request.top_k, request.seed)
        drafter = self.drafter(request, key, ids)
        while not self._lock.acquire(timeout=0.05):
            if cancel is not None and cancel.cancelled:
                return Completion("", "cancelled", "none", request_id=request.request_id, truncated=truncated)
        try:
            cache, reused = self.prompt_cache.checkout(key, ids)
            result = generate(
                self.lm.model,
                self._decode,
                ids,
                cache=cache,
                cached_tokens=reused,
                max_tokens=request.max_tokens,
                stop_ids=self.lm.stop_ids,
                text_filter=text_filter,
                sampling=sampling,
                cancel=cancel,
                on_text=on_text,
                time_limit_ms=request.time_limit_ms,
                drafter=drafter,
            )
            # Keep the prompt, not the completion: the next request shares the prompt's start.
            kept = min(cache.get_seq_length(), len(ids))
            self.prompt_cache.checkin(key, ids[:kept], cache)
        finally:
            self._lock.release()
        if result.finish_reason != "cancelled":
            self._previous[key] = _Previous(request.prefix, request.suffix, result.text)
        timings = Timings(
            prompt_tokens=result.prompt_tokens,
            cached_tokens=result.cached_tokens,
            prompt_ms=result.prompt_ms,
            generated_tokens=result.generated_tokens,
            generate_ms=result.generate_ms,
        )
        log.info(
            "%s: %d prompt tokens (%d cached) in %.0f ms, %d generated in %.0f ms (%d passes, %d/%d draft), %s",
            request.request_id, timings.prompt_tokens, timings.cached_tokens, timings.prompt_ms,
            timings.generated_tokens, timings.generate_ms, result.forward_passes, result.draft_accepted,
            result.draft_proposed, result.finish_reason,
        )  # fmt: skip
        return Completion(
            text=result.text,
            finish_reason=result.finish_reason,
            stop_type=result.stop_type,
            timings=timings,
            stopping_word=result.stopping_word,
            truncated=truncated,
            request_id=request.request_id,
        )

    def _decode(self, ids: list[int]) -> str:
        return self.lm.tokenizer.decode(ids, skip_special_tokens=False)

    def close(self) -> None:
        self.prompt_cache.clear()
        self._previous.clear()
