"""Warming the prompt cache before the editor asks (lsp.prefetch), on the tiny model in this process.

The server is the real one (`create_server`) with its handlers' hooks called
directly; what is checked is what a user gains: the completion that follows a
warm-up reads only what changed, and a real request is never held up by one.
"""

from __future__ import annotations

import asyncio
import time

from lsprotocol import types

from lsp import prefetch
from lsp.protocol import Settings
from lsp.server import create_server

URI = "file:///work/space/module.py"
TEXT = "import os\n\n" + "".join(f"def helper_{i}(path):\n    return os.path.join(path, '{i}')\n\n"
                                 for i in range(20)) + "def main():\n    \n\nmain()\n"  # fmt: skip
CURSOR = types.Position(TEXT.count("\n") - 3, 4)  # in the body of main()


def server_on(tiny_model_dir, **settings):
    server = create_server(Settings(model=str(tiny_model_dir), max_tokens=3, **settings))
    server.documents.open(URI, TEXT, "python", 1)
    return server


async def recorded(server) -> list:
    """The backend's answers from now on."""
    backend = await server.backends.completion(server.settings)
    answers, complete = [], backend.complete

    def spy(request, **kw):
        answers.append((request, complete(request, **kw)))
        return answers[-1][1]

    backend.complete = spy
    return answers


async def until(condition, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def type_text(server, position: types.Position, text: str, version: int) -> types.Position:
    """Insert `text` at `position` as a client's didChange does; returns the cursor after it."""
    change = types.TextDocumentContentChangePartial(range=types.Range(position, position), text=text)
    server.documents.change(URI, version, [change])
    server.prefetch.edited(URI, [change])
    return types.Position(position.line, position.character + len(text))


def test_the_completion_after_the_cursor_lands_finds_its_prompt_read(tiny_model_dir):
    async def scenario():
        server = server_on(tiny_model_dir)
        answers = await recorded(server)
        server.prefetch.cursor(URI, CURSOR)  # what our clients send when the cursor lands on a line
        await until(lambda: server.prefetch.warmed == 1)
        assert answers[0][0].max_tokens == 0 and answers[0][1].text == ""
        await server.suggest(URI, CURSOR)
        real = answers[-1][1].timings
        assert answers[-1][0].max_tokens == 3 and real.prompt_tokens > 200
        assert real.prompt_tokens - real.cached_tokens <= 2
        server.prefetch.close()

    asyncio.run(scenario())


def test_a_typing_pause_warms_the_prompt_at_the_new_cursor(tiny_model_dir):
    async def scenario():
        server = server_on(tiny_model_dir)
        answers = await recorded(server)
        cursor = CURSOR
        for version, ch in enumerate("ret", start=2):  # faster than the pause: one warm-up, after the last key
            cursor = type_text(server, cursor, ch, version)
        await until(lambda: server.prefetch.warmed == 1)
        assert sum(1 for request, _ in answers if request.max_tokens == 0) == 1
        assert answers[-1][0].prefix.endswith("def main():\n    ret")
        await server.suggest(URI, cursor)
        real = answers[-1][1].timings
        assert real.prompt_tokens - real.cached_tokens <= 2
        server.prefetch.close()

    asyncio.run(scenario())


def test_a_real_request_cancels_the_warm_up_it_overtakes(tiny_model_dir):
    async def scenario():
        server = server_on(tiny_model_dir)
        answers = await recorded(server)
        server.prefetch.cursor(URI, CURSOR)
        text = await server.suggest(URI, CURSOR)  # before the pause is over
        await asyncio.sleep(prefetch.PAUSE_MS / 1000 * 3)
        assert [request.max_tokens for request, _ in answers] == [3] and isinstance(text, str)
        assert server.prefetch.warmed == 0

    asyncio.run(scenario())


def test_the_prefetch_setting_turns_warming_off(tiny_model_dir):
    async def scenario():
        server = server_on(tiny_model_dir, prefetch=False)
        answers = await recorded(server)
        server.prefetch.opened(URI)
        server.prefetch.cursor(URI, CURSOR)
        type_text(server, CURSOR, "x", 2)
        await asyncio.sleep(prefetch.PAUSE_MS / 1000 * 3)
        assert answers == [] and server.prefetch.warmed == 0

    asyncio.run(scenario())


def test_the_setting_reads_true_and_false():
    assert Settings().prefetch is True
    assert Settings().updated({"prefetch": False}).prefetch is False
    assert Settings().updated({"prefetch": "true"}).prefetch is True
    try:
        Settings().updated({"prefetch": 3})
    except Exception as exc:
        assert "setting prefetch" in str(exc)
    else:
        raise AssertionError("a number was taken for a boolean setting")
