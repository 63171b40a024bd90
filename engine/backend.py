"""The one interface every completion source implements.

The HTTP server, the language server and the evaluation harness all ask for
completions through `Backend.complete`, whether the model runs in this
process (`engine.local.LocalBackend`) or behind HTTP (`engine.remote`: our
server, llama.cpp, OpenAI-compatible servers, Ollama). This module imports no
torch, so clients of a remote model never pay for it.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Literal, Protocol

from engine.defaults import MAX_TOKENS
from fim.prompt import ContextFile

FinishReason = Literal["stop", "length", "cancelled"]
#: llama.cpp's vocabulary for why generation ended.
StopType = Literal["none", "eos", "limit", "word"]

_ids = itertools.count(1)


def new_request_id(prefix: str = "cmpl") -> str:
    """A short id that is unique within this process, for logs and responses."""
    return f"{prefix}-{int(time.time() * 1000) % 10**9:09d}-{next(_ids)}"


@dataclass(frozen=True)
class CompletionRequest:
    """A fill-in-the-middle request, independent of any wire format."""

    prefix: str
    suffix: str = ""
    #: Path of the file being completed (shown to models that take a path line).
    path: str | None = None
    #: Other files for the prompt, least relevant first.
    context: tuple[ContextFile, ...] = ()
    #: Language id (`python`, `typescript`, ...) for syntax-aware post-processing;
    #: guessed from `path` when None.
    language: str | None = None
    max_tokens: int = MAX_TOKENS
    #: 0 means greedy decoding.
    temperature: float = 0.0
    top_p: float = 1.0
    #: 0 means no top-k cut.
    top_k: int = 0
    seed: int | None = None
    #: Extra stop strings; FIM sentinels and eos always stop.
    stop: tuple[str, ...] = ()
    #: Switch our post-processing off (sentinels still end the completion).
    raw: bool = False
    #: llama.cpp's `n_indent`: end before a later line indented less than this.
    n_indent: int = 0
    #: llama.cpp's `t_max_predict_ms`: once a newline is out, stop after this long.
    time_limit_ms: float | None = None
    #: Whose prompt cache to use (a client or document); None shares one pool.
    cache_key: str | None = None
    request_id: str = field(default_factory=new_request_id)


@dataclass(frozen=True)
class Timings:
    prompt_tokens: int = 0
    #: Prompt tokens reused from the prompt cache (not recomputed).
    cached_tokens: int = 0
    prompt_ms: float = 0.0
    generated_tokens: int = 0
    generate_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.prompt_ms + self.generate_ms


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: FinishReason
    stop_type: StopType
    timings: Timings = field(default_factory=Timings)
    #: The stop string that ended generation, if one did.
    stopping_word: str | None = None
    #: True when the prompt had to be cut to fit the context budget.
    truncated: bool = False
    request_id: str = ""
    #: True when the answer is the rest of the previous completion, typed through (no model call).
    reused: bool = False


class CancelToken:
    """Set from any thread; the backend checks it between tokens and stops."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


#: Receives each newly final piece of text while a completion is generated.
TextCallback = Callable[[str], None]


class Backend(Protocol):
    """Something that completes code. Implementations translate their own wire format."""

    #: Short description for logs and reports (`local:qwen2.5-coder`, `llama.cpp:http://...`).
    name: str

    def complete(
        self,
        request: CompletionRequest,
        *,
        cancel: CancelToken | None = None,
        on_text: TextCallback | None = None,
    ) -> Completion:
        """Complete `request`, calling `on_text` with final pieces as they are known.

        Blocks the calling thread; callers with an event loop run it in a worker.
        When `cancel` is set the call returns early with `finish_reason="cancelled"`.
        """
        ...

    def close(self) -> None:
        """Free what the backend holds (threads, connections, the model)."""
        ...
