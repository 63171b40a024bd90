"""The language server as editors see it, without a model: capabilities, sync, context, settings.

Each test runs twice, with the capabilities pytest-lsp recorded from Neovim
0.11 (which negotiates UTF-8 positions) and from VS Code (UTF-16). One server
per profile serves the module, so tests use their own documents and compare
counters before and after.
"""

from __future__ import annotations

import socket

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp.protocol import ACCEPTED_COMMAND, EVENT_METHOD, HINT_COMMAND
from tests.lsp.helpers import (
    PROFILES, column, configure, edit, initialize, open_doc, prompt, send_inline, server_config, stats, uri,
)  # fmt: skip


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(config=server_config("--max-tokens", "8"), params=PROFILES, scope="module")
async def client(request, lsp_client: LanguageClient):
    lsp_client.encoding = await initialize(lsp_client, request.param)
    lsp_client.profile = request.param
    yield
    await lsp_client.shutdown_session()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_capabilities_advertise_inline_completion_and_incremental_sync(client: LanguageClient):
    caps = client.server_capabilities
    assert caps.inline_completion_provider is not None
    assert caps.completion_provider is not None
    assert set(caps.execute_command_provider.commands) >= {HINT_COMMAND, ACCEPTED_COMMAND}
    assert caps.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    # Neovim offers UTF-8 first; VS Code offers nothing, which means UTF-16.
    assert client.encoding == {"neovim": "utf-8", "visual-studio-code": "utf-16"}[client.profile]


async def test_incremental_edits_with_non_ascii_text_and_emoji(client: LanguageClient):
    enc = client.encoding
    text = 'greeting = "héllo 😀"\nprint(greeting)\n'
    doc = open_doc(client, "greet.py", text)
    line0 = text.splitlines()[0]
    # Insert after the emoji, in the client's units.
    edit(client, doc, 2, (0, column(line0[:-1], enc)), (0, column(line0[:-1], enc)), " wörld 👍🏽")
    line0 = 'greeting = "héllo 😀 wörld 👍🏽"'
    # Replace "héllo" (its end sits after a non-ASCII character) with "hi".
    start, end = line0.index("héllo"), line0.index("héllo") + len("héllo")
    edit(client, doc, 3, (0, column(line0[:start], enc)), (0, column(line0[:end], enc)), "hi")
    line0 = 'greeting = "hi 😀 wörld 👍🏽"'
    # A multi-line edit: join the two lines.
    edit(client, doc, 4, (0, column(line0, enc)), (1, 0), "; ")
    expected = 'greeting = "hi 😀 wörld 👍🏽"; print(greeting)\n'
    cursor = expected.index("wörld") + len("wö")
    view = await prompt(client, doc, 0, column(expected[:cursor], enc))
    assert view.prefix == expected[:cursor] and view.suffix == expected[cursor:]
    assert view.path == "greet.py" and view.language == "python"


async def test_the_context_is_the_files_a_document_imports(client: LanguageClient):
    open_doc(client, "pkg/helpers.py", "def parse(text):\n    return text.split()\n")
    open_doc(client, "other.py", "X = 1\n")
    open_doc(client, "notes.md", "# notes\n", language_id="markdown")
    doc = open_doc(client, "app.py", "from pkg.helpers import parse\n\nwords = parse(\n")
    view = await prompt(client, doc, 2, len("words = parse("))
    # Only what the file imports: not the other open Python files (this server has more open), nor Markdown.
    assert [c.path for c in view.context] == ["pkg/helpers.py"]
    assert "def parse" in view.context[-1].content


async def test_bad_settings_are_reported_and_the_old_ones_kept(client: LanguageClient):
    configure(client, mode="solve-it-for-me")
    await client.wait_for_notification(types.WINDOW_SHOW_MESSAGE)
    assert any("setting mode" in m.message for m in client.messages)
    doc = open_doc(client, "bad.py", "x = 1\n")
    assert (await prompt(client, doc, 0, 0)).prefix == ""  # the server still answers


