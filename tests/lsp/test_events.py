"""Suggestion events (`codegemma/event`) and alternatives on a manual trigger, in this process.

The server is the real one (`create_server`); its completion backend is a
scripted one whose answer depends on the seed, so what is checked is the
server's own logic: counting, ignoring, hooks, deduplication and order.
"""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from engine.backend import CancelToken, Completion, CompletionRequest
from lsp.alternatives import distinct_completions
from lsp.protocol import Settings
from lsp.server import create_server

URI = "file:///work/space/mean.py"
TEXT = "def mean(xs):\n    total = sum(xs)\n    \n"
CURSOR = types.Position(2, 4)
#: What the scripted backend answers for each seed (None: the greedy request).
BY_SEED = {None: "return total / len(xs)\n", 1: "return total / len(xs)\n  ", 2: "", 3: "return 0\n",
           4: "return sum(xs) / len(xs)\n", 5: "pass\n"}  # fmt: skip


class Scripted:
    name = "scripted"

    def __init__(self) -> None:
        self.requests: list[CompletionRequest] = []

    def complete(self, request: CompletionRequest, *, cancel=None, on_text=None) -> Completion:
        self.requests.append(request)
        return Completion(BY_SEED.get(request.seed, "x\n"), "stop", "eos", request_id=request.request_id)

    def close(self) -> None:
        pass


def scripted_server(**settings):
    server = create_server(Settings(prefetch=False, **settings))
    server.documents.open(URI, TEXT, "python", 1)
    backend = Scripted()

    async def completion(_settings):
        return backend

    server.backends.completion = completion
    return server, backend


def test_alternatives_are_distinct_after_post_processing_greedy_first():
    server, backend = scripted_server()
    texts = asyncio.run(server.suggestions(URI, CURSOR, 3))
    # Seed 1 repeats the greedy text but for trailing spaces, seed 2 is empty.
    assert texts == ["return total / len(xs)\n", "return 0\n", "return sum(xs) / len(xs)\n"]
    greedy = backend.requests[0]
    assert greedy.temperature == 0 and greedy.seed is None
    assert all(r.temperature > 0 for r in backend.requests[1:])
    assert [r.seed for r in backend.requests[1:]] == [1, 2, 3, 4]  # (3 - 1) * 2 tries at most


def test_one_suggestion_asks_the_model_once_greedily():
    server, backend = scripted_server()
    assert asyncio.run(server.suggestions(URI, CURSOR, 1)) == ["return total / len(xs)\n"]
    assert [r.seed for r in backend.requests] == [None]


def test_tries_are_bounded_when_the_model_keeps_repeating_itself():
    backend = Scripted()
    backend.complete = lambda request, **kw: (backend.requests.append(request)
                                              or Completion("same\n", "stop", "eos"))  # fmt: skip
    found = distinct_completions(backend, CompletionRequest(prefix="x = "), 3, cancel=CancelToken())
    assert [c.text for c in found] == ["same\n"]
    assert len(backend.requests) == 1 + 2 * 2


def test_a_cancelled_request_stops_sampling():
    token = CancelToken()
    backend = Scripted()
    complete = backend.complete

    def cancel_after_first(request, **kw):
        token.cancel()
        return complete(request, **kw)

    backend.complete = cancel_after_first
    distinct_completions(backend, CompletionRequest(prefix="x = "), 3, cancel=token)
    assert len(backend.requests) == 1  # the greedy one; no sampling after the cancel


def shown_item(server, text="return total\n") -> str:
    return server.telemetry.item_shown(text, URI)


def test_events_are_counted_once_per_item_and_kept_characters_add_up():
    server, _ = scripted_server()
    seen = []
    server.on_event.append(lambda event, item: seen.append((event.kind, item.text)))
    first, second, third, fourth = (shown_item(server) for _ in range(4))
    server.suggestion_event({"item": first, "kind": "partial", "accepted": "return "})
    server.suggestion_event({"item": first, "kind": "partial", "accepted": "total\n"})
    server.suggestion_event({"item": second, "kind": "accepted", "accepted": "return total\n"})
    server.suggestion_event({"item": second, "kind": "accepted", "accepted": "return total\n"})  # repeated
    server.telemetry.item_accepted(second)  # and the accept command: still one acceptance
    server.suggestion_event({"item": third, "kind": "dismissed"})
    server.suggestion_event({"item": fourth, "kind": "typed_over", "typed": "pass"})
    stats = server.telemetry.snapshot()
    assert (stats.shown, stats.accepted, stats.partial, stats.dismissed, stats.typed_over) == (4, 1, 1, 1, 1)
    assert stats.kept_chars == len("return total\n") * 2
    assert stats.ignored_events == 0
    assert [kind for kind, _ in seen] == ["partial", "partial", "accepted", "accepted", "dismissed", "typed_over"]
    assert seen[0][1] == "return total\n"


@pytest.mark.parametrize("params", [
    None, [], "item-1", {"kind": "accepted"}, {"item": "", "kind": "accepted"}, {"item": "item-1", "kind": "nope"},
    {"item": "item-1", "kind": "partial", "accepted": 3}, {"item": "item-404", "kind": "accepted"},
])  # fmt: skip
def test_bad_or_unknown_events_are_ignored_and_counted(params, caplog):
    server, _ = scripted_server()
    shown_item(server)
    calls = []
    server.on_event.append(lambda event, item: calls.append(event))
    server.suggestion_event(params)
    stats = server.telemetry.snapshot()
    assert stats.ignored_events == 1 and stats.accepted == stats.partial == stats.kept_chars == 0
    assert calls == []


def test_a_failing_hook_is_logged_and_the_next_one_still_runs(caplog):
    server, _ = scripted_server()
    item = shown_item(server)
    later = []
    server.on_event.append(lambda event, item: 1 / 0)
    server.on_event.append(lambda event, item: later.append(event.kind))
    server.suggestion_event({"item": item, "kind": "dismissed"})
    assert later == ["dismissed"] and "hook" in caplog.text
