"""Fixtures for the harness tests: scripted backends and our real server on a free port."""

from __future__ import annotations

import threading
import time
from typing import Callable

import pytest

from engine.backend import CancelToken, Completion, CompletionRequest, TextCallback, Timings
from tests.servers import serving


class ScriptedBackend:
    """Answers with `answer(request)`; counts calls. Used to test the harness, never to report numbers."""

    def __init__(self, answer: Callable[[CompletionRequest], str], name: str = "scripted", delay: float = 0.0):
        self.answer = answer
        self.name = name
        self.delay = delay
        self.requests: list[CompletionRequest] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def complete(self, request: CompletionRequest, *, cancel: CancelToken | None = None,
                 on_text: TextCallback | None = None) -> Completion:  # fmt: skip
        with self._lock:
            self.requests.append(request)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.delay)
            text = self.answer(request)
            if on_text is not None and text:
                on_text(text)
            return Completion(text, "stop", "eos", Timings(prompt_tokens=100, cached_tokens=20, prompt_ms=80.0,
                                                           generated_tokens=10, generate_ms=500.0))  # fmt: skip
        finally:
            with self._lock:
                self.running -= 1

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def bundled_server(bundled_backend):
    """Our HTTP server around the session's bundled backend."""
    from server.app import create_app
    from server.service import CompletionService

    service = CompletionService(lambda: bundled_backend)
    service.start_loading()
    assert service.wait_ready(120) and service.status == "ok"
    with serving(create_app(service)) as url:
        yield url
