"""Driving the real language server (a subprocess over stdio) from pytest-lsp tests."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from lsp.protocol import PROMPT_METHOD, STATS_METHOD, PromptView, Stats, plain_json

ROOT = Path(__file__).resolve().parents[2]
#: The client profiles pytest-lsp ships, recorded from real editors.
PROFILES = ("neovim", "visual-studio-code")
WORKSPACE = "file:///work/space"


def server_config(*flags: str) -> ClientServerConfig:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    command = [sys.executable, "-m", "cli", "--log-level", "INFO", "lsp", *flags]
    return ClientServerConfig(server_command=command, server_env=env)


async def initialize(client: LanguageClient, profile: str | types.ClientCapabilities, **options) -> str:
    """Initialize with a recorded client's capabilities; returns the negotiated position encoding."""
    capabilities = client_capabilities(profile) if isinstance(profile, str) else profile
    result = await client.initialize_session(
        types.InitializeParams(capabilities=capabilities, root_uri=WORKSPACE, initialization_options=options or None)
    )
    client.server_capabilities = result.capabilities
    encoding = result.capabilities.position_encoding
    return str(getattr(encoding, "value", encoding) or "utf-16")


def column(text: str, encoding: str) -> int:
    """Length of `text` in the units of `encoding`, computed the way a client does."""
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-16":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


def uri(name: str) -> str:
    return f"{WORKSPACE}/{name}"


def open_doc(client: LanguageClient, name: str, text: str, language_id: str = "python") -> str:
    item = types.TextDocumentItem(uri=uri(name), language_id=language_id, version=1, text=text)
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
    return item.uri


def edit(client: LanguageClient, doc: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str):
    change = types.TextDocumentContentChangePartial(
        range=types.Range(types.Position(*start), types.Position(*end)), text=text
    )
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=doc, version=version), content_changes=[change]))  # fmt: skip


def inline_params(doc: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=doc),
        position=types.Position(line, character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
    )


def send_inline(client: LanguageClient, doc: str, line: int, character: int, msg_id: str | None = None):
    """Send an inline completion request without waiting (an id lets a test cancel it)."""
    return asyncio.ensure_future(client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(doc, line, character), msg_id=msg_id))  # fmt: skip


def cancel(client: LanguageClient, msg_id: str) -> None:
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))


async def stats(client: LanguageClient) -> Stats:
    return Stats.from_json(plain_json(await client.protocol.send_request_async(STATS_METHOD, None)))


async def prompt(client: LanguageClient, doc: str, line: int, character: int) -> PromptView:
    params = {"textDocument": {"uri": doc}, "position": {"line": line, "character": character}}
    return PromptView.from_json(plain_json(await client.protocol.send_request_async(PROMPT_METHOD, params)))


def configure(client: LanguageClient, **settings) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"codegemma": settings}))


async def wait_for(predicate, client: LanguageClient, timeout: float = 120.0, interval: float = 0.2) -> Stats:
    """Poll `codegemma/stats` until `predicate(stats)` holds; fails after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        current = await stats(client)
        if predicate(current):
            return current
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s; stats: {current}")
        await asyncio.sleep(interval)
