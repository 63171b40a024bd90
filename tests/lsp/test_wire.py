"""The server on the raw wire: messages pygls' own client would never send.

One `codegemma lsp` subprocess serves the module (a scripted-free one: no
request here needs a model), so every test ends by checking that the server
still answers; a test that broke the stream fails there, and so do the rest.
"""

from __future__ import annotations

import json

import pytest

from evals.lsp_wire import WireClient, frame
from evals.scripted_backend import ScriptedBackend

PROBE_TIMEOUT_S = 10.0
URI = "file:///work/space/wire.py"


@pytest.fixture(scope="module")
def wire():
    with WireClient() as client:
        client.initialize()
        client.open(URI, "def f(x):\n    return x\n")
        yield client


def still_serving(wire: WireClient) -> None:
    """The server answers a fresh request, and nothing showed the user an error popup."""
    answer = wire.call("codegemma/stats", {}, timeout=PROBE_TIMEOUT_S)
    assert "result" in answer, answer
    assert [p for p in wire.popups() if p.startswith("Error in server")] == []


def stats_body(msg_id: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "codegemma/stats", "params": {}}).encode()


def test_a_request_without_params_is_answered(wire: WireClient):
    """JSON-RPC lets a request omit `params` (Neovim's `client:request(method)` does); it must still be answered."""
    answer = wire.call("codegemma/stats")
    assert answer["result"]["requests"] == 0
    still_serving(wire)


# --- framing ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"Content-Length: abc\r\n\r\n" + stats_body(901),
        b"Content-Type: application/vscode-jsonrpc\r\n\r\n" + stats_body(902),
        b"\r\n\r\nnot a header at all\r\n" + stats_body(903),
    ],
    ids=["length-not-a-number", "no-content-length", "junk-lines"],
)
def test_a_frame_without_a_usable_length_is_skipped_and_the_next_frame_is_read(wire: WireClient, garbage: bytes):
    wire.send_bytes(garbage)
    still_serving(wire)


@pytest.mark.parametrize("delta", [-20, -1, +1, +30, +5000], ids=lambda d: f"length{d:+d}")
def test_a_wrong_content_length_still_answers_the_request_and_the_next_one(wire: WireClient, delta: int):
    msg_id = 10_000 + delta
    body = stats_body(msg_id)
    wire.send_bytes(b"Content-Length: %d\r\n\r\n" % (len(body) + delta) + body)
    still_serving(wire)
    answer = wire.wait(msg_id, PROBE_TIMEOUT_S)
    assert answer is not None and "result" in answer
    assert len(wire.responses[msg_id]) == 1


def test_a_wrong_content_length_alone_is_answered_without_waiting_for_more(wire: WireClient):
    """A too-long length on the last frame the client sends: nothing else comes to end the body."""
    body = stats_body(920)
    wire.send_bytes(b"Content-Length: %d\r\n\r\n" % (len(body) + 100) + body)
    answer = wire.wait(920, PROBE_TIMEOUT_S)
    assert answer is not None and "result" in answer
    still_serving(wire)


@pytest.mark.parametrize("body", [b'{"jsonrpc": "2.0", "id": 930, "meth', b"{not json}", b"[]", b"42"])
def test_a_body_that_is_not_a_message_is_answered_with_an_error(wire: WireClient, body: bytes):
    wire.send_bytes(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    still_serving(wire)
    errors = wire.responses.pop(None, [])  # JSON-RPC answers a message it cannot read with id null
    assert errors and errors[-1]["error"]["code"] in (-32700, -32600)


# --- invalid requests --------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        [1, 2],
        {"textDocument": 5, "position": {"line": 0, "character": 0}},
        {"textDocument": {"uri": URI}, "position": {"line": -1, "character": 0}},
        {"textDocument": {"uri": URI}, "position": {"line": 0, "character": -3}},
        {"textDocument": {"uri": URI}},
    ],
    ids=["array", "uri-not-an-object", "negative-line", "negative-character", "no-position"],
)
def test_invalid_params_get_an_invalid_params_error_for_that_id(wire: WireClient, params):
    answer = wire.call("textDocument/inlineCompletion", params)
    assert answer["error"]["code"] == -32602
    assert "traceback" not in json.dumps(answer)
    still_serving(wire)


@pytest.mark.parametrize("params", [{"foo": 1}, [URI], {"textDocument": {"uri": URI}, "position": "end"}])
def test_bad_params_to_codegemma_prompt_name_the_problem(wire: WireClient, params):
    answer = wire.call("codegemma/prompt", params)
    assert answer["error"]["code"] == -32602 and "position" in answer["error"]["message"]
    assert "data" not in answer["error"] or "traceback" not in answer["error"]["data"]
    still_serving(wire)


