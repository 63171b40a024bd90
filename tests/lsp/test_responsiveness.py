"""Supersede, cancel, edits and shutdown while the model is busy.

These check mechanics, not completion quality, so the server runs the tiny
random model (`tiny_model_dir`, loads in a second); it never stops by
itself before a few hundred tokens, so a generation that ends early was
stopped by a cancel. Each test runs with the Neovim and VS Code profiles;
one server per profile serves the first three tests, which compare counters
before and after.
"""

from __future__ import annotations

import asyncio

import pytest
import pytest_lsp
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.lsp.helpers import (
    PROFILES, cancel, edit, initialize, open_doc, prompt, send_inline, server_config, stats, wait_for,
)  # fmt: skip

#: Long enough that an uncancelled completion runs for many seconds.
LONG = 300
TEXT = "def f(x):\n    return \n\n\nprint(f(1))\n"
CURSOR = (1, len("    return "))


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(config=server_config(), params=PROFILES, scope="module")
async def client(request, lsp_client: LanguageClient, tiny_model_dir):
    await initialize(lsp_client, request.param, model=str(tiny_model_dir), max_tokens=LONG)
    yield
    await lsp_client.shutdown_session()


async def started(client: LanguageClient, doc: str, msg_id: str) -> asyncio.Future:
    """Send a completion request and return once the model is working on it."""
    request = send_inline(client, doc, *CURSOR, msg_id=msg_id)
    await wait_for(lambda s: s.running >= 1, client)
    return request


async def test_a_new_request_supersedes_the_running_one_and_cancel_request_stops_it(client: LanguageClient):
    doc = open_doc(client, "supersede.py", TEXT)
    before = await stats(client)
    first = await started(client, doc, "first")
    second = send_inline(client, doc, *CURSOR, msg_id="second")
    assert (await first).items == ()  # superseded: answered at once, empty
    cancel(client, "second")
    with pytest.raises(JsonRpcException):
        await second
    done = await wait_for(lambda s: s.running == 0, client)
    assert done.requests - before.requests == 2 and done.cancelled - before.cancelled == 2
    assert done.shown == before.shown
    # The model calls stopped because they were cancelled, not because they ran out of tokens.
    assert done.stopped_early > before.stopped_early


async def test_an_edit_stops_the_completion_it_makes_stale(client: LanguageClient):
    doc = open_doc(client, "stale.py", TEXT)
    before = await stats(client)
    request = await started(client, doc, "stale")
    edit(client, doc, 2, CURSOR, CURSOR, "x")
    assert (await request).items == ()
    done = await wait_for(lambda s: s.running == 0, client)
    assert done.cancelled - before.cancelled == 1 and done.stopped_early - before.stopped_early == 1


async def test_the_server_answers_while_the_model_runs(client: LanguageClient):
    doc = open_doc(client, "busy.py", TEXT)
    other = open_doc(client, "other.py", "y = 1\n")
    request = await started(client, doc, "busy")
    edit(client, other, 2, (0, 4), (0, 5), "2")
    assert (await prompt(client, other, 0, 5)).prefix == "y = 2"
    # The answer came while the completion was still generating.
    assert (await stats(client)).running == 1
    cancel(client, "busy")
    with pytest.raises(JsonRpcException):
        await request
    await wait_for(lambda s: s.running == 0, client)


@pytest_lsp.fixture(config=server_config(), params=PROFILES, scope="module")
async def busy_client(request, lsp_client: LanguageClient, tiny_model_dir):
    await initialize(lsp_client, request.param, model=str(tiny_model_dir), max_tokens=4096)
    yield


async def test_shutdown_while_a_completion_runs(busy_client: LanguageClient):
    doc = open_doc(busy_client, "a.py", TEXT)
    request = await started(busy_client, doc, "running")
    # A 4096-token completion would take minutes; shutdown and exit must not wait for it.
    await asyncio.wait_for(busy_client.shutdown_async(None), timeout=30)
    busy_client.exit(None)
    returncode = await asyncio.wait_for(busy_client._server.wait(), timeout=30)
    assert returncode == 0  # a clean exit, not an abort inside torch
    with pytest.raises(JsonRpcException):
        await request  # answered "cancelled" by the shutdown
