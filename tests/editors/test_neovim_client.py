"""The Neovim plugin's behaviour as a user meets it, against a scripted server.

A real headless Neovim runs the plugin; keys go in through `nvim_input`, so
the mappings, autocmds and timers are the real ones. The server is
scripted_lsp.py (a fixed completion after a fixed delay, every message logged)
so that what the client sends and draws can be checked exactly and fast; the
real `codegemma lsp` is driven by test_neovim_e2e.py.
"""

from __future__ import annotations

import time

import pytest
from tests.editors.nvim_driver import events, needs_nvim, scripted_server, wait_for

pytestmark = needs_nvim

SOURCE = """\
def total_of(values):
    total = 0
    for value in values:
        total += value
    
"""
#: 1-based row of the indented blank line at the end of the function body.
BODY_ROW = 5


def start(nvim, tmp_path, *, completion="turn total", delay=0.2, alternatives=None, **opts):
    """setup() with the scripted server, open a Python file, wait until the server is ready."""
    log = tmp_path / "server.jsonl"
    path = tmp_path / "totals.py"
    path.write_text(SOURCE)
    options = {**scripted_server(log, completion, delay, alternatives), "debounce_ms": 80, **opts}
    nvim.exec_lua("require('codegemma').setup(...)", options)
    nvim.command(f"edit {path}")
    wait_for(lambda: nvim.exec_lua(
        "local c = vim.lsp.get_clients({ name = 'codegemma', bufnr = 0 })[1]; return c ~= nil and c.initialized"
    ), 30, "the scripted server to initialize")  # fmt: skip
    return log, path


def insert_at_body(nvim):
    """Cursor at the end of the indented blank line, in insert mode (as after typing `A`)."""
    nvim.current.window.cursor = (BODY_ROW, 0)
    nvim.input("A")
    wait_for(lambda: nvim.api.get_mode()["mode"] == "i", 5, "insert mode")


def ghost(nvim):
    return nvim.exec_lua("return require('codegemma.ghost').shown(0)")


def line(nvim, row=BODY_ROW):
    return nvim.current.buffer[row - 1]


def test_settings_reach_the_server_at_start_and_on_change(nvim, tmp_path):
    log, _ = start(nvim, tmp_path, settings={"mode": "hint", "max_tokens": 16})
    (init,) = events(log, "initialize")
    assert init["initialization_options"] == {"mode": "hint", "max_tokens": 16}
    assert init["inline_capability"], "the client must announce inline completion support"
    wait_for(lambda: events(log, "configuration"), 5, "didChangeConfiguration after initialize")
    assert events(log, "configuration")[0]["settings"] == {"codegemma": {"mode": "hint", "max_tokens": 16}}

    nvim.command("CodegemmaMode")  # toggles hint -> complete
    wait_for(lambda: len(events(log, "configuration")) == 2, 5, "didChangeConfiguration after :CodegemmaMode")
    assert events(log, "configuration")[1]["settings"] == {"codegemma": {"mode": "complete", "max_tokens": 16}}


def test_empty_settings_are_a_json_object(nvim, tmp_path):
    log, _ = start(nvim, tmp_path)
    assert events(log, "initialize")[0]["initialization_options"] == {}


def test_typing_pause_requests_once_then_tab_accepts(nvim, tmp_path):
    log, _ = start(nvim, tmp_path, completion="turn total")
    insert_at_body(nvim)
    nvim.input("re")
    assert wait_for(lambda: ghost(nvim), 10, "ghost text") == "turn total"
    marks = nvim.exec_lua(
        "return vim.api.nvim_buf_get_extmarks(0, require('codegemma.ghost').ns, 0, -1, { details = true })"
    )
    assert [(mark[1], mark[2], mark[3]["virt_text_pos"]) for mark in marks] == [(BODY_ROW - 1, 6, "inline")]
    (request,) = events(log, "request")  # two keys and cursor moves, one request: debounced
    assert request["position"] == {"line": BODY_ROW - 1, "character": 6}
    assert request["trigger_kind"] == 2
    assert line(nvim) == "    re", "ghost text must not be in the buffer before it is accepted"

    nvim.input("<Tab>")
    wait_for(lambda: line(nvim) == "    return total", 5, "the accepted text in the buffer")
    assert tuple(nvim.current.window.cursor) == (BODY_ROW, len("    return total"))
    assert nvim.api.get_mode()["mode"] == "i"
    assert ghost(nvim) is None
    wait_for(lambda: events(log, "accepted"), 5, "the item's accept command")
    assert events(log, "accepted")[0]["item_id"] == "item-1"


