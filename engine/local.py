"""The in-process backend: a loaded model behind the `Backend` interface."""

from __future__ import annotations

import logging
import threading
from typing import Any

from engine.backend import CancelToken, Completion, CompletionRequest, TextCallback, Timings
from engine.generation import Sampling, crop_cache, generate
from engine.loading import LoadedModel
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


def common_prefix_length(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class LocalBackend:
    """Runs completions on a `LoadedModel`, one at a time, reusing the last prompt's KV cache."""

    def __init__(self, lm: LoadedModel, *, context_tokens: int = DEFAULT_CONTEXT_TOKENS) -> None:
        self.lm = lm
        self.context_tokens = context_tokens
        self.name = f"local:{lm.name}"
        self._lock = threading.Lock()
        self._cache: Any = None
        self._cache_ids: list[int] = []

    def prompt_ids(self, request: CompletionRequest) -> tuple[list[int], bool]:
        """Token ids of the request's prompt after fitting it to the budget, and whether it was cut."""
        fim = FimInput(prefix=request.prefix, suffix=request.suffix, path=request.path, context=request.context)
        fitted = fit(fim, self.context_tokens, self.lm.count_tokens, language=request_language(request))
        prompt = build_prompt(self.lm.fim_format, fitted.fim)
        # add_special_tokens puts bos first for the families that want it (Gemma, Llama).
        return self.lm.tokenizer.encode(prompt, add_special_tokens=True), fitted.truncated

    def complete(
        self,
        request: CompletionRequest,
        *,
        cancel: CancelToken | None = None,
        on_text: TextCallback | None = None,
    ) -> Completion:
        ids, truncated = self.prompt_ids(request)
        stops = (*self.lm.fim_format.family.stop_strings, *request.stop)
        text_filter = completion_filter(
            stop_words=stops, prefix=request.prefix, suffix=request.suffix, raw=request.raw, n_indent=request.n_indent,
            language=request_language(request))
        sampling = Sampling(request.temperature, request.top_p, request.top_k, request.seed)
        while not self._lock.acquire(timeout=0.05):
            if cancel is not None and cancel.cancelled:
                return Completion("", "cancelled", "none", request_id=request.request_id, truncated=truncated)
        try:
            cache, reused = self._reuse_cache(ids)
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
            )
            # Keep the prompt, not the completion: the next request shares the prompt's start.
            kept = min(cache.get_seq_length(), len(ids))
            crop_cache(cache, kept)
            self._cache_ids = ids[:kept]
        except BaseException:
            self._cache, self._cache_ids = None, []
            raise
        finally:
            self._lock.release()
        timings = Timings(
            prompt_tokens=result.prompt_tokens,
            cached_tokens=result.cached_tokens,
            prompt_ms=result.prompt_ms,
            generated_tokens=result.generated_tokens,
            generate_ms=result.generate_ms,
        )
        log.info(
            "%s: %d prompt tokens (%d cached) in %.0f ms, %d generated in %.0f ms, %s",
            request.request_id, timings.prompt_tokens, timings.cached_tokens, timings.prompt_ms,
            timings.generated_tokens, timings.generate_ms, result.finish_reason,
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

    def _reuse_cache(self, ids: list[int]) -> tuple[Any, int]:
        """The cache cropped to what it shares with `ids`, and how many tokens that is."""
        from transformers import DynamicCache

        if self._cache is None:
            self._cache, self._cache_ids = DynamicCache(config=self.lm.model.config), []
        shared = common_prefix_length(self._cache_ids, ids)
        crop_cache(self._cache, shared)
        return self._cache, shared

    def close(self) -> None:
        self._cache, self._cache_ids = None, []
