"""Headless Neovim 0.11 + the plugin + the real `codegemma lsp`, as a user runs them.

The model test opens a real Python file (the standard library's textwrap.py,
copied), empties the last line of a function body, triggers a completion
through the plugin in insert mode, waits for the ghost text, accepts it with
<Tab>, and checks that the buffer holds the completion, still parses, and
that the server counted the acceptance. Model output is never compared
exactly: any sane completion must pass.
"""

from __future__ import annotations

import ast
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from tests.editors.nvim_driver import ROOT, needs_nvim, wait_for

pytestmark = needs_nvim

#: Generous: the first request loads the bundled model, and CI machines have 2 busy cores.
GHOST_TIMEOUT = 600


def start_real_server(nvim, path: Path, **settings) -> None:
    options = {
        "cmd": [sys.executable, "-m", "cli", "lsp"],
        "cmd_env": {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
        "auto_trigger": False,
        "settings": settings,
    }
    nvim.exec_lua("require('codegemma').setup(...)", options)
    nvim.command(f"edit {path}")
    wait_for(lambda: nvim.exec_lua(
        "local c = vim.lsp.get_clients({ name = 'codegemma', bufnr = 0 })[1]; return c ~= nil and c.initialized"
    ), 120, "codegemma lsp to initialize")  # fmt: skip


def stats(nvim) -> dict:
    nvim.exec_lua("_G.stats = nil; require('codegemma').stats(function(s) _G.stats = s end)")
    return wait_for(lambda: nvim.exec_lua("return _G.stats"), 30, "codegemma/stats")


def last_return_of_a_function(source: str) -> ast.Return:
    """The one-line `return` that ends a top-level function with more than a docstring before it."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and len(node.body) >= 3:
            last = node.body[-1]
            if isinstance(last, ast.Return) and last.lineno == last.end_lineno:
                return last
    raise AssertionError("no suitable function in the sample file")


def test_real_server_offers_what_the_plugin_uses(nvim, tmp_path):
    """No model needed: capabilities, the commands the plugin sends, and the stats request."""
    path = tmp_path / "sample.py"
    path.write_text("def f():\n    pass\n")
    start_real_server(nvim, path)
    capabilities = nvim.exec_lua("return vim.lsp.get_clients({ name = 'codegemma' })[1].server_capabilities")
    assert capabilities.get("inlineCompletionProvider") is not None  # {} is a valid "yes"
    assert {"codegemma.hint", "codegemma.accepted"} <= set(capabilities["executeCommandProvider"]["commands"])
    assert {"shown", "accepted", "requests", "cancelled", "median_latency_ms"} <= set(stats(nvim))


@pytest.mark.model
@pytest.mark.slow
def test_complete_in_a_function_body_and_accept(nvim, tmp_path):
    path = tmp_path / "textwrap.py"
    shutil.copyfile(textwrap.__file__, path)
    target = last_return_of_a_function(path.read_text())
    start_real_server(nvim, path, max_tokens=16, context_tokens=512)

    # The user deleted the function's last line and starts typing there.
    row, indent = target.lineno, " " * target.col_offset
    nvim.current.buffer[row - 1] = indent
    nvim.current.window.cursor = (row, 0)
    nvim.input("A")
    wait_for(lambda: nvim.api.get_mode()["mode"] == "i", 10, "insert mode")
    before = nvim.current.buffer[:]

    assert nvim.exec_lua("return require('codegemma').trigger()"), "the plugin did not send a request"

    def ghost_or_answer():
        shown = nvim.exec_lua("return require('codegemma.ghost').shown(0)")
        if shown:
            return shown
        if not nvim.exec_lua("return require('codegemma.suggestion').pending()"):
            messages = nvim.api.exec2("messages", {"output": True})["output"]
            pytest.fail(f"the server answered without a suggestion; messages: {messages!r}")
        return None

    ghost = wait_for(ghost_or_answer, GHOST_TIMEOUT, "ghost text from codegemma lsp", interval=0.25)
    assert nvim.current.buffer[:] == before, "ghost text must not change the buffer before it is accepted"

    nvim.input("<Tab>")
    ghost_lines = ghost.split("\n")
    expected = before[: row - 1] + [indent + ghost_lines[0]] + ghost_lines[1:] + before[row:]
    wait_for(lambda: nvim.current.buffer[:] == expected, 10, "the accepted completion in the buffer")
    assert nvim.exec_lua("return require('codegemma.ghost').shown(0)") is None
    end_row = row + len(ghost_lines) - 1
    end_col = (len(indent) if len(ghost_lines) == 1 else 0) + len(ghost_lines[-1].encode())
    assert tuple(nvim.current.window.cursor) == (end_row, end_col)

    text = "\n".join(nvim.current.buffer[:]) + "\n"
    ast.parse(text)  # the accepted completion left a valid file
    assert stats(nvim)["accepted"] == 1, "accepting must run the item's command"