def test_multiline_suggestion_is_drawn_below_and_inserted_whole(nvim, tmp_path):
    completion = "return total\n\n\nprint(total_of([1, 2]))"
    log, path = start(nvim, tmp_path, completion=completion, auto_trigger=False)
    insert_at_body(nvim)
    assert nvim.exec_lua("return require('codegemma').trigger()")
    assert wait_for(lambda: ghost(nvim), 10, "ghost text") == completion
    virt_lines = nvim.exec_lua(
        "return vim.api.nvim_buf_get_extmarks(0, require('codegemma.ghost').ns, 0, -1, { details = true })[1][4].virt_lines"
    )
    assert [chunks[0][0] for chunks in virt_lines] == ["", "", "print(total_of([1, 2]))"]
    assert events(log, "request")[0]["trigger_kind"] == 1  # invoked, not automatic

    nvim.input("<Tab>")
    wait_for(lambda: len(nvim.current.buffer) > 5, 5, "the accepted lines")
    assert nvim.current.buffer[BODY_ROW - 1 :] == ["    return total", "", "", "print(total_of([1, 2]))"]
    assert tuple(nvim.current.window.cursor) == (BODY_ROW + 3, len("print(total_of([1, 2]))"))


def test_typing_the_suggestion_keeps_it_and_diverging_drops_it(nvim, tmp_path):
    log, _ = start(nvim, tmp_path, completion="return total")
    insert_at_body(nvim)
    assert nvim.exec_lua("return require('codegemma').trigger()")
    wait_for(lambda: ghost(nvim), 10, "ghost text")
    nvim.input("ret")
    wait_for(lambda: ghost(nvim) == "urn total", 5, "the ghost text to follow the typing")
    time.sleep(0.3)  # longer than debounce_ms: no new request while the user types along
    assert len(events(log, "request")) == 1

    nvim.input("x")
    wait_for(lambda: ghost(nvim) is None, 5, "the ghost text to go")
    wait_for(lambda: len(events(log, "request")) == 2, 5, "a new request after the pause")
    assert events(log, "request")[1]["position"] == {"line": BODY_ROW - 1, "character": len("    retx")}


def test_a_new_edit_cancels_the_request_in_flight(nvim, tmp_path):
    log, _ = start(nvim, tmp_path, completion="x", delay=3.0, debounce_ms=30)
    insert_at_body(nvim)
    nvim.input("r")
    wait_for(lambda: events(log, "request"), 5, "the first request")
    nvim.input("e")
    wait_for(lambda: events(log, "cancelled"), 5, "the server to see $/cancelRequest")
    assert events(log, "cancelled")[0]["position"]["character"] == len("    r")
    wait_for(lambda: events(log, "answered"), 10, "the second request to be answered")
    assert [event["position"]["character"] for event in events(log, "answered")] == [len("    re")]
    assert wait_for(lambda: ghost(nvim), 5, "ghost text of the surviving request") == "x"


def test_tab_without_suggestion_is_a_tab_and_ctrl_bracket_dismisses(nvim, tmp_path):
    log, _ = start(nvim, tmp_path, completion="return total", auto_trigger=False)
    insert_at_body(nvim)
    nvim.input("<Tab>")
    wait_for(lambda: line(nvim) != "    ", 5, "Tab to indent")
    assert line(nvim).strip() == "" and len(line(nvim).expandtabs(4)) == 8

    assert nvim.exec_lua("return require('codegemma').trigger()")
    wait_for(lambda: ghost(nvim), 10, "ghost text")
    nvim.input("<C-]>")
    wait_for(lambda: ghost(nvim) is None, 5, "<C-]> to dismiss")
    assert line(nvim).strip() == ""

    assert nvim.exec_lua("return require('codegemma').trigger()")
    wait_for(lambda: ghost(nvim), 10, "ghost text")
    nvim.input("<Esc>")
    wait_for(lambda: ghost(nvim) is None, 5, "leaving insert mode to dismiss")
    assert not events(log, "accepted")


