"""The Neovim plugin's partial accept, alternatives, events, statusline and switches, against a scripted server.

As in test_neovim_client.py: a real headless Neovim, keys through `nvim_input`,
scripted_lsp.py answering (manual triggers get SCRIPTED_ALTERNATIVES) and
logging every `codegemma/event` the plugin sends.
"""

from __future__ import annotations

import time

import pytest
from tests.editors.nvim_driver import events, needs_nvim, wait_for
from tests.editors.test_neovim_client import BODY_ROW, SOURCE, ghost, insert_at_body, line
from tests.editors.test_neovim_client import start as start_scripted

pytestmark = needs_nvim


def start(nvim, tmp_path, *, completion="return total", **opts):
    return start_scripted(nvim, tmp_path, completion=completion, **opts)[0]


def suggestion_events(log):
    return [(e["item"], e["kind"], e["accepted"], e["typed"]) for e in events(log, "suggestion_event")]


def shown_with_trigger(nvim):
    assert nvim.exec_lua("return require('codegemma').trigger()")
    return wait_for(lambda: ghost(nvim), 10, "ghost text")


def statusline(nvim):
    return nvim.exec_lua("return require('codegemma').statusline()")


def test_next_word_keys_insert_word_by_word_then_tab_takes_the_rest(nvim, tmp_path):
    log = start(nvim, tmp_path, completion="return total / len(values)", auto_trigger=False)
    insert_at_body(nvim)
    shown_with_trigger(nvim)
    nvim.input("<M-Right>")
    wait_for(lambda: line(nvim) == "    return", 5, "the first word in the buffer")
    assert ghost(nvim) == " total / len(values)"
    assert tuple(nvim.current.window.cursor) == (BODY_ROW, len("    return"))
    nvim.input("<M-Right><M-Right>")
    wait_for(lambda: line(nvim) == "    return total /", 5, "two more words (a word, then punctuation)")
    assert ghost(nvim) == " len(values)"
    time.sleep(0.3)  # longer than debounce_ms: partial accepts keep the suggestion, no new request
    assert len(events(log, "request")) == 1
    nvim.input("<Tab>")
    wait_for(lambda: line(nvim) == "    return total / len(values)", 5, "the rest accepted")
    assert ghost(nvim) is None
    wait_for(lambda: len(suggestion_events(log)) == 4, 5, "four events")
    assert suggestion_events(log) == [
        ("item-1", "partial", "return", ""), ("item-1", "partial", " total", ""), ("item-1", "partial", " /", ""),
        ("item-1", "accepted", "return total / len(values)", ""),
    ]  # fmt: skip
    assert [e["item_id"] for e in events(log, "accepted")] == ["item-1"]


def test_next_line_key_inserts_a_line_at_a_time(nvim, tmp_path):
    completion = "if values:\n        return total\n    return 0"
    log = start(nvim, tmp_path, completion=completion, auto_trigger=False)
    insert_at_body(nvim)
    assert shown_with_trigger(nvim) == completion
    nvim.input("<M-Down>")
    wait_for(lambda: len(nvim.current.buffer) > len(SOURCE.splitlines()), 5, "the first line and its break")
    assert nvim.current.buffer[BODY_ROW - 1 : BODY_ROW + 1] == ["    if values:", ""]
    assert tuple(nvim.current.window.cursor) == (BODY_ROW + 1, 0)
    assert ghost(nvim) == "        return total\n    return 0"
    nvim.input("<M-Down>")
    wait_for(lambda: nvim.current.buffer[BODY_ROW] == "        return total", 5, "the second line")
    nvim.input("<M-Down>")  # the last line: a full accept
    wait_for(lambda: nvim.current.buffer[BODY_ROW + 1] == "    return 0", 5, "the last line")
    assert ghost(nvim) is None
    wait_for(lambda: len(suggestion_events(log)) == 3, 5, "three events")
    assert [kind for _, kind, _, _ in suggestion_events(log)] == ["partial", "partial", "accepted"]
    assert [kept for _, _, kept, _ in suggestion_events(log)][:2] == ["if values:\n", "        return total\n"]


def test_cycling_through_the_alternatives_of_a_manual_trigger(nvim, tmp_path):
    log = start(nvim, tmp_path, auto_trigger=False, alternatives=["return total", "return 0", "pass"])
    insert_at_body(nvim)
    assert shown_with_trigger(nvim) == "return total"
    assert statusline(nvim).endswith(" 1/3")
    seen = []
    for key in ("<M-]>", "<M-]>", "<M-]>", "<M-[>"):
        before = ghost(nvim)
        nvim.input(key)
        seen.append(wait_for(lambda: ghost(nvim) != before and ghost(nvim), 5, f"{key} to show another"))
    assert seen == ["return 0", "pass", "return total", "pass"]
    assert statusline(nvim).endswith(" 3/3")
    assert len(events(log, "request")) == 1, "cycling shows what the answer holds, it does not ask again"
    nvim.input("<Tab>")
    wait_for(lambda: line(nvim) == "    pass", 5, "the alternative shown accepted")
    wait_for(lambda: events(log, "accepted"), 5, "its accept command")
    assert events(log, "accepted")[0]["item_id"] == "item-3"
    assert suggestion_events(log)[-1] == ("item-3", "accepted", "pass", "")
    assert [(item, kind) for item, kind, _, _ in suggestion_events(log)[:-1]] == [
        ("item-1", "dismissed"),
        ("item-2", "dismissed"),
        ("item-3", "dismissed"),
        ("item-1", "dismissed"),
    ]


