"""The language server sends document text only to the backend the user configured (issue #12, security).

`codegemma lsp` runs in a subprocess with a Python audit hook (installed by a
`sitecustomize` on its path) that records every socket connect, DNS lookup
and datagram send the process makes. A session opens a document holding a
marker, edits it, moves the cursor (prefetch), asks for completions and a
hint, then shuts down: every connection must go to the configured backend's
address, and the marker must have reached that backend, so the check is not
vacuous. With the in-process backend the server must open no network
connection at all.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


from evals.lsp_wire import WireClient, server_command
from evals.scripted_backend import ScriptedBackend

MARKER = "SECRET_MARKER_7f3a"
TEXT = f"API = '{MARKER}'\n\ndef f(x):\n    return \n"
URI = "file:///work/space/app.py"

SITECUSTOMIZE = """
import json, os, sys
_log = open(os.environ["CODEGEMMA_AUDIT_LOG"], "a", buffering=1)
_EVENTS = {"socket.connect", "socket.getaddrinfo", "socket.sendto", "socket.sendmsg"}
def _hook(event, args):
    if event in _EVENTS:
        what = args[1] if event in ("socket.connect", "socket.sendto") else args[:2]
        if event == "socket.connect" and isinstance(what, (str, bytes)):  # a unix socket path
            what = ["unix", str(what)]
        _log.write(json.dumps([event, what], default=str) + "\\n")
sys.addaudithook(_hook)
_log.write(json.dumps(["hook", sys.argv]) + "\\n")
"""


def audited_env(tmp_path: Path) -> tuple[dict[str, str], Path]:
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "audit.jsonl"
    _, env = server_command()
    env["PYTHONPATH"] = os.pathsep.join([str(hook_dir), env["PYTHONPATH"]])
    env["CODEGEMMA_AUDIT_LOG"] = str(log)
    return env, log


def session(client: WireClient, hint: bool) -> None:
    """What an editor does: open, edit, move, ask (automatic and invoked), maybe ask for a hint, shut down."""
    client.initialize()
    client.open(URI, TEXT)
    client.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 2},
                                             "contentChanges": [{"text": TEXT + "\nprint(f(1))\n"}]})  # fmt: skip
    client.notify("codegemma/cursor", {"textDocument": {"uri": URI}, "position": {"line": 3, "character": 11}})
    for kind in (2, 1):
        answer = client.call("textDocument/inlineCompletion",
                             {"textDocument": {"uri": URI}, "position": {"line": 3, "character": 11},
                              "context": {"triggerKind": kind}}, timeout=120)  # fmt: skip
        assert "result" in answer, answer
    if hint:  # the fuller hint runs on the in-process chat model, whatever the completion backend
        answer = client.call("workspace/executeCommand", {"command": "codegemma.hint", "arguments": [
            {"textDocument": {"uri": URI}, "position": {"line": 3, "character": 11}}]}, timeout=120)  # fmt: skip
        assert "result" in answer, answer
    assert "result" in client.call("shutdown", timeout=30)
    client.notify("exit")
    client.process.wait(timeout=30)


def events(log: Path) -> list[list]:
    time.sleep(0.1)
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_document_text_goes_only_to_the_configured_backend(tmp_path):
    env, log = audited_env(tmp_path)
    with ScriptedBackend("value\n") as backend:
        host, port = backend.url.removeprefix("http://").split(":")
        client = WireClient("--backend", "http", "--url", backend.url, env=env)
        try:
            session(client, hint=False)
        finally:
            client.close(timeout=5)
        sent = [json.dumps(body) for _, body in backend.requests]
    seen = [e for e in events(log) if e[0] != "hook"]
    connects = [tuple(what) for event, what in seen if event == "socket.connect"]
    assert connects, "the audit hook saw no connection: the test would prove nothing"
    assert set(connects) == {(host, int(port))}, seen
    assert all(tuple(what) == (host, int(port)) for event, what in seen if event == "socket.getaddrinfo"), seen
    assert not [e for e in seen if e[0] in ("socket.sendto", "socket.sendmsg")], seen
    assert any(MARKER in body for body in sent), "the document never reached the configured backend"


def test_the_in_process_backend_opens_no_network_connection(tmp_path, tiny_model_dir):
    env, log = audited_env(tmp_path)
    client = WireClient("--model", str(tiny_model_dir), "--max-tokens", "4", env=env)
    try:
        session(client, hint=True)
    finally:
        client.close(timeout=5)
    seen = events(log)
    assert seen and seen[0][0] == "hook", "the audit hook did not run in the server: the test would prove nothing"
    network = [e for e in seen[1:] if e[0] != "socket.connect" or e[1][0] != "unix"]
    assert network == [], network
