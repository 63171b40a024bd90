"""Headless Neovim + the plugin + the real `codegemma lsp` on the tiny random model: alternatives, cycling,
word accept and dismissals reach the server's counters through `codegemma/event`.

The tiny model writes random tokens (never empty after post-processing at 4 tokens), so the texts are not
checked, only that what the plugin did is what the server counted.
"""

from __future__ import annotations

from tests.editors.nvim_driver import wait_for
from tests.editors.test_neovim_e2e import start_real_server, stats


def ghost(nvim):
    return nvim.exec_lua("return require('codegemma.ghost').shown(0)")


def test_cycling_and_word_accept_are_counted_by_the_real_server(nvim, tmp_path, tiny_model_dir):
    path = tmp_path / "mean.py"
    path.write_text("def mean(xs):\n    total = sum(xs)\n    return \n")
    start_real_server(nvim, path, model=str(tiny_model_dir), max_tokens=4, alternatives=3, prefetch=False)
    nvim.current.window.cursor = (3, 0)
    nvim.input("A")
    wait_for(lambda: nvim.api.get_mode()["mode"] == "i", 10, "insert mode")
    assert nvim.exec_lua("return require('codegemma').trigger()")
    first = wait_for(lambda: ghost(nvim), 120, "ghost text from codegemma lsp")
    current = nvim.exec_lua("return require('codegemma').current()")
    assert current["count"] >= 2, "a manual trigger must bring alternatives"

    nvim.input("<M-]>")
    wait_for(lambda: nvim.exec_lua("return require('codegemma').current().index") == 2, 10, "the second one")
    second = ghost(nvim)
    assert second != first
    before = nvim.current.buffer[2]
    nvim.input("<M-Right>")
    wait_for(lambda: nvim.current.buffer[2] != before, 10, "a word in the buffer")
    kept = nvim.current.buffer[2][len(before) :]
    assert second.startswith(kept) and kept
    nvim.input("<Esc>")

    counted = wait_for(lambda: (s := stats(nvim))["partial"] == 1 and s, 30, "the partial accept counted")
    assert counted["kept_chars"] == len(kept)
    assert counted["dismissed"] == 1, "the first alternative, cycled past"
    assert counted["ignored_events"] == 0 and counted["shown"] == current["count"]