@pytest.mark.parametrize(
    "extra",
    [{}, {"method": 7}, {"method": "codegemma/stats", "jsonrpc": "1.0"}],
    ids=["no-method", "method-not-a-string", "wrong-version"],
)
def test_a_request_that_is_not_a_request_gets_invalid_request(wire: WireClient, extra):
    wire.send({"jsonrpc": "2.0", "id": 940, **extra})
    answer = wire.wait(940, PROBE_TIMEOUT_S)
    assert answer is not None and answer["error"]["code"] == -32600
    wire.responses.pop(940)
    still_serving(wire)


def test_an_unknown_method_gets_method_not_found(wire: WireClient):
    assert wire.call("codegemma/nonsense", {})["error"]["code"] == -32601
    still_serving(wire)


def test_edits_of_unopened_documents_and_cancels_of_unknown_ids_are_ignored(wire: WireClient):
    wire.notify("textDocument/didChange", {"textDocument": {"uri": "file:///nope.py", "version": 2},
                                           "contentChanges": [{"text": "x"}]})  # fmt: skip
    wire.notify("textDocument/didClose", {"textDocument": {"uri": "file:///nope.py"}})
    wire.notify("$/cancelRequest", {"id": 123456})
    wire.notify("textDocument/didChange", {"textDocument": 5})
    still_serving(wire)
    assert wire.popups() == []


@pytest.mark.parametrize("params", [{"id": [1]}, {"id": {"a": 1}}, {"id": None}, {"id": True}, {}, [7], None])
def test_a_cancel_with_an_id_that_is_no_id_is_ignored(wire: WireClient, params):
    # Found by `python -m evals.fuzz_lsp --seed 2`: a list id made pygls raise TypeError and the server exit.
    wire.notify("$/cancelRequest", params)
    still_serving(wire)
    assert wire.alive


@pytest.mark.parametrize("language_id", [5, 1.5, True])
def test_an_open_whose_language_id_is_not_a_string_is_ignored_without_a_popup(wire: WireClient, language_id):
    # Found by `python -m evals.fuzz_lsp --cases 5000 --seed 1`: "Error in server: AttributeError ... isascii".
    wire.notify("textDocument/didOpen", {"textDocument": {"uri": "file:///work/space/lang.py", "version": 1,
                                                          "languageId": language_id, "text": "x = 1\n"}})  # fmt: skip
    still_serving(wire)
    assert not [p for p in wire.popups() if "Error in server" in p]


def test_requests_after_shutdown_get_invalid_request():
    with WireClient() as client:
        client.initialize()
        assert client.call("shutdown")["result"] is None
        assert client.call("codegemma/stats", {})["error"]["code"] == -32600
        client.notify("exit")
        assert client.process.wait(timeout=30) == 0


def test_a_document_with_a_lone_surrogate_breaks_no_other_document():
    """A JS client can send half a surrogate pair; it becomes U+FFFD (one unit in every encoding)."""
    root = "file:///work/space"

    def at(name: str, line: int, character: int) -> dict:
        return {"textDocument": {"uri": f"{root}/{name}"}, "position": {"line": line, "character": character},
                "context": {"triggerKind": 2}}  # fmt: skip

    with ScriptedBackend("1") as backend, WireClient("--backend", "http", "--url", backend.url) as client:
        client.initialize()
        client.open(f"{root}/bad.py", "x = '\ud800'\n")
        client.open(f"{root}/good.py", "y = 1\n")
        client.open(f"{root}/user.py", "import bad\nz = \n")
        view = client.call("codegemma/prompt", at("good.py", 0, 5))["result"]
        assert view["context"] == []  # good.py imports nothing
        view = client.call("codegemma/prompt", at("bad.py", 0, 7))["result"]
        assert view["prefix"] == "x = '\ufffd'"
        view = client.call("codegemma/prompt", at("user.py", 1, 4))["result"]
        assert [(c["path"], c["content"]) for c in view["context"]] == [("bad.py", "x = '\ufffd'\n")]
        for name, line, character in [("good.py", 0, 5), ("bad.py", 0, 6), ("user.py", 1, 4)]:
            answer = client.call("textDocument/inlineCompletion", at(name, line, character))
            assert answer["result"]["items"][0]["insertText"] == "1", answer
        client.notify("textDocument/didChange", {"textDocument": {"uri": f"{root}/good.py", "version": 2},
                                                 "contentChanges": [{"text": "y = '\udfff'\n"}]})  # fmt: skip
        assert client.call("codegemma/prompt", at("good.py", 0, 6))["result"]["prefix"] == "y = '\ufffd"
        assert client.popups() == []
    sent = json.dumps([body for _, body in backend.requests], ensure_ascii=False)
    completions = [body for _, body in backend.requests if body.get("n_predict") != 0]  # not the cache warm-ups
    assert len(completions) == 3 and "\ufffd" in sent  # the backend got text it can encode


def test_frame_is_what_the_server_reads():
    assert frame({"a": "\ud800"}) == b'Content-Length: 15\r\n\r\n{"a": "\\ud800"}'
