"""The Neovim plugin's pure helpers (ghost text splitting, typing-through, settings checks) under `nvim -l`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from nvim_driver import NVIM, PLUGIN, needs_nvim


@needs_nvim
def test_lua_helpers():
    script = Path(__file__).with_name("neovim_unit.lua")
    result = subprocess.run([NVIM, "--headless", "--clean", "-l", str(script), str(PLUGIN)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " 0 failed" in output and "FAIL" not in output, output