def test_cycling_a_suggestion_from_a_typing_pause_asks_for_alternatives(nvim, tmp_path):
    log = start(nvim, tmp_path, completion="eturn total", alternatives=["eturn total", "eturn 0"])
    insert_at_body(nvim)
    nvim.input("r")
    assert wait_for(lambda: ghost(nvim), 10, "ghost text of the automatic request") == "eturn total"
    nvim.input("<M-]>")
    assert wait_for(lambda: ghost(nvim) == "eturn 0" and ghost(nvim), 10, "the second alternative")
    assert [r["trigger_kind"] for r in events(log, "request")] == [2, 1]
    assert suggestion_events(log) == [], "the automatic suggestion was replaced, not dismissed"


def test_typing_over_and_dismissing_are_reported(nvim, tmp_path):
    log = start(nvim, tmp_path, completion="return total", auto_trigger=False)
    insert_at_body(nvim)
    shown_with_trigger(nvim)
    nvim.input("rex")
    wait_for(lambda: ghost(nvim) is None, 5, "typing over to drop the ghost")
    wait_for(lambda: suggestion_events(log), 5, "the typed-over event")
    assert suggestion_events(log) == [("item-1", "typed_over", "", "rex")]
    shown_with_trigger(nvim)
    nvim.input("<C-]>")
    wait_for(lambda: len(suggestion_events(log)) == 2, 5, "the dismissed event")
    assert suggestion_events(log)[1] == ("item-1", "dismissed", "", "")


def test_statusline_spins_while_a_request_runs_then_shows_its_latency(nvim, tmp_path):
    start(nvim, tmp_path, delay=1.0, auto_trigger=False)
    assert statusline(nvim) == "codegemma"
    insert_at_body(nvim)
    assert nvim.exec_lua("return require('codegemma').trigger()")
    spinner = nvim.exec_lua("return require('codegemma.status').SPINNER")
    assert statusline(nvim)[-1] in spinner
    wait_for(lambda: ghost(nvim), 10, "ghost text")
    text = statusline(nvim)
    assert text.startswith("codegemma ") and text.endswith(" ms"), text
    assert 900 <= int(text.split()[1]) < 10000, text  # the scripted server waits 1 s
    nvim.command("CodegemmaMode hint")
    assert statusline(nvim).startswith("codegemma hint ")


def test_disable_enable_per_filetype_and_snooze(nvim, tmp_path):
    log = start(nvim, tmp_path)
    nvim.command("CodegemmaDisable python")
    assert statusline(nvim) == "codegemma off"
    insert_at_body(nvim)
    nvim.input("r")
    time.sleep(0.4)
    assert not nvim.exec_lua("return require('codegemma').trigger()")
    assert events(log, "request") == [], "off means no automatic and no manual requests"
    nvim.input("<Esc>")

    nvim.command("CodegemmaEnable python")
    nvim.command("CodegemmaSnooze 10")
    assert statusline(nvim) == "codegemma snoozed 10 min"
    insert_at_body(nvim)
    nvim.input("e")
    time.sleep(0.4)
    assert events(log, "request") == [], "no automatic request while snoozed"
    assert shown_with_trigger(nvim) == "return total", "the trigger key still asks while snoozed"
    nvim.input("<Esc>")

    nvim.command("CodegemmaSnooze 0")
    nvim.command("CodegemmaDisable")
    assert statusline(nvim) == "codegemma off"
    nvim.command("CodegemmaEnable")
    assert statusline(nvim).startswith("codegemma")
    assert "off" not in statusline(nvim) and "snoozed" not in statusline(nvim)


def test_snooze_rejects_a_bad_argument_in_one_line(nvim, tmp_path):
    start(nvim, tmp_path)
    with pytest.raises(Exception, match='takes minutes .* not "soon"') as error:
        nvim.command("CodegemmaSnooze soon")
    assert "traceback" not in str(error.value)
    assert statusline(nvim) == "codegemma"


def test_checkhealth_shows_the_backend_state(nvim, tmp_path):
    start(nvim, tmp_path)
    nvim.command("checkhealth codegemma")
    report = "\n".join(nvim.current.buffer[:])
    # The scripted server's counters: 1 request, 0 cancelled, 12 ms.
    assert "backend local: 1 requests (0 cancelled), median latency 12 ms" in report, report


def test_typing_a_suggestion_to_its_end_counts_as_accepting_it(nvim, tmp_path):
    log = start(nvim, tmp_path, completion="pass", auto_trigger=False)
    insert_at_body(nvim)
    shown_with_trigger(nvim)
    nvim.input("pass")
    wait_for(lambda: suggestion_events(log), 5, "an event")
    assert suggestion_events(log) == [("item-1", "accepted", "pass", "")]
    assert line(nvim) == "    pass" and ghost(nvim) is None
