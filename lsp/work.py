"""Model work off the event loop, one live request per document.

A completion takes seconds on a CPU, and the user keeps typing meanwhile.
Three rules keep the server responsive:

- model calls run in worker threads, so the event loop keeps answering
  didChange, `$/cancelRequest`, stats and shutdown;
- on exit, running requests are cancelled and their threads joined (a
  cancelled generation stops within a token): a process that exits while a
  thread is inside torch aborts ("terminate called without an active
  exception") instead of exiting cleanly;
- a new request for a document supersedes the one before it, whose token is
  cancelled, so stale requests never pile up behind the model.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable, TypeVar

from engine.backend import CancelToken

T = TypeVar("T")

#: Worker threads still running, so exit can wait for them.
_workers: set[threading.Thread] = set()
_workers_lock = threading.Lock()


async def in_thread(fn: Callable[..., T], *args: Any, name: str = "model-call", **kwargs: Any) -> T:
    """Run `fn(*args, **kwargs)` in a new daemon thread and wait for it without blocking the loop.

    Cancelling the awaiting task does not stop `fn`; pass it a `CancelToken` for that.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def work() -> None:
        try:
            result, error = fn(*args, **kwargs), None
        except BaseException as exc:  # handed to the awaiting task
            result, error = None, exc
        finally:
            with _workers_lock:
                _workers.discard(threading.current_thread())
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is gone: the server is exiting
            pass

    thread = threading.Thread(target=work, name=name, daemon=True)
    with _workers_lock:
        _workers.add(thread)
    thread.start()
    return await future


def join_workers(timeout: float) -> bool:
    """Wait up to `timeout` seconds for the worker threads; False if some still run (a model load)."""
    deadline = time.monotonic() + timeout
    with _workers_lock:
        running = list(_workers)
    for thread in running:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in running)


class InFlight:
    """The live request of each document; starting a new one cancels the old one."""

    def __init__(self) -> None:
        self._tokens: dict[str, CancelToken] = {}

    def start(self, key: str) -> CancelToken:
        previous = self._tokens.get(key)
        if previous is not None:
            previous.cancel()
        token = CancelToken()
        self._tokens[key] = token
        return token

    def cancel(self, key: str) -> None:
        """Cancel the live request of `key`, if there is one."""
        token = self._tokens.pop(key, None)
        if token is not None:
            token.cancel()

    def finish(self, key: str, token: CancelToken) -> None:
        if self._tokens.get(key) is token:
            del self._tokens[key]

    def cancel_all(self) -> None:
        for token in self._tokens.values():
            token.cancel()
        self._tokens.clear()

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, key: str) -> bool:
        return key in self._tokens
