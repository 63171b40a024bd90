"""The VS Code extension builds into a .vsix that carries what it needs and works.

Runs `editors/vscode/build.sh` (npm ci, tsc, the extension's own `node --test`
unit tests, `vsce package`) once per module, then opens the .vsix as the zip
it is. VS Code itself cannot be downloaded here, so the packaged extension is
run by vscode_host.js, a minimal stand-in for the extension host: the
extension and vscode-languageclient start a language server, register their
features from its capabilities, and are then used as VS Code would use them
(inline completion provider, accept command, hint from the palette, mode
toggle, stats) -- against a scripted server whose log shows what went over
the wire, and against the real `codegemma lsp` (no model needed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from tests.editors.nvim_driver import events, scripted_server

ROOT = Path(__file__).resolve().parents[2]
VSCODE = ROOT / "editors" / "vscode"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not on PATH: cannot build the VS Code extension"),
]

#: Loads the unpacked extension with `vscode` stubbed; prints the exported names.
LOAD_SCRIPT = r"""
const Module = require("module");
const inert = new Proxy(function () {}, {
  get: (target, key) => (key === Symbol.toPrimitive ? () => "" : inert),
  apply: () => inert,
  construct: () => inert,
});
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === "vscode" ? "vscode" : resolve.call(this, request, ...rest);
};
require.cache["vscode"] = { id: "vscode", filename: "vscode", loaded: true, exports: inert };
const extension = require(process.argv[1]);
console.log(JSON.stringify(Object.keys(extension).sort()));
"""


@pytest.fixture(scope="module")
def vsix() -> Path:
    result = subprocess.run(["bash", str(VSCODE / "build.sh")], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"build.sh failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    built = sorted(VSCODE.glob("codegemma-fim-*.vsix"))
    assert len(built) == 1, built
    return built[0]


@pytest.fixture(scope="module")
def unpacked(vsix, tmp_path_factory) -> Path:
    """The extension directory as VS Code installs it from the .vsix."""
    target = tmp_path_factory.mktemp("vsix")
    with zipfile.ZipFile(vsix) as archive:
        archive.extractall(target)
    return target / "extension"


def run_host(extension: Path, document: Path, scenario: dict, env: dict[str, str]) -> dict:
    """Runs the packaged extension in vscode_host.js; returns its report."""
    scenario_file = document.with_suffix(".scenario.json")
    scenario_file.write_text(json.dumps(scenario))
    host = Path(__file__).with_name("vscode_host.js")
    result = subprocess.run(["node", str(host), str(extension), str(document), str(scenario_file)],
                            capture_output=True, text=True, timeout=180, env={**os.environ, **env})  # fmt: skip
    assert result.stdout.strip(), f"vscode_host.js printed nothing:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert result.returncode == 0, f"{report.get('error')}\nserver log: {report['log'][-20:]}"
    return report


SAMPLE = "def total_of(values):\n    total = 0\n    for value in values:\n        total += value\n    \n"


def _manifest(vsix: Path) -> dict:
    with zipfile.ZipFile(vsix) as archive:
        return json.loads(archive.read("extension/package.json"))


def test_manifest_contributes_commands_and_settings(vsix):
    manifest = _manifest(vsix)
    assert manifest["main"] == "./out/extension.js"
    assert manifest["engines"]["vscode"].lstrip("^") >= "1.91.0"  # vscode-languageclient 11 needs 1.91
    assert any(event.startswith("onLanguage:python") for event in manifest["activationEvents"])
    commands = {command["command"] for command in manifest["contributes"]["commands"]}
    assert {"codegemma.hint", "codegemma.toggleMode", "codegemma.showStats"} <= commands
    settings = manifest["contributes"]["configuration"]["properties"]
    assert settings["codegemma.mode"]["enum"] == ["complete", "hint"]
    assert settings["codegemma.mode"]["default"] == "complete"
    assert set(settings["codegemma.backend"]["enum"]) == {"local", "http", "llama.cpp", "openai", "ollama"}
    assert settings["codegemma.server.command"]["default"] == "codegemma"
    for key in ("url", "apiKey", "model", "adapter", "fimFormat", "contextTokens", "maxTokens", "hintModel"):
        assert f"codegemma.{key}" in settings


def test_vsix_contains_compiled_code_and_runtime_dependencies(vsix):
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        client = json.loads(archive.read("extension/node_modules/vscode-languageclient/package.json"))
    assert {"extension/out/extension.js", "extension/out/settings.js", "extension/LICENSE.txt"} <= names
    assert int(client["version"].split(".")[0]) >= 11, "inline completion is built in from vscode-languageclient 11"
    lock = json.loads((VSCODE / "package-lock.json").read_text())
    runtime = [path for path, info in lock["packages"].items() if path and not info.get("dev")]
    assert runtime, "package-lock.json lists no runtime dependency"
    missing = [path for path in runtime if f"extension/{path}/package.json" not in names]
    assert not missing, f"runtime dependencies missing from the .vsix: {missing}"
    # Sources, tests and build tools stay out of what users install.
    leaked = [name for name in names if name.startswith(("extension/src/", "extension/out/test/"))]
    leaked += [name for name in names if "/node_modules/typescript/" in name or "/node_modules/@vscode/vsce/" in name]
    assert not leaked, leaked[:5]


def test_unpacked_extension_loads_with_its_bundled_modules(unpacked, tmp_path):
    entry = unpacked / "out" / "extension.js"
    result = subprocess.run(["node", "-e", LOAD_SCRIPT, str(entry)], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["activate", "deactivate"]


def test_extension_drives_the_server_as_vscode_would(unpacked, tmp_path):
    log = tmp_path / "server.jsonl"
    document = tmp_path / "totals.py"
    document.write_text(SAMPLE)
    server = scripted_server(log, completion="return total")
    settings = {
        "codegemma.server.command": server["cmd"][0],
        "codegemma.server.args": server["cmd"][1:],
        "codegemma.maxTokens": 16,
        "codegemma.url": "  ",  # blank: left to the server
    }
    report = run_host(unpacked, document, {"line": 4, "character": 4, "settings": settings}, server["cmd_env"])

    # Settings: snake_case, defaults included, blanks left out; a change is sent whole.
    expected = {
        "backend": "local",
        "context_tokens": 1024,
        "max_tokens": 16,
        "alternatives": 3,
        "mode": "complete",
        "prefetch": True,
        "feedback_log": False,
    }
    assert events(log, "initialize")[0]["initialization_options"] == expected
    assert events(log, "initialize")[0]["inline_capability"]
    assert events(log, "configuration")[-1]["settings"] == {"codegemma": {**expected, "mode": "hint"}}

    # Inline completion through the provider vscode-languageclient registered, then accepted.
    assert "registerInlineCompletionItemProvider" in report["providers"]
    cursor = {"line": 4, "character": 4}
    assert report["items"] == [{"insertText": "return total", "range": {"start": cursor, "end": cursor},
                                "command": {"command": "codegemma.accepted", "arguments": ["item-1"]}}]  # fmt: skip
    assert [event["item_id"] for event in events(log, "accepted")] == ["item-1"]

    # `codegemma.hint` from the palette: the extension fills in the active editor's position.
    (hint,) = events(log, "hint")
    assert hint["arguments"] == {"textDocument": {"uri": document.as_uri()}, "position": cursor}
    assert report["hint"] == {"hint": "Hint: what should the loop keep track of?"}
    shown = [message["message"] for message in report["messages"] if message["level"] == "info"]
    assert "Hint: what should the loop keep track of?" in shown  # the server's window/showMessage
    assert any(re.search(r"1 shown, 1 accepted \(100%\)", message) for message in shown), shown
    assert not [message for message in report["messages"] if message["level"] == "error"]


def test_extension_starts_the_real_language_server(unpacked, tmp_path):
    """`codegemma lsp` offers what the extension relies on; no completion is requested (no model)."""
    document = tmp_path / "sample.py"
    document.write_text(SAMPLE)
    settings = {"codegemma.server.command": sys.executable, "codegemma.server.args": ["-m", "cli", "lsp"]}
    scenario = {"line": 4, "character": 4, "settings": settings, "inline": False, "hint": False}
    env = {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    report = run_host(unpacked, document, scenario, env)
    assert "registerInlineCompletionItemProvider" in report["providers"]
    assert {"codegemma.hint", "codegemma.accepted"} <= set(report["commands"])
    assert not [message for message in report["messages"] if message["level"] == "error"], report["messages"]
    stats = [message["message"] for message in report["messages"] if message["message"].startswith("CodeGemma:")]
    assert stats and re.search(r"\d+ requests \(\d+ cancelled\)", stats[0]), report["messages"]
