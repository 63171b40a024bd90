"""The decode loop: prefill, then one token at a time until a stop.

Written by hand rather than with `model.generate` because a completion
server needs control between every two tokens: check cancellation, ask the
post-processing rules whether the unit is complete, stream what is final,
and keep the KV cache for the next request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch

from engine.backend import CancelToken, FinishReason, StopType
from engine.prompt_cache import crop_cache
from engine.speculation import Drafter
from fim.postprocess import CompletionFilter

#: Prompt tokens per forward pass during prefill; between chunks a cancel is noticed.
PREFILL_CHUNK = 256


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass
class Generated:
    text: str
    finish_reason: FinishReason
    stop_type: StopType
    stopping_word: str | None
    prompt_tokens: int
    cached_tokens: int
    generated_tokens: int
    prompt_ms: float
    generate_ms: float
    #: Decode forward passes, and draft tokens proposed / accepted by speculative decoding.
    forward_passes: int = 0
    draft_proposed: int = 0
    draft_accepted: int = 0


class IncrementalDecoder:
    """Text of a growing token list, decoding only the last few tokens per step.

    Decoding the whole list after every token costs O(n) per step; here each
    step decodes a short window that starts a few tokens back (so merges and
    leading spaces come out right) and appends the new characters, holding
    back a partial multi-byte character until its other bytes arrive.
    """

    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self._decode = decode
        self.ids: list[int] = []
        self.text = ""
        self._prefix_offset = 0
        self._read_offset = 0

    def push(self, token: int) -> str:
        """Add a token; return the whole text decoded so far."""
        self.ids.append(token)
        window = self.ids[self._prefix_offset :]
        before = self._decode(self.ids[self._prefix_offset : self._read_offset])
        after = self._decode(window)
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.text += after[len(before) :]
            self._prefix_offset = self._read_offset
            self._read_offset = len(self.ids)
        return self.text


def pick_token(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> int:
    """Choose the next token from one row of logits.

    Any temperature above zero and any `top_p` above zero must leave a valid distribution. Scores are
    shifted so the best is 0 and kept in float64: in float32 a temperature like 1e-320 (or 1e-300 for
    `top_p`) rounds to 0, logits / temperature overflow to inf and softmax gives NaN. Shifted, the best
    token scores 0 / temperature = 0 and the others -inf at worst, so softmax is finite; the most likely
    token always survives the `top_p` cut.
    """
    if sampling.greedy:
        return int(torch.argmax(logits))
    scores = (logits.double() - logits.max().double()) / sampling.temperature
    if sampling.top_k > 0:
        kth = torch.topk(scores, min(sampling.top_k, scores.numel())).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    if sampling.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < sampling.top_p
        keep[0] = True
        sorted_probs = sorted_probs * keep
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))


def prefill(model: Any, ids: list[int], cache: Any, start: int, cancel: CancelToken | None) -> torch.Tensor | None:
    """Run `ids[start:]` through the model on top of `cache` (which holds `ids[:start]`).

    Returns the logits of the last position, or None if cancelled.
    """
    logits = None
    for at in range(start, len(ids), PREFILL_CHUNK):
        if cancel is not None and cancel.cancelled:
            return None
        chunk = torch.tensor([ids[at : at + PREFILL_CHUNK]], dtype=torch.long)
        # Only the last position's logits are used; the output head over every position
        # would be a quarter of the prefill's work for a model with a large vocabulary.
        out = model(input_ids=chunk, past_key_values=cache, use_cache=True, logits_to_keep=1)
        logits = out.logits[0, -1]
    return logits


class Decoding:
    """One completion between forward passes: its tokens and text so far, and why it ended.

    The decode loop (`generate`, or the batch scheduler for several requests
    at once) picks a token from the logits, hands it to `feed`, and stops
    feeding once `feed` says the completion is over.
    """

    def __init__(
        self,
        decode: Callable[[list[int]], str],
        *,
        prompt_tokens: int,
        cached_tokens: int,
        max_tokens: int,
        stop_ids: frozenset[int],
        text_filter: CompletionFilter,
        sampling: Sampling = Sampling(),
        cancel: CancelToken | None = None,
        on_text: Callable[[str], None] | None = None,
        time_limit_ms: float | None = None,
        drafter: Drafter | None = None,
    ) -> None:
        self.started = time.perf_counter()
        self.prompt_done = self.started
        self.prompt_tokens, self.cached_tokens = prompt_tokens, cached_tokens
        self.max_tokens, self.stop_ids, self.text_filter = max_tokens, stop_ids, text_filter
        self.sampling, self.cancel, self.on_text, self.time_limit_ms = sampling, cancel, on_text, time_limit_ms
        self.drafter = drafter if sampling.greedy else None
        self.generator = None
        if not sampling.greedy and sampling.seed is not None:
            self.generator = torch.Generator().manual_seed(sampling.seed)
        self.decoder = IncrementalDecoder(decode)
        self.text, self.shown = "", 0
        self.finish: FinishReason = "length"
        self.stop_type: StopType = "limit"
        self.word: str | None = None
        self.passes = 0

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.cancelled

    def prefilled(self) -> None:
        self.prompt_done = time.perf_counter()

    def pick(self, logits: torch.Tensor) -> int:
        return pick_token(logits, self.sampling, self.generator)

    def feed(self, token: int) -> bool:
        """Take the next token; False once the completion is over (the token may have ended it)."""
        if token in self.stop_ids:
            self.finish, self.stop_type = "stop", "eos"
            return False
        grown = self.decoder.push(token)
        if len(grown) > len(self.text):  # otherwise a multi-byte character is incomplete
            self.text = grown
            verdict = self.text_filter.check(self.text)
            if self.on_text is not None and verdict.stable > self.shown:
                self.on_text(self.text[self.shown : verdict.stable])
                self.shown = verdict.stable
            if verdict.cut is not None:
                # A completed unit counts as a natural end, as eos would.
                self.finish, self.stop_type, self.word = "stop", "word" if verdict.word else "eos", verdict.word
                return False
            if self.time_limit_ms is not None and "\n" in self.text:
                if (time.perf_counter() - self.prompt_done) * 1000 > self.time_limit_ms:
                    self.finish, self.stop_type = "stop", "limit"
                    return False
        return len(self.decoder.ids) < self.max_tokens and not self.cancelled

    def draft(self) -> list[int]:
        """Tokens to check after the last one fed (none without a drafter)."""
        if self.drafter is None:
            return []
        return self.drafter.propose(self.decoder.ids)[: self.max_tokens - len(self.decoder.ids) - 1]

    def result(self) -> Generated:
        """The final text (after the rules' last word) and the timings; call once, when feeding is over."""
        if self.cancelled:
            self.finish, self.stop_type = "cancelled", "none"
        final, final_word = self.text_filter.finish(self.text)
        if self.on_text is not None and len(final) > self.shown and final.startswith(self.text[: self.shown]):
            self.on_text(final[self.shown :])
        done = time.perf_counter()
        return Generated(
            text=final,
            finish_reason=self.finish,
            stop_type=self.stop_type,
            stopping_word=self.word or final_word,
            prompt_tokens=self.prompt_tokens,
            cached_tokens=self.cached_tokens,
            generated_tokens=len(self.decoder.ids),
            prompt_ms=(self.prompt_done - self.started) * 1000,
            generate_ms=(done - self.prompt_done) * 1000,
            forward_passes=self.passes,
            draft_proposed=self.drafter.proposed if self.drafter else 0,
            draft_accepted=self.drafter.accepted if self.drafter else 0,
        )


def generate(
    model: Any,
    decode: Callable[[list[int]], str],
    prompt_ids: list[int],
    *,
    cache: Any,
    cached_tokens: int = 0,
    **decoding: Any,
) -> Generated:
    """Generate a completion of `prompt_ids`, reusing `cache` for its first `cached_tokens`.

    `cache` is a transformers cache object holding exactly `prompt_ids[:cached_tokens]`
    (or empty); afterwards it holds the prompt and (some of) the generated tokens.
    `decoding` are `Decoding`'s keyword arguments (`max_tokens`, `stop_ids` and
    `text_filter` at least); `max_tokens` 0 only reads the prompt into `cache`.
    With a `drafter` and greedy sampling, each forward
    pass also scores the drafter's guess at the next tokens and keeps those the
    model agrees with.
    """
    cached_tokens = min(cached_tokens, len(prompt_ids) - 1)  # the last token's logits are always computed
    state = Decoding(decode, prompt_tokens=len(prompt_ids), cached_tokens=cached_tokens, **decoding)
    cancel = state.cancel
    with torch.inference_mode():
        crop_cache(cache, cached_tokens)
        logits = prefill(model, prompt_ids, cache, cached_tokens, cancel)
        state.prefilled()
        if state.max_tokens <= 0:  # prefill only: the prompt is in the cache, nothing to generate
            logits = None
        #: Tokens the model already chose (accepted draft tokens) whose KV is in the cache.
        confirmed: list[int] = []
        while logits is not None:
            token = next_token(state, confirmed, logits)
            if token is None:
                break
            logits, confirmed = decode_step(model, cache, state, token)
    return state.result()


def next_token(state: Decoding, confirmed: list[int], logits: torch.Tensor) -> int | None:
    """Feed the accepted draft tokens (`confirmed`, emptied), then the token picked from `logits`.

    Returns the picked token, which still has to go through the model, or None once the completion is over.
    """
    while confirmed:
        if not state.feed(confirmed.pop(0)):
            return None
    token = state.pick(logits)
    return token if state.feed(token) else None


def decode_step(model: Any, cache: Any, state: Decoding, token: int) -> tuple[torch.Tensor, list[int]]:
    """One forward pass for `token` that also checks the state's draft: the next logits and the accepted tokens."""
    draft = state.draft()
    state.passes += 1
    logits, confirmed = _step(model, cache, token, draft)
    if state.drafter is not None and draft:
        state.drafter.record(len(draft), len(confirmed))
    return logits, confirmed


def _step(model: Any, cache: Any, token: int, draft: list[int]) -> tuple[torch.Tensor, list[int]]:
    """Feed `token` (and score `draft` after it): the next logits and the draft tokens the model agrees with."""
    inputs = torch.tensor([[token, *draft]], dtype=torch.long)
    out = model(input_ids=inputs, past_key_values=cache, use_cache=True, logits_to_keep=len(draft) + 1)
    rows = out.logits[0]
    if not draft:
        return rows[-1], []
    choices = torch.argmax(rows, dim=-1).tolist()
    agreed = 0
    while agreed < len(draft) and choices[agreed] == draft[agreed]:
        agreed += 1
    # The cache now holds every draft token; keep the agreed ones, drop the rest.
    crop_cache(cache, cache.get_seq_length() - (len(draft) - agreed))
    return rows[agreed], draft[:agreed]
