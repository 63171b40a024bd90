"""The language server indexes its workspace folder: a file that is not open still gives its definitions."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from tests.lsp.helpers import prompt, server_config

ROOT = Path(tempfile.mkdtemp(prefix="codegemma-ws-"))
(ROOT / "geometry.py").write_text("def polygon_area(points):\n    return 0.0\n\n\nclass Shape:\n    sides: int\n")
pytestmark = pytest.mark.asyncio(loop_scope="module")

APP = "from geometry import polygon_area\n\n\ndef report(points):\n    area = polygon_area(\n"


@pytest_lsp.fixture(config=server_config("--max-tokens", "8"), scope="module")
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("neovim"), root_uri=ROOT.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=ROOT.as_uri(), name="ws")]))  # fmt: skip
    yield
    await lsp_client.shutdown_session()


async def test_definitions_come_from_unopened_workspace_files(client: LanguageClient):
    item = types.TextDocumentItem(uri=(ROOT / "app.py").as_uri(), language_id="python", version=1, text=APP)
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=item))
    for _ in range(100):  # the index is built in the background; requests never wait for it
        view = await prompt(client, item.uri, 4, len("    area = polygon_area("))
        if view.context:
            break
        await asyncio.sleep(0.1)
    assert view.context and view.context[-1].path == "geometry.py"
    assert "def polygon_area(points)" in view.context[-1].content
