"""A scripted language server for testing the editor clients' own behaviour.

It speaks the same contract as `codegemma lsp` (inline completion with an
accept command, `codegemma.hint`, settings) but answers with a fixed
completion after a fixed delay, and records every message the client sent
(one JSON object per line in $SCRIPTED_LSP_LOG). That makes client-side
behaviour observable and fast to test without a model: debouncing, cancelling
superseded requests, drawing and accepting, settings on the wire. The real
server is covered by the end-to-end test in test_neovim_e2e.py.

Environment: SCRIPTED_LSP_LOG (required), SCRIPTED_COMPLETION (text, default
"return total\n"), SCRIPTED_DELAY (seconds, default 0.2), SCRIPTED_ALTERNATIVES
(a JSON list of texts: the items a manual trigger gets, ids item-1, item-2, ...).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

LOG = os.environ["SCRIPTED_LSP_LOG"]
COMPLETION = os.environ.get("SCRIPTED_COMPLETION", "return total\n")
DELAY = float(os.environ.get("SCRIPTED_DELAY", "0.2"))
ALTERNATIVES = json.loads(os.environ.get("SCRIPTED_ALTERNATIVES", "[]"))

server = LanguageServer("scripted-codegemma", "0")


def record(event: str, **data: Any) -> None:
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps({"event": event, **data}) + "\n")


def plain(value: Any) -> Any:
    """lsprotocol objects and pygls' attribute-dicts as plain JSON values."""
    return json.loads(json.dumps(value, default=lambda obj: server.protocol._converter.unstructure(obj)))


@server.feature(types.INITIALIZE)
def initialize(ls: LanguageServer, params: types.InitializeParams) -> None:
    text_document = params.capabilities.text_document
    record(
        "initialize",
        initialization_options=plain(params.initialization_options),
        inline_capability=text_document is not None and text_document.inline_completion is not None,
    )


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(ls: LanguageServer, params: types.DidChangeConfigurationParams) -> None:
    record("configuration", settings=plain(params.settings))


@server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline_completion(ls: LanguageServer, params: types.InlineCompletionParams):
    position = {"line": params.position.line, "character": params.position.character}
    record("request", position=position, trigger_kind=int(params.context.trigger_kind))
    try:
        await asyncio.sleep(DELAY)
    except asyncio.CancelledError:
        record("cancelled", position=position)
        raise
    record("answered", position=position)
    cursor = types.Range(start=params.position, end=params.position)
    invoked = params.context.trigger_kind == types.InlineCompletionTriggerKind.Invoked
    texts = ALTERNATIVES if invoked and ALTERNATIVES else [COMPLETION]
    items = []
    for number, text in enumerate(texts, 1):
        command = types.Command(title="accepted", command="codegemma.accepted", arguments=[f"item-{number}"])
        items.append(types.InlineCompletionItem(insert_text=text, range=cursor, command=command))
    return types.InlineCompletionList(items=items)


ACCEPTED: list[str] = []


@server.command("codegemma.accepted")
def accepted(ls: LanguageServer, item_id: str) -> None:
    ACCEPTED.append(item_id)
    record("accepted", item_id=item_id)


@server.feature("codegemma/event")
def suggestion_event(ls: LanguageServer, params: Any) -> None:
    record("suggestion_event", **(params._asdict() if hasattr(params, "_asdict") else plain(params)))


@server.feature("codegemma/stats")
def stats(ls: LanguageServer, params: Any) -> dict:
    return {"shown": 1, "accepted": len(ACCEPTED), "requests": 1, "cancelled": 0, "median_latency_ms": 12.0}


@server.command("codegemma.hint")
def hint(ls: LanguageServer, where: Any) -> dict:
    record("hint", arguments=plain(where))
    text = "Hint: what should the loop keep track of?"
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=text))
    return {"hint": text}


if __name__ == "__main__":
    record("started", argv=sys.argv[1:])
    server.start_io()
