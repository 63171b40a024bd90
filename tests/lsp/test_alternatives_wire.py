"""Alternatives and suggestion events through the real server over stdio, on the tiny random model.

The tiny model never stops by itself and writes random tokens, so its sampled
answers differ from its greedy one: what is checked is the protocol, not quality.
"""

from __future__ import annotations

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp.protocol import EVENT_METHOD
from tests.lsp.helpers import initialize, inline_params, open_doc, server_config, stats

pytestmark = pytest.mark.asyncio(loop_scope="module")

TEXT = "def mean(xs):\n    total = sum(xs)\n    return \n"
LINE, CHARACTER = 2, len("    return ")


@pytest_lsp.fixture(config=server_config(), scope="module")
async def client(lsp_client: LanguageClient, tiny_model_dir):
    await initialize(lsp_client, "neovim", model=str(tiny_model_dir), max_tokens=4, alternatives=3, prefetch=False)
    yield
    await lsp_client.shutdown_session()


async def inline(client: LanguageClient, doc: str, kind: types.InlineCompletionTriggerKind):
    params = inline_params(doc, LINE, CHARACTER)
    params.context = types.InlineCompletionContext(trigger_kind=kind)
    return await client.text_document_inline_completion_async(params)


async def test_a_manual_trigger_gets_distinct_alternatives_greedy_first(client: LanguageClient):
    doc = open_doc(client, "mean.py", TEXT)
    automatic = await inline(client, doc, types.InlineCompletionTriggerKind.Automatic)
    manual = await inline(client, doc, types.InlineCompletionTriggerKind.Invoked)
    assert len(automatic.items) == 1, "the tiny model's 4 random tokens are never empty after post-processing"
    texts = [item.insert_text for item in manual.items]
    assert 2 <= len(texts) <= 3 and len({t.rstrip() for t in texts}) == len(texts), texts
    assert texts[0] == automatic.items[0].insert_text
    ids = [item.command.arguments[0] for item in (*automatic.items, *manual.items)]
    assert len(set(ids)) == len(ids), "every item has its own id"

    before = await stats(client)
    assert before.shown == 1 + len(texts)
    client.protocol.notify(EVENT_METHOD, {"item": ids[1], "kind": "partial", "accepted": texts[0][:2]})
    client.protocol.notify(EVENT_METHOD, {"item": ids[2], "kind": "dismissed"})
    client.protocol.notify(EVENT_METHOD, {"item": ids[0], "kind": "typed_over", "typed": "x"})
    after = await stats(client)
    assert (after.partial, after.dismissed, after.typed_over) == (1, 1, 1)
    assert after.kept_chars == len(texts[0][:2]) and after.ignored_events == 0
