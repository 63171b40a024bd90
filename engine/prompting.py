"""What a `CompletionRequest` becomes for a FIM model: its prompt within the budget, and the rules that end it.

Shared by every engine that builds the prompt itself: the in-process one
(`engine.local`) and the raw-prompt upstream engines (`engine.upstream`), so
a completion through either is cut and post-processed the same way.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from engine.backend import CancelToken, Completion, CompletionRequest, TextCallback
from fim.budget import TokenCounter, fit
from fim.formats import FimFormat
from fim.postprocess import CompletionFilter, completion_filter
from fim.prompt import FimInput, build_prompt
from fim.syntax import language_for


def request_language(request: CompletionRequest) -> str | None:
    """The grammar for the request: its language id if we know it, else its path's extension."""
    return language_for(request.language) or language_for(request.path)


def fitted_prompt(fmt: FimFormat, request: CompletionRequest, context_tokens: int,
                  count: TokenCounter) -> tuple[str, bool]:  # fmt: skip
    """The request's prompt in `fmt` after fitting it to `context_tokens`, and whether anything was cut."""
    fim = FimInput(prefix=request.prefix, suffix=request.suffix, path=request.path, context=request.context)
    fitted = fit(fim, context_tokens, count, language=request_language(request))
    return build_prompt(fmt, fitted.fim), fitted.truncated


def request_filter(fmt: FimFormat, request: CompletionRequest) -> CompletionFilter:
    """The rules that end the request's completion: the format's sentinels, its stop words, the unit at the cursor."""
    return completion_filter(
        stop_words=(*fmt.family.stop_strings, *request.stop), prefix=request.prefix, suffix=request.suffix,
        raw=request.raw, n_indent=request.n_indent, language=request_language(request),
        request_id=request.request_id)  # fmt: skip


class SpaceHealing:
    """A prefix-last prompt must not end in spaces: the model is asked before them, and they are taken off.

    With the prefix last (`FimFormat.prefix_last`), the prompt's final token is
    whatever the prefix ends with. Spaces there (the indent an editor puts on a
    new line, the space after `return `) are tokens the model rarely saw at that
    point: it went on with its usual space-led token (` return`, ` a`), and the
    line came out one space too deep or with two spaces (`return  a + b`). So
    the request is asked without the trailing spaces and tabs, and the answer
    loses them at its front: exactly those when it starts with them (a deeper
    indent keeps the rest, for the syntax check to judge), else whatever spaces
    and tabs it starts with, since the user's own spaces stay where they are.
    """

    def __init__(self, request: CompletionRequest, spaces: str) -> None:
        self.request = replace(request, prefix=request.prefix[: len(request.prefix) - len(spaces)])
        self.spaces = spaces
        self.seen = ""
        self.cut: int | None = None

    @classmethod
    def of(cls, fmt: FimFormat, request: CompletionRequest) -> SpaceHealing | None:
        """The healing `request` needs in `fmt`, or None (PSM, raw requests, a prefix that ends otherwise)."""
        if not fmt.prefix_last or request.raw:
            return None
        kept = request.prefix.rstrip(" \t")
        if not kept or len(kept) == len(request.prefix):
            return None
        return cls(request, request.prefix[len(kept) :])

    def _front(self, text: str) -> int:
        """How many characters of `text` (which has more than spaces and tabs) the user's spaces stand for."""
        return len(self.spaces) if text.startswith(self.spaces) else len(text) - len(text.lstrip(" \t"))

    def text(self, text: str) -> str:
        """The completion after the user's spaces, from what the model wrote before them."""
        if not text.strip(" \t"):
            return text[len(self.spaces) :] if text.startswith(self.spaces) else ""
        return text[self._front(text) :]

    def on_text(self, downstream: TextCallback | None) -> TextCallback | None:
        """`downstream` given the streamed text as `text` would cut it: held back while it is only spaces."""
        if downstream is None:
            return None

        def take(piece: str) -> None:
            if self.cut is not None:
                downstream(piece)
                return
            self.seen += piece
            if not self.seen.strip(" \t"):
                return
            self.cut = self._front(self.seen)
            if self.seen[self.cut :]:
                downstream(self.seen[self.cut :])

        return take

    def completion(self, answer: Completion) -> Completion:
        return replace(answer, text=self.text(answer.text))


def healed_complete(fmt: FimFormat, request: CompletionRequest, complete: Callable[..., Completion], *,
                    cancel: CancelToken | None, on_text: TextCallback | None) -> Completion:  # fmt: skip
    """`complete(request, cancel=, on_text=)`, through `SpaceHealing` where `fmt` needs it."""
    healing = SpaceHealing.of(fmt, request)
    if healing is None:
        return complete(request, cancel=cancel, on_text=on_text)
    return healing.completion(complete(healing.request, cancel=cancel, on_text=healing.on_text(on_text)))
