"""The in-process backend: a loaded model behind the `Backend` interface."""

from __future__ import annotations

import logging
from typing import Any

from engine.auto_budget import AutoBudget
from engine.backend import CancelToken, Completion, CompletionRequest, TextCallback, Timings
from engine.batching import DEFAULT_MAX_BATCH, BatchScheduler, Job
from engine.defaults import CONTEXT_TOKENS
from engine.generation import Decoding, Sampling
from engine.loading import LoadedModel
from engine.previous import RecentCompletions
from engine.prompt_cache import DEFAULT_CACHE_REUSE, DEFAULT_PROMPT_CACHE_MB, KeyRotation, PromptCache, crop_cache
from engine.prompting import fitted_prompt, healed_complete, request_filter
from engine.speculation import Drafter, continuation_after_edit
from fim.postprocess import completion_filter

log = logging.getLogger(__name__)


def fitted_prompt_ids(lm: LoadedModel, request: CompletionRequest, context_tokens: int) -> tuple[list[int], bool]:
    """Token ids of the request's prompt after fitting it to the budget, and whether it was cut."""
    prompt, truncated = fitted_prompt(lm.fim_format, request, context_tokens, lm.count_tokens)
    # add_special_tokens puts bos first for the families that want it (Gemma, Llama).
    return lm.tokenizer.encode(prompt, add_special_tokens=True), truncated


def _not_run(request: CompletionRequest, ids: list[int], truncated: bool) -> Completion:
    """The answer of a request that ended before the model read any of it (cancelled, or nothing to do)."""
    return Completion("", "cancelled", "none", Timings(prompt_tokens=len(ids)), truncated=truncated,
                      request_id=request.request_id)  # fmt: skip


class _Warming:
    """The cancel token and prompt-cache holder of a prefill-only request: stopped by its caller or by a newer request."""

    background = True

    def __init__(self, caller: CancelToken | None) -> None:
        self.caller = caller
        self.by_request = CancelToken()

    @property
    def cancelled(self) -> bool:
        return self.by_request.cancelled or (self.caller is not None and self.caller.cancelled)

    def cancel(self) -> None:
        self.by_request.cancel()


class _Asking:
    """The prompt-cache holder of a real request: it gives its entry up only by finishing or being cancelled."""

    background = False

    def __init__(self, caller: CancelToken | None) -> None:
        self.caller = caller

    @property
    def cancelled(self) -> bool:
        return self.caller is not None and self.caller.cancelled

    def cancel(self) -> None:  # never asked: only background holders are
        pass