async def test_configuration_switches_the_backend(client: LanguageClient):
    """Switching to an HTTP backend that is not running gives an empty answer and one clear message."""
    port = closed_port()
    before = await stats(client)
    configure(client, backend="http", url=f"http://127.0.0.1:{port}")
    doc = open_doc(client, "switch.py", "def f():\n    return \n")
    result = await send_inline(client, doc, 1, 11)
    assert result.items == ()
    assert any(f"127.0.0.1:{port}" in m.message and m.type == types.MessageType.Error for m in client.messages)
    # Asking again does not repeat the message on every keystroke.
    count = len(client.messages)
    await send_inline(client, doc, 1, 11)
    assert len(client.messages) == count
    after = await stats(client)
    assert after.requests - before.requests == 2 and after.shown == before.shown
    configure(client, backend="local", url=None)


async def test_server_side_debounce_lets_the_newest_request_win(client: LanguageClient):
    port = closed_port()
    before = await stats(client)
    configure(client, backend="http", url=f"http://127.0.0.1:{port}", debounce_ms=300)
    doc = open_doc(client, "debounce.py", "x = \n")
    first, second = send_inline(client, doc, 0, 4), send_inline(client, doc, 0, 4)
    assert (await first).items == () and (await second).items == ()
    after = await stats(client)
    # The first never reached the backend: the second superseded it while it waited.
    assert after.requests - before.requests == 2 and after.cancelled - before.cancelled == 1
    configure(client, backend="local", url=None, debounce_ms=0)


async def test_pull_model_configuration(client: LanguageClient):
    """Clients that send an empty didChangeConfiguration are asked with workspace/configuration."""
    port = closed_port()
    settings = {"backend": "llama.cpp", "url": f"http://127.0.0.1:{port}", "context_tokens": 2}
    client.set_configuration(settings, section="codegemma")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    line = "value = " + "x" * 100
    doc = open_doc(client, "pulled.py", line + "\n")
    # context_tokens shows in the prompt (the prefix is pre-cut to 8 characters a token): wait for it.
    for _ in range(100):
        if len((await prompt(client, doc, 0, len(line))).prefix) == 16:
            break
    assert (await prompt(client, doc, 0, len(line))).prefix == line[-16:]
    assert (await send_inline(client, doc, 0, len(line))).items == ()
    assert any(f"127.0.0.1:{port}/infill" in m.message for m in client.messages)
    configure(client, backend="local", url=None, context_tokens=1024)


async def test_acceptance_counts_only_items_the_server_showed(client: LanguageClient):
    before = (await stats(client)).accepted
    await client.workspace_execute_command_async(types.ExecuteCommandParams(ACCEPTED_COMMAND, ["item-404"]))
    assert (await stats(client)).accepted == before


async def test_requests_for_unopened_documents_are_answered_empty(client: LanguageClient):
    result = await send_inline(client, uri("never-opened.py"), 0, 0)
    assert result.items == ()
    assert any("not open" in m.message for m in client.messages)


@pytest_lsp.fixture(config=server_config(), scope="module")
async def utf32_client(lsp_client: LanguageClient):
    capabilities = types.ClientCapabilities(general=types.GeneralClientCapabilities(position_encodings=["utf-32"]))
    lsp_client.encoding = await initialize(lsp_client, capabilities)
    yield
    await lsp_client.shutdown_session()


async def test_utf32_positions_count_code_points(utf32_client: LanguageClient):
    assert utf32_client.encoding == "utf-32"
    doc = open_doc(utf32_client, "e.py", "s = '😀😀'\n")
    edit(utf32_client, doc, 2, (0, 6), (0, 6), "x")  # between the two emoji
    view = await prompt(utf32_client, doc, 0, 8)
    assert view.prefix == "s = '😀x😀" and view.suffix == "'\n"


async def test_events_with_bad_params_or_unknown_items_are_ignored_and_counted(client: LanguageClient):
    before = (await stats(client)).ignored_events
    client.protocol.notify(EVENT_METHOD, {"item": "item-404", "kind": "accepted", "accepted": "x"})
    client.protocol.notify(EVENT_METHOD, {"item": "item-1", "kind": "liked"})
    client.protocol.notify(EVENT_METHOD, ["not", "an", "object"])
    after = await stats(client)
    assert after.ignored_events == before + 3 and after.kept_chars == 0
