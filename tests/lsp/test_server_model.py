"""Completions and hints from the bundled model, through the real server, for Neovim and VS Code.

One server per client profile serves the whole module (the model loads
once per server). Assertions are properties any sane model satisfies: no
sentinel text, an insertion on one line at the cursor, no repeat of the line
below the cursor, hints that are comments with no code in them.
"""

from __future__ import annotations

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from evals.hint_leaks import code_in
from lsp.protocol import ACCEPTED_COMMAND, HINT_COMMAND
from tests.lsp.helpers import PROFILES, configure, initialize, open_doc, send_inline, server_config, stats

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

SENTINELS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_sep|>", "<|endoftext|>", "<|im_end|>",
             "<|repo_name|>", "<|file_separator|>")  # fmt: skip
TEXT = '''def average(numbers):
    """Return the arithmetic mean of a non-empty list of numbers."""
    total = sum(numbers)
    return 

print(average([1, 2, 3]))
'''
CURSOR = types.Position(3, len("    return "))
NEXT_LINE = "print(average([1, 2, 3]))"


@pytest_lsp.fixture(config=server_config("--max-tokens", "8"), params=PROFILES, scope="module")
async def client(request, lsp_client: LanguageClient):
    await initialize(lsp_client, request.param)
    yield
    await lsp_client.shutdown_session()


def check_insertion(text: str, at: types.Range | None) -> None:
    assert not any(s in text for s in SENTINELS), text
    assert NEXT_LINE not in text, text
    if at is not None:
        assert at.start == at.end == CURSOR


async def test_inline_completion_and_accept_telemetry(client: LanguageClient):
    doc = open_doc(client, "mean.py", TEXT)
    result = await send_inline(client, doc, CURSOR.line, CURSOR.character)
    assert len(result.items) <= 1
    shown = await stats(client)
    if not result.items:  # an empty answer is allowed; it must not count as shown
        assert shown.shown == 0
        return
    item = result.items[0]
    check_insertion(item.insert_text, item.range)
    assert item.insert_text.strip()
    assert item.command.command == ACCEPTED_COMMAND and isinstance(item.command.arguments[0], str)
    await client.workspace_execute_command_async(types.ExecuteCommandParams(ACCEPTED_COMMAND, item.command.arguments))
    after = await stats(client)
    assert (after.shown, after.accepted) == (1, 1) and after.median_latency_ms > 0
    # Accepting the same item twice counts once.
    await client.workspace_execute_command_async(types.ExecuteCommandParams(ACCEPTED_COMMAND, item.command.arguments))
    assert (await stats(client)).accepted == 1


async def test_fallback_completion_inserts_at_the_cursor(client: LanguageClient):
    doc = open_doc(client, "mean2.py", TEXT)
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=types.TextDocumentIdentifier(doc), position=CURSOR)
    )
    assert result.is_incomplete and len(result.items) <= 1
    for item in result.items:
        check_insertion(item.text_edit.new_text, item.text_edit.range)
        assert item.command.command == ACCEPTED_COMMAND


HINT_TEXT = '''def count_vowels(word):
    """Return how many vowels (a, e, i, o, u) the word contains."""
    
'''


async def test_hint_mode_writes_a_comment_without_code(client: LanguageClient):
    configure(client, mode="hint", max_tokens=24)
    try:
        doc = open_doc(client, "vowels.py", HINT_TEXT)
        result = await send_inline(client, doc, 2, 4)
        assert len(result.items) == 1
        item = result.items[0]
        assert item.insert_text.startswith("# Hint: ") and "\n" not in item.insert_text
        assert item.range.start == item.range.end == types.Position(2, 4)
        assert code_in(item.insert_text.removeprefix("# Hint: ")) is None, item.insert_text
    finally:
        configure(client, mode="complete", max_tokens=8)


async def test_hint_command_shows_a_fuller_hint(client: LanguageClient):
    configure(client, max_tokens=16)
    try:
        doc = open_doc(client, "vowels2.py", HINT_TEXT)
        argument = {"textDocument": {"uri": doc}, "position": {"line": 2, "character": 4}}
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(HINT_COMMAND, [argument]))
        hint = result["hint"] if isinstance(result, dict) else result.hint
        assert hint and code_in(hint) is None, hint
        shown = [m for m in client.messages if m.type == types.MessageType.Info and hint in m.message]
        assert shown, client.messages
    finally:
        configure(client, max_tokens=8)
