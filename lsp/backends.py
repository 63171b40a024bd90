"""The completion backend and the hint model for the current settings, built lazily off the loop.

Nothing is loaded at start-up: an editor starts the server with every file
it opens, and most sessions never need a model until the first completion.
The first request that needs one loads it in a worker thread while the
event loop keeps answering; requests that arrive meanwhile wait for the same
load. The in-process model is shared: with the default settings, completions
and hints use one copy of the bundled model's weights.

Remote backends (our HTTP server, llama.cpp, OpenAI-compatible, Ollama) come
from `engine.specs.backend_from_spec` and cost nothing to build.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from engine.backend import Backend
from engine.defaults import DTYPE
from engine.loading import set_threads
from lsp.protocol import Settings
from lsp.work import in_thread

log = logging.getLogger(__name__)


def _load_fim_model(model: str | None, adapter: str | None, fim_format: str | None, dtype: str) -> Any:
    from engine.loading import load_model

    return load_model(model, adapter=adapter, fim_format=fim_format, dtype=dtype)


def _load_chat_model(model: str | None, dtype: str) -> Any:
    from engine.chat import load_chat_model

    return load_chat_model(model, dtype=dtype)


def _model_key(spec: str | None) -> str:
    return spec or "bundled"


class Backends:
    """Builds, caches and closes what the settings ask for; at most one of each kind is kept."""

    def __init__(self, *, dtype: str = DTYPE, threads: int | None = None,
                 load_fim_model: Callable[..., Any] = _load_fim_model,
                 load_chat_model: Callable[..., Any] = _load_chat_model) -> None:  # fmt: skip
        self.dtype = dtype
        self.threads = threads
        self._load_fim_model = load_fim_model
        self._load_chat_model = load_chat_model
        #: (model, adapter, fim_format) -> future LoadedModel
        self._fim: dict[tuple, asyncio.Future[Any]] = {}
        #: hint model spec -> future ChatModel
        self._chat: dict[str, asyncio.Future[Any]] = {}
        self._backend: tuple[tuple, Backend] | None = None

    # --- completions ---------------------------------------------------------------

    async def completion(self, settings: Settings) -> Backend:
        """The backend for `settings`, loading the local model on first use."""
        if settings.backend == "local":
            key = ("local", _model_key(settings.model), settings.adapter, settings.fim_format, settings.context_tokens)
        else:
            key = (settings.backend, settings.url, settings.api_key, settings.model)
        if self._backend is not None and self._backend[0] == key:
            return self._backend[1]
        if settings.backend == "local":
            from engine.local import LocalBackend

            lm = await self._fim_model(settings)
            backend: Backend = LocalBackend(lm, context_tokens=settings.context_tokens)
        else:
            from engine.specs import backend_from_spec

            backend = backend_from_spec(settings.backend, settings.url, model=settings.model, api_key=settings.api_key)
        if self._backend is not None and self._backend[0] == key:  # another request built it meanwhile
            backend.close()
            return self._backend[1]
        self._replace_backend(key, backend)
        log.info("completion backend: %s", backend.name)
        return backend

    def _replace_backend(self, key: tuple, backend: Backend) -> None:
        old, self._backend = self._backend, (key, backend)
        if old is not None and old[1] is not backend:
            # A LocalBackend's close only drops its prompt cache; a running call on it finishes normally.
            old[1].close()

    async def _fim_model(self, settings: Settings) -> Any:
        key = (_model_key(settings.model), settings.adapter, settings.fim_format)
        for other in [k for k in self._fim if k != key]:
            del self._fim[other]  # the settings moved on; let the old weights go
        return await self._shared_load(self._fim, key, self._load_fim_model, settings.model, settings.adapter,
                                       settings.fim_format, self.dtype)  # fmt: skip

    # --- hints -------------------------------------------------------------------

    async def chat(self, settings: Settings) -> Any:
        """The instruct model for hints (an `engine.chat.ChatModel`).

        When hints and completions use the same local model, one copy of the weights serves both.
        """
        from engine.chat import ChatModel

        spec = _model_key(settings.hint_model)
        shares = settings.backend == "local" and spec == _model_key(settings.model) and not settings.adapter
        key = (spec, shares)
        for other in [k for k in self._chat if k != key]:
            del self._chat[other]
        if not shares:
            return await self._shared_load(self._chat, key, self._load_chat_model, settings.hint_model, self.dtype)
        lm = await self._fim_model(settings)
        cached = self._chat.get(key)
        if cached is None or not cached.done() or cached.result().model is not lm.model:
            cached = asyncio.get_running_loop().create_future()
            cached.set_result(ChatModel.from_loaded(lm))
            self._chat[key] = cached
        return cached.result()

    # --- loading ---------------------------------------------------------------------

    async def _shared_load(self, cache: dict, key: Any, load: Callable[..., Any], *args: Any) -> Any:
        """Load once per key in a worker thread; concurrent callers wait for the same load.

        A failed load is forgotten, so a later request (after the user fixed a setting) tries again.
        """
        future = cache.get(key)
        if future is None:
            future = asyncio.ensure_future(in_thread(self._with_threads, load, *args, name="model-loader"))
            cache[key] = future

            def forget_failure(done: asyncio.Future[Any]) -> None:
                if (done.cancelled() or done.exception() is not None) and cache.get(key) is done:
                    del cache[key]

            future.add_done_callback(forget_failure)
        # shield: a cancelled request must not cancel a load other requests wait for.
        return await asyncio.shield(future)

    def _with_threads(self, load: Callable[..., Any], *args: Any) -> Any:
        set_threads(self.threads)
        return load(*args)

    def loading(self) -> bool:
        return any(not f.done() for f in (*self._fim.values(), *self._chat.values()))

    def close(self) -> None:
        if self._backend is not None:
            self._backend[1].close()
            self._backend = None
        self._fim.clear()
        self._chat.clear()