class LocalBackend:
    """Runs completions on a `LoadedModel`: batched, with a prompt cache per client and speculation.

    Concurrent calls are decoded together by one `BatchScheduler` (up to
    `max_batch` at once); `prompt_cache_mb` bounds the KV caches kept between
    requests (LRU, one per `cache_key`); `speculate` turns on draft tokens from
    the previous completion and the prompt (greedy requests only); `reuse`
    answers a keystroke that types the start of the previous completion with
    the rest of it, without the model; `cache_reuse` (> 0) takes runs of at
    least that many tokens from the prompt cache at shifted positions.

    A request with `max_tokens` 0 only reads its prompt into the key's cache
    (background work that warms the cache before the user asks); a real
    request for the same key cancels it and starts from what it has read.
    """

    def __init__(self, lm: LoadedModel, *, context_tokens: int | AutoBudget = CONTEXT_TOKENS,
                 prompt_cache_mb: float = DEFAULT_PROMPT_CACHE_MB, speculate: bool = True,
                 max_batch: int = DEFAULT_MAX_BATCH, reuse: bool = True,
                 cache_reuse: int = DEFAULT_CACHE_REUSE) -> None:  # fmt: skip
        from transformers import DynamicCache

        self.lm = lm
        #: The prompt budget's speed tracker with `--context-tokens auto`, else None.
        self.auto: AutoBudget | None = None
        self._fixed_tokens = context_tokens if isinstance(context_tokens, int) else 0
        if isinstance(context_tokens, AutoBudget):
            self.use_auto_budget(context_tokens)
        self.speculate = speculate
        self.reuse = reuse
        self.name = f"local:{lm.name}"
        self.scheduler = BatchScheduler(lm.model, max_batch=max_batch)
        rotation = KeyRotation.of(lm.model) if cache_reuse else None
        if cache_reuse and rotation is None:
            log.warning("--cache-reuse is off: %s's position encoding cannot be shifted", lm.name)
        self.prompt_cache = PromptCache(lambda: DynamicCache(config=lm.model.config), int(prompt_cache_mb * 2**20),
                                        reuse_min=cache_reuse, rotation=rotation)  # fmt: skip
        self._previous = RecentCompletions()
        #: Running prefill-only requests by cache key (stopped on close).
        self._warming: dict[str, _Warming] = {}

    def use_auto_budget(self, budget: AutoBudget) -> None:
        """Let `budget` set the prompt budget from now on (at most the model's context)."""
        context = getattr(self.lm.model.config, "max_position_embeddings", 0) or budget.max_tokens
        budget.max_tokens = min(budget.max_tokens, context)
        budget.tokens = min(budget.tokens, budget.max_tokens)
        self.auto = budget

    @property
    def context_tokens(self) -> int:
        """The prompt budget now (with `auto`, what the recent prompt reads allow)."""
        return self.auto.tokens if self.auto is not None else self._fixed_tokens

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
        fmt = self.lm.fim_format
        return healed_complete(fmt, request, self._complete, cancel=cancel, on_text=on_text)

    def _complete(self, request: CompletionRequest, *, cancel: CancelToken | None,
                  on_text: TextCallback | None) -> Completion:  # fmt: skip
        key = request.cache_key or ""
        if self.reuse and (answer := self._previous.answer(key, request, on_text)) is not None:
            return answer
        if request.max_tokens <= 0:
            return self._prefill_only(request, key, cancel)
        ids, truncated = self.prompt_ids(request)
        text_filter = request_filter(self.lm.fim_format, request)
        sampling = Sampling(request.temperature, request.top_p, request.top_k, request.seed)
        drafter = self.drafter(request, key, ids)
        # A prefill-only request holding the key's cache stops and hands over what it has read.
        holder = _Asking(cancel) if key else None
        taken = self.prompt_cache.take(key, ids, holder=holder)
        if taken is None:  # cancelled (superseded) while it waited for the request before it to hand over
            return _not_run(request, ids, truncated)

        def release(used: Any) -> None:
            # Keep the prompt, not the completion: the next request shares the prompt's start.
            self.prompt_cache.checkin(key, ids[: min(used.get_seq_length(), len(ids))], used, holder)

        try:
            filled = min(taken.cached, len(ids) - 1)  # the last prompt token's logits are always computed
            crop_cache(taken.cache, filled)
            state = Decoding(self._decode, prompt_tokens=len(ids), cached_tokens=filled + taken.shifted_tokens,
                             max_tokens=request.max_tokens, stop_ids=self.lm.stop_ids, text_filter=text_filter,
                             sampling=sampling, cancel=cancel, on_text=on_text, time_limit_ms=request.time_limit_ms,
                             drafter=drafter)  # fmt: skip
            result = self.scheduler.run(Job(ids=ids, cache=taken.cache, state=state, release=release, filled=filled,
                                            shifted=taken.shifted))  # fmt: skip
        finally:
            if holder is not None:  # a failed request puts no cache back: the next one need not wait for it
                self.prompt_cache.release(key, holder)
        if result.finish_reason != "cancelled":
            self._previous.remember(key, request, result.text, result.finish_reason)
            if self.auto is not None:
                self.auto.observe(result.prompt_tokens - result.cached_tokens, result.prompt_ms)
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

    def _prefill_only(self, request: CompletionRequest, key: str, cancel: CancelToken | None) -> Completion:
        """Read the prompt into `key`'s cache and generate nothing, as llama.cpp does for `n_predict: 0`."""
        token = self._warming[key] = _Warming(cancel)
        try:
            ids, truncated = self.prompt_ids(request)
            # An older warm-up of the key stops and hands over; a real request reading it makes this one moot.
            taken = self.prompt_cache.take(key, ids, holder=token if key else None)
            if taken is None:
                log.info("%s: prefill only: skipped, a request for its key is reading the prompt", request.request_id)
                return _not_run(request, ids, truncated)
            if taken.cached >= len(ids):  # already read: nothing to do
                self.prompt_cache.checkin(key, ids, taken.cache, token)
                timings = Timings(prompt_tokens=len(ids), cached_tokens=len(ids))
                return Completion("", "length", "limit", timings, truncated=truncated, request_id=request.request_id)
            crop_cache(taken.cache, taken.cached)
            state = Decoding(self._decode, prompt_tokens=len(ids), cached_tokens=taken.cached + taken.shifted_tokens,
                             max_tokens=0, stop_ids=self.lm.stop_ids, cancel=token,  # type: ignore[arg-type]
                             text_filter=completion_filter(stop_words=(), raw=True))  # fmt: skip

            def release(used: Any) -> None:  # whatever was read, even when stopped half way
                self.prompt_cache.checkin(key, ids[: min(used.get_seq_length(), len(ids))], used, token)

            result = self.scheduler.run(Job(ids=ids, cache=taken.cache, state=state, release=release,
                                            filled=taken.cached, shifted=taken.shifted))  # fmt: skip
        finally:
            self.prompt_cache.release(key, token)
            if self._warming.get(key) is token:
                del self._warming[key]
        log.info("%s: prefill only: %d prompt tokens (%d cached) in %.0f ms, %s", request.request_id,
                 result.prompt_tokens, result.cached_tokens, result.prompt_ms, result.finish_reason)  # fmt: skip
        timings = Timings(prompt_tokens=result.prompt_tokens, cached_tokens=result.cached_tokens,
                          prompt_ms=result.prompt_ms)  # fmt: skip
        return Completion("", result.finish_reason, result.stop_type, timings, truncated=truncated,
                          request_id=request.request_id)  # fmt: skip

    def _decode(self, ids: list[int]) -> str:
        return self.lm.tokenizer.decode(ids, skip_special_tokens=False)

    def close(self) -> None:
        for warming in list(self._warming.values()):
            warming.by_request.cancel()
        self.scheduler.close()
        self.prompt_cache.clear()
        self._previous.clear()
