"""The VS Code extension builds into a .vsix that carries what it needs at run time.

Runs `editors/vscode/build.sh` (npm ci, tsc, the extension's own `node --test`
unit tests, `vsce package`) once per session, then opens the .vsix as the zip
it is. VS Code itself cannot run here, so the closest check of "it will load"
is to unpack the .vsix and `require` its entry point with node, the `vscode`
module replaced by an inert stand-in: every other module it needs must then
resolve from inside the package.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

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


def test_unpacked_extension_loads_with_its_bundled_modules(vsix, tmp_path):
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH")
    with zipfile.ZipFile(vsix) as archive:
        archive.extractall(tmp_path)
    entry = tmp_path / "extension" / "out" / "extension.js"
    result = subprocess.run(["node", "-e", LOAD_SCRIPT, str(entry)], capture_output=True, text=True, timeout=60,
                            cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["activate", "deactivate"]
