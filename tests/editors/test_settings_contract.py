"""Both editor clients offer exactly the server's settings, with the server's choices.

A setting the server does not know is silently ignored by it, and one the
clients lack cannot be set from the editor; both go unnoticed without this
check. The server's own definition (`lsp.protocol.Settings`) is the reference.
"""

from __future__ import annotations

import json
import re
import subprocess

from tests.editors.nvim_driver import NVIM, PLUGIN, ROOT, needs_nvim

from lsp.protocol import BACKENDS, MODES, Settings

VSCODE_MANIFEST = ROOT / "editors" / "vscode" / "package.json"
CLIENT_ONLY = {"server.command", "server.args", "languages", "enable", "snoozeMinutes"}


def _snake(name: str) -> str:
    return re.sub(r"[A-Z]", lambda upper: "_" + upper.group().lower(), name)


def test_vscode_settings_are_the_servers():
    properties = json.loads(VSCODE_MANIFEST.read_text())["contributes"]["configuration"]["properties"]
    names = {key.removeprefix("codegemma.") for key in properties}
    assert {_snake(name) for name in names - CLIENT_ONLY} == set(Settings.names())
    assert properties["codegemma.backend"]["enum"] == list(BACKENDS)
    assert properties["codegemma.mode"]["enum"] == list(MODES)
    defaults = Settings()
    for name in names - CLIENT_ONLY:
        default = properties[f"codegemma.{name}"].get("default")
        if default not in (None, ""):  # blank means "leave it to the server"
            assert default == getattr(defaults, _snake(name)), name


@needs_nvim
def test_neovim_settings_are_the_servers():
    script = f"vim.opt.rtp:prepend({json.dumps(str(PLUGIN))}); " \
             "io.stdout:write(vim.json.encode(require('codegemma.config').server_settings))"  # fmt: skip
    result = subprocess.run([NVIM, "--headless", "--clean", "-l", "-"], input=script, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    types = json.loads(result.stdout)
    assert set(types) == set(Settings.names())
    defaults = Settings()
    for name, kind in types.items():
        default = getattr(defaults, name)
        if default is not None:
            assert kind == {str: "string", int: "number", bool: "boolean"}[type(default)], name
