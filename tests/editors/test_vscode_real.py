"""The packaged extension inside real VS Code: code-server 4.100.3 (VS Code 1.100.3) in headless Chromium.

Needs what editors/vscode/test-real/install.sh installs (.ci/run runs it); skipped, naming the script, until
then. code-server runs under setsid with its own user-data, extensions and XDG dirs, and its process group is
killed at the end (it keeps the extension host alive long after the browser leaves); the browser may reach
127.0.0.1 only. tests/editors/vscode_real.js plays the steps; what reached the server is read from the scripted
server's log, what was accepted from the saved file (the screen shows the next suggestion too). Screenshots of
each state go to the test's tmp dir, or with CODEGEMMA_SCREENSHOTS=1 to editors/vscode/screenshots/ (the
README shows those).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tests.editors.nvim_driver import events, scripted_server
from tests.editors.test_vscode_build import vsix  # noqa: F401  (the module fixture that builds the .vsix)

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("CODEGEMMA_VSCODE_DIR", Path.home() / ".cache" / "codegemma-vscode"))
CODE_SERVER = TOOLS / "node_modules" / ".bin" / "code-server"
PLAYWRIGHT = TOOLS / "node_modules" / "playwright-core"
CHROMIUM = shutil.which("chromium")
SCREENSHOTS = ROOT / "editors" / "vscode" / "screenshots"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (TOOLS / "ready").exists() or CHROMIUM is None,
        reason=f"code-server/Chromium/playwright-core not installed: run bash editors/vscode/test-real/install.sh "
        f"(installs into {TOOLS})",
    ),
]

SAMPLE = "def total_of(values):\n    total = 0\n    for value in values:\n        total += value\n    \n"
USER_SETTINGS = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.welcomePage.walkthroughs.openOnInstall": False,
    "security.workspace.trust.enabled": False,
    "extensions.autoUpdate": False,
    "extensions.autoCheckUpdates": False,
    "telemetry.telemetryLevel": "off",
    "editor.inlineSuggest.enabled": True,
    "editor.quickSuggestions": {"other": False, "comments": False, "strings": False},
    "editor.suggestOnTriggerCharacters": False,
    "files.autoSave": "off",
    "window.restoreWindows": "none",
    "chat.disableAIFeatures": True,
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CodeServer:
    def __init__(self, home: Path, vsix_path: Path):
        self.home = home
        self.extensions = home / "extensions"
        self.user_data = home / "user-data"
        (self.user_data / "User").mkdir(parents=True)
        self.env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
                    "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}  # fmt: skip
        self.process: subprocess.Popen | None = None
        dirs = ["--extensions-dir", str(self.extensions), "--user-data-dir", str(self.user_data)]
        self.dirs = dirs
        result = subprocess.run([str(CODE_SERVER), *dirs, "--install-extension", str(vsix_path)],
                                capture_output=True, text=True, timeout=120, env=self.env)  # fmt: skip
        assert result.returncode == 0, f"code-server --install-extension failed:\n{result.stdout}\n{result.stderr}"

    def start(self, workspace: Path, settings: dict, env: dict[str, str]) -> str:
        (self.user_data / "User" / "settings.json").write_text(json.dumps({**USER_SETTINGS, **settings}, indent=1))
        port = _free_port()
        self.log = open(self.home / f"code-server-{port}.log", "w")
        command = [str(CODE_SERVER), *self.dirs, "--auth", "none", "--disable-telemetry", "--disable-update-check",
                   "--disable-workspace-trust", "--bind-addr", f"127.0.0.1:{port}", str(workspace)]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env={**self.env, **env},
                                        start_new_session=True)  # fmt: skip
        url = f"http://127.0.0.1:{port}/?folder={workspace}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                return url
            except OSError:
                assert self.process.poll() is None, (self.home / f"code-server-{port}.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "code-server did not answer /healthz within 60 s"
                time.sleep(0.3)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        try:  # the extension host and language server outlive code-server's main process
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, AttributeError, PermissionError):
            pass
        self.process = None


@pytest.fixture(scope="module")
def code_server(vsix, tmp_path_factory):  # noqa: F811
    server = CodeServer(tmp_path_factory.mktemp("code-server"), vsix)
    yield server
    server.stop()


def play(url: str, steps: list[dict], tmp_path: Path) -> dict:
    screenshots = SCREENSHOTS if os.environ.get("CODEGEMMA_SCREENSHOTS") == "1" else tmp_path
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "url": url,
                "chromium": CHROMIUM,
                "screenshots": str(screenshots),
                "steps": steps,
                "failureScreenshot": str(tmp_path / "failure.png"),
            }
        )
    )
    driver = Path(__file__).with_name("vscode_real.js")
    result = subprocess.run(["node", str(driver), str(PLAYWRIGHT), str(scenario)], capture_output=True, text=True,
                            timeout=240)  # fmt: skip
    assert result.stdout.strip(), f"vscode_real.js printed nothing:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout.strip().splitlines()[-1])
    done = [(step["do"], step.get("name")) for step in report["steps"]]
    assert "error" not in report, f"{report['error']}\nsteps: {done}\nscreen: {tmp_path / 'failure.png'}"
    return report


def values(report: dict, do: str) -> list:
    return [step.get("value") for step in report["steps"] if step["do"] == do]


def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "totals.py").write_text(SAMPLE)
    return folder


def scripted(tmp_path: Path, **options) -> tuple[Path, dict, dict]:
    log = tmp_path / "server.jsonl"
    server = scripted_server(log, **options)
    settings = {"codegemma.server.command": server["cmd"][0], "codegemma.server.args": server["cmd"][1:]}
    return log, settings, server["cmd_env"]


def test_ghost_text_tab_accept_status_and_hint_with_a_scripted_server(code_server, tmp_path):
    log, settings, env = scripted(tmp_path, completion="return total", delay=1.0)
    folder = workspace(tmp_path)
    url = code_server.start(folder, settings, env)
    try:
        report = play(url, [
            {"do": "open", "file": "totals.py"},
            {"do": "wait", "ms": 3000},  # the language server starts
            {"do": "goto", "line": 5, "column": 5},
            {"do": "type", "text": "x"},
            {"do": "press", "key": "Backspace", "wait": 0},
            {"do": "status", "contains": "CodeGemma", "spinning": True},
            {"do": "screenshot", "name": "status-waiting"},
            {"do": "ghost"},
            {"do": "status", "contains": " ms"},
            {"do": "screenshot", "name": "ghost-text"},
            {"do": "press", "key": "Tab", "wait": 800},
            {"do": "press", "key": "Control+S", "wait": 800},
            {"do": "command", "name": "CodeGemma: Hint for the function at the cursor"},
            {"do": "notification", "contains": "Hint:"},
            {"do": "screenshot", "name": "hint"},
            {"do": "click", "selector": "[id$='codegemma.status']", "wait": 800},
            {"do": "status", "contains": "off"},
            {"do": "screenshot", "name": "status-off"},
        ], tmp_path)  # fmt: skip
    finally:
        code_server.stop()
    assert events(log, "initialize"), "the extension did not start the server on opening a Python file"
    assert "return total" in values(report, "ghost")[0]
    waiting, answered, off = values(report, "status")
    assert waiting["spinning"] and "CodeGemma" in waiting["text"], waiting  # the server answers after 1 s
    assert answered["text"].endswith(" ms") and not answered["spinning"], answered
    assert "off" in off["text"]
    # Tab accepted: the saved file has the text, and the item's command reached the server.
    assert (folder / "totals.py").read_text() == SAMPLE.replace("    \n", "    return total\n")
    assert [event["item_id"] for event in events(log, "accepted")] == ["item-1"]
    assert "Hint: what should the loop keep track of?" in values(report, "notification")[0]
    assert events(log, "hint")[0]["arguments"]["position"]["line"] == 4


def test_manual_trigger_cycles_alternatives_and_word_accept_reports_what_was_kept(code_server, tmp_path):
    alternatives = ["return total", "raise ValueError(values)"]
    log, settings, env = scripted(tmp_path, completion="return total", delay=0.2, alternatives=alternatives)
    folder = workspace(tmp_path)
    url = code_server.start(folder, settings, env)
    try:
        report = play(url, [
            {"do": "open", "file": "totals.py"},
            {"do": "wait", "ms": 3000},
            {"do": "goto", "line": 5, "column": 5},
            {"do": "command", "name": "Trigger Inline Suggestion", "wait": 0},
            {"do": "ghost"},
            {"do": "press", "key": "Alt+BracketRight", "wait": 800},  # Show Next Inline Suggestion
            {"do": "ghost"},
            {"do": "screenshot", "name": "cycling"},
            {"do": "press", "key": "Control+ArrowRight", "wait": 600},  # Accept Next Word Of Inline Suggestion
            {"do": "screenshot", "name": "word-accept"},
            {"do": "press", "key": "Escape"},
            {"do": "press", "key": "Control+S", "wait": 800},
            {"do": "goto", "line": 1, "column": 1},
        ], tmp_path)  # fmt: skip
    finally:
        code_server.stop()
    assert [request["trigger_kind"] for request in events(log, "request")][:1] == [1]  # 1: Invoked
    first, second = values(report, "ghost")
    assert "return total" in first and "raise ValueError(values)" in second
    saved = (folder / "totals.py").read_text().splitlines()[4]
    assert saved.startswith("    raise") and "ValueError" not in saved, saved
    kept = saved[4:]
    partial = [event for event in events(log, "suggestion_event") if event["kind"] == "partial"]
    assert partial and partial[0]["item"] == "item-2" and partial[0]["accepted"] == kept, events(
        log, "suggestion_event"
    )
    assert not events(log, "accepted")


def test_ghost_text_from_the_real_language_server_on_the_bundled_model(code_server, tmp_path):
    folder = workspace(tmp_path)
    settings = {"codegemma.server.command": sys.executable, "codegemma.server.args": ["-m", "cli", "lsp"],
                "codegemma.maxTokens": 16, "codegemma.alternatives": 1}  # fmt: skip
    url = code_server.start(folder, settings, {})
    try:
        report = play(url, [
            {"do": "open", "file": "totals.py"},
            {"do": "wait", "ms": 3000},
            {"do": "goto", "line": 5, "column": 5},
            {"do": "ghost", "retrigger": True, "each": 45000, "timeout": 150000},  # loading the model takes 10-70 s
            {"do": "screenshot", "name": "bundled-model"},
            {"do": "press", "key": "Tab", "wait": 800},
            {"do": "press", "key": "Control+S", "wait": 800},
            {"do": "command", "name": "CodeGemma: Show completion statistics"},
            {"do": "notification", "contains": "accepted"},
        ], tmp_path)  # fmt: skip
    finally:
        code_server.stop()
    (ghost,) = values(report, "ghost")
    assert ghost.strip(), "no ghost text from the bundled model"
    saved = (folder / "totals.py").read_text()
    assert saved.startswith(SAMPLE[: -len("    \n")]) and saved != SAMPLE
    assert ghost.splitlines()[0].strip() in saved
    assert "1 accepted" in values(report, "notification")[0]