#: The cursor after `    s = "é😀"` in each encoding: é is 2 bytes / 1 UTF-16 unit, 😀 4 bytes / 2 units.
CURSOR_AFTER_EMOJI = {"utf-8": 16, "utf-16": 13, "utf-32": 12}


@pytest.mark.parametrize("encoding", sorted(CURSOR_AFTER_EMOJI))
def test_positions_follow_the_negotiated_encoding(nvim, tmp_path, encoding):
    # Offer only `encoding`, so the server has to pick it.
    nvim.exec_lua("""
        local encoding = ...
        local make = vim.lsp.protocol.make_client_capabilities
        vim.lsp.protocol.make_client_capabilities = function()
          local capabilities = make()
          capabilities.general.positionEncodings = { encoding }
          return capabilities
        end""", encoding)  # fmt: skip
    log, path = start(nvim, tmp_path, completion=" + 'ok'", auto_trigger=False)
    assert nvim.exec_lua("return vim.lsp.get_clients({ name = 'codegemma' })[1].offset_encoding") == encoding
    nvim.current.buffer[BODY_ROW - 1] = '    s = "é😀"'
    insert_at_body(nvim)
    assert nvim.exec_lua("return require('codegemma').trigger()")
    assert wait_for(lambda: ghost(nvim), 10, "ghost text") == " + 'ok'"
    assert events(log, "request")[0]["position"]["character"] == CURSOR_AFTER_EMOJI[encoding]
    nvim.input("<Tab>")
    wait_for(lambda: line(nvim) == "    s = \"é😀\" + 'ok'", 5, "the completion after the emoji")


def test_hint_key_sends_the_cursor_and_shows_the_answer(nvim, tmp_path):
    log, path = start(nvim, tmp_path)
    nvim.current.window.cursor = (3, 8)
    nvim.input("\\ch")  # <leader>ch, leader is backslash in a clean Neovim
    wait_for(lambda: events(log, "hint"), 5, "codegemma.hint")
    (where,) = [event["arguments"] for event in events(log, "hint")]
    assert where == {"textDocument": {"uri": path.as_uri()}, "position": {"line": 2, "character": 8}}
    wait_for(lambda: "what should the loop keep track of" in nvim.api.exec2("messages", {"output": True})["output"],
             5, "the hint among the messages")  # fmt: skip

    result = []
    nvim.exec_lua("require('codegemma').hint(function(result) _G.hint_result = result end)")
    wait_for(lambda: nvim.exec_lua("return _G.hint_result"), 5, "the command's result")
    result = nvim.exec_lua("return _G.hint_result")
    assert result == {"hint": "Hint: what should the loop keep track of?"}


def test_setup_rejects_unknown_settings_in_one_line(nvim):
    with pytest.raises(Exception, match='unknown setting "max_token"'):
        nvim.exec_lua("require('codegemma').setup(...)", {"settings": {"max_token": 3}})


def test_missing_server_executable_is_reported_not_crashed(nvim, tmp_path):
    path = tmp_path / "a.py"
    path.write_text("x = 1\n")
    nvim.exec_lua("require('codegemma').setup(...)", {"cmd": [str(tmp_path / "no-such-codegemma"), "lsp"]})
    nvim.command(f"edit {path}")  # opening the file must not fail
    assert nvim.current.buffer[:] == ["x = 1"]
    messages = wait_for(lambda: nvim.api.exec2("messages", {"output": True})["output"], 5, "a message")
    assert "is not executable" in messages and "no-such-codegemma" in messages
    assert "stack traceback" not in messages
    assert nvim.exec_lua("return #vim.lsp.get_clients()") == 0


def test_checkhealth_reports_a_running_server(nvim, tmp_path):
    start(nvim, tmp_path)
    nvim.command("checkhealth codegemma")
    report = "\n".join(nvim.current.buffer[:])
    assert "offers inline completion" in report and "ERROR" not in report, report
