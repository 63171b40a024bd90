"""The last completion per document, for typing through it.

When the user types the start of the ghost text, the model's greedy answer
for the longer prefix is the rest of what it already wrote; every engine that
remembers its answers here can return that rest without asking the model.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

from engine.backend import Completion, CompletionRequest, TextCallback
from engine.speculation import continuation_after_edit

log = logging.getLogger(__name__)

#: Cache keys whose last completion is remembered.
MAX_PREVIOUS = 256


@dataclass(frozen=True)
class Previous:
    """The last completion for a cache key: where it was asked, with what settings, and what came back."""

    prefix: str
    suffix: str
    text: str
    finish_reason: str
    settings: tuple


def request_settings(request: CompletionRequest) -> tuple:
    """Everything about a request but its prefix and id: two requests that agree here differ only in the prefix."""
    return (request.suffix, request.path, request.context, request.language, request.max_tokens, request.temperature,
            request.stop, request.raw, request.n_indent)  # fmt: skip


def typed_through(previous: Previous | None, request: CompletionRequest) -> str | None:
    """The rest of the previous completion when the user has typed its start, else None.

    Only complete greedy answers are reused, never a whitespace-only rest.
    """
    if previous is None or request.temperature > 0 or previous.finish_reason != "stop":
        return None
    # Forward typing only: after a deletion the model is asked again.
    if previous.settings != request_settings(request) or len(request.prefix) <= len(previous.prefix):
        return None
    rest = continuation_after_edit(previous.prefix, previous.suffix, previous.text, request.prefix, request.suffix)
    return rest if rest.strip() else None


class RecentCompletions:
    """The last completion of each of the `MAX_PREVIOUS` most recently used cache keys."""

    def __init__(self) -> None:
        self._by_key: OrderedDict[str, Previous] = OrderedDict()

    def get(self, key: str) -> Previous | None:
        return self._by_key.get(key)

    def remember(self, key: str, request: CompletionRequest, text: str, finish_reason: str) -> None:
        self._by_key.pop(key, None)
        self._by_key[key] = Previous(request.prefix, request.suffix, text, finish_reason, request_settings(request))
        while len(self._by_key) > MAX_PREVIOUS:
            self._by_key.popitem(last=False)

    def answer(self, key: str, request: CompletionRequest, on_text: TextCallback | None) -> Completion | None:
        """The rest of the previous completion for `key` when `request` types through it (remembered as the
        new answer and streamed to `on_text`), else None: the engine must ask its model."""
        rest = typed_through(self.get(key), request)
        if rest is None:
            return None
        self.remember(key, request, rest, "stop")
        if on_text is not None:
            on_text(rest)
        log.info("%s: typed through the previous completion; %d characters left", request.request_id, len(rest))
        return Completion(rest, "stop", "eos", request_id=request.request_id, reused=True)

    def clear(self) -> None:
        self._by_key.clear()
