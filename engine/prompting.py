"""What a `CompletionRequest` becomes for a FIM model: its prompt within the budget, and the rules that end it.

Shared by every engine that builds the prompt itself: the in-process one
(`engine.local`) and the raw-prompt upstream engines (`engine.upstream`), so
a completion through either is cut and post-processed the same way.
"""

from __future__ import annotations

from engine.backend import CompletionRequest
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
