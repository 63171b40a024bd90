"""A real server (uvicorn in a thread, on a free port) around a real backend."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import replace

import pytest

from engine.local import LocalBackend
from server.app import create_app
from server.connection import uvicorn_config
from server.service import CompletionService, ServiceLimits
from tests.servers import free_port as free_port  # re-exported: tests import it from here
from tests.servers import serving


@contextmanager
def running_server(service: CompletionService, api_key: str | None = None, read_timeout: float = 30.0, **app_options):
    app = create_app(service, api_key=api_key, **app_options)
    # uvicorn serves the socket `serving` bound; the host and port given here are unused.
    with serving(app, uvicorn_config(app, "127.0.0.1", 0, read_timeout=read_timeout, log_level="warning")) as url:
        yield url


def ready_service(backend, **limits) -> CompletionService:
    service = CompletionService(lambda: backend, ServiceLimits(**limits))
    service.start_loading().join()
    assert service.status == "ok", service.error
    return service


class Spy:
    """Wraps a real backend: records every finished completion and can hold requests at a gate."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.name = backend.name
        self.lm = backend.lm
        self.prompt_cache = backend.prompt_cache
        self.done: list = []
        self.gate = threading.Event()
        self.gate.set()

    def complete(self, request, **kw):
        self.gate.wait(30)
        result = self.backend.complete(request, **kw)
        self.done.append(result)
        return result

    def close(self) -> None:
        self.backend.close()


@pytest.fixture()
def tiny_backend(tiny_model):
    # Like the bundled model in FIM mode, this one never ends by itself (no stop
    # ids), so long requests really are long and cancellation is observable.
    backend = Spy(LocalBackend(replace(tiny_model, stop_ids=frozenset()), context_tokens=512))
    yield backend
    backend.close()


@pytest.fixture()
def tiny_server(tiny_backend):
    with running_server(ready_service(tiny_backend)) as url:
        yield url
